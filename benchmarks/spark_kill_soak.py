"""A randomized soak of Spark's crash safety (issue 15): SIGKILL real `segdb` commands (refresh,
rollback, name, prune) at random moments, many times, and check after each kill that a reader
sees one consistent committed run and every committed run intact (tests/spark_kill_step.py's
check). The CI test is tests/test_spark_kill.py; this is its long version.

    python benchmarks/spark_kill_soak.py --kills 40 --seed 1 [--warehouse DIR]

Prints one line per kill and exits 1 at the first inconsistency (the warehouse is kept then).
Each step starts a Spark process (about 10 s or more); 40 kills take about an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
STEP = str(TESTS / "spark_kill_step.py")
URL = "spark://local[2]?database=segdb_soak"
COMMANDS = (["refresh", "ws"], ["rollback", "ws"], ["name", "ws", "1", "Big spenders"],
            ["prune", "ws", "--keep", "2"])


def step(env, report: Path, args, kill_after: float | None):
    proc = subprocess.Popen([sys.executable, STEP, URL, str(report), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        out, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"segdb {' '.join(args)} failed: {err[-2000:]}")
    else:
        while not (report.exists() and report.stat().st_size) and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    return json.loads(report.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=20.0, help="seconds after a command starts")
    parser.add_argument("--warehouse", default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    warehouse = args.warehouse or tempfile.mkdtemp(prefix="segdb-soak-")
    work = Path(warehouse) / "reports"
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SEGDB_SPARK_WAREHOUSE=warehouse,
               PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    found = step(env, work / "setup.json", ["setup"], None)
    for i in range(args.kills):
        command = rng.choice(COMMANDS)
        delay = rng.uniform(0, args.max_delay)
        found = step(env, work / f"{i}.json", command, delay)
        print(f"kill {i}: {' '.join(command)} after {delay:.1f} s -> before it: current run "
              f"{found['current']}, committed {found.get('committed')}", flush=True)
        if found["problems"]:
            raise SystemExit(f"inconsistent after kill {i - 1}: {found['problems']} (warehouse {warehouse})")
    found = step(env, work / "last.json", ["refresh", "ws"], None)
    if found["problems"]:
        raise SystemExit(f"inconsistent after the last kill: {found['problems']} (warehouse {warehouse})")
    print(f"{args.kills} kills, no inconsistency; the refresh after the last one worked")
    if args.warehouse is None:
        shutil.rmtree(warehouse, ignore_errors=True)


if __name__ == "__main__":
    main()
