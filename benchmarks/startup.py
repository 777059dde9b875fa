"""Benchmark: start-up time of `segdb` (--help, list, show) and of `import segdb`, beside a baseline.

    python benchmarks/startup.py                          # this checkout, 7 runs of each
    python benchmarks/startup.py --n 11 --compare /tmp/segdb-before   # and another checkout

Each case runs N times in a fresh subprocess (`python -m segdb ...`, what the `segdb` console script
does); the cases are interleaved round by round so a busy shared machine slows them alike, and the
median wall time is printed. The baseline is measured in the same run: `python -c pass` (the
interpreter alone) and `python -c "import duckdb"` (the floor of any command that opens a database).
`--compare DIR` measures a second checkout (e.g. `git archive main | tar -x -C DIR`) the same way,
interleaved too, for a before/after in one run. The demo database is built once, in a temporary
folder, by this checkout's `segdb demo`.

Target on the shared 2-core machine: 0.5 s for `segdb --help` and `segdb list`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = {"segdb --help": 0.5, "segdb --db DEMO list": 0.5}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=7, help="runs of each case (median printed) [7]")
    p.add_argument("--compare", metavar="DIR", default=None,
                   help="another checkout (a folder holding segdb/) measured the same way")
    return p.parse_args(argv)


def env_for(src: Path | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def cases(demo: str) -> list[tuple[str, list[str]]]:
    py = sys.executable
    return [
        ("segdb --help", [py, "-m", "segdb", "--help"]),
        ("segdb --db DEMO list", [py, "-m", "segdb", "--db", demo, "list"]),
        ("segdb --db DEMO show insurance", [py, "-m", "segdb", "--db", demo, "show", "insurance"]),
        ("import segdb", [py, "-c", "import segdb"]),
    ]


def run_once(cmd: list[str], env: dict, cwd: str) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return seconds


def main(argv=None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="segdb-startup-") as tmp:
        demo = str(Path(tmp) / "segdb-demo.duckdb")
        # every process runs in the temporary folder: python puts the working directory first on
        # sys.path, which would otherwise shadow the checkout named by PYTHONPATH
        subprocess.run([sys.executable, "-m", "segdb", "--quiet", "--db", demo, "demo"], env=env_for(ROOT),
                       cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        # (label, checkout, case name, command)
        rows = [("baseline", None, "python -c pass", [sys.executable, "-c", "pass"]),
                ("baseline", None, "python -c 'import duckdb'", [sys.executable, "-c", "import duckdb"])]
        checkouts = [("this", ROOT)] + ([("compare", Path(args.compare).resolve())] if args.compare else [])
        for label, src in checkouts:
            rows += [(label, src, name, cmd) for name, cmd in cases(demo)]
        times: dict[int, list[float]] = {i: [] for i in range(len(rows))}
        for i, (_, src, _, cmd) in enumerate(rows):  # warm the file cache once; not counted
            run_once(cmd, env_for(src), tmp)
        for _ in range(args.n):
            for i, (_, src, _, cmd) in enumerate(rows):
                times[i].append(run_once(cmd, env_for(src), tmp))

    print(f"start-up, median of {args.n} fresh processes (min in brackets); python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    for label, src in [("baseline", None)] + checkouts:
        print("")
        print(label if src is None else f"{label}: {src}")
        for i, (row_label, _, name, _) in enumerate(rows):
            if row_label != label:
                continue
            target = TARGET_SECONDS.get(name)
            med = statistics.median(times[i])
            note = "" if target is None else f"   target {target:.1f} s: {'met' if med <= target else 'missed'}"
            print(f"  {name:<34} {med:6.3f} s  ({min(times[i]):.3f}){note}")


if __name__ == "__main__":
    main()
