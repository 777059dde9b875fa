"""Spark has no transactions: SIGKILL a real `segdb` process during refresh, rollback, name, prune
and init, and check after each kill that a reader sees one consistent committed run (issue 15).

Every step runs in a process of its own (tests/spark_kill_step.py: Spark's local metastore admits
one process at a time), which first checks what the previous, killed step left:

* the current run (newest commit record) has a succeeded run row; both views and ``ws_assign``
  show exactly it;
* every committed, unpruned run is intact: its fitted labels and its segments' sizes add up to
  its stored rows_used;

and the next command works. Kills land at pause points of tests/paused_segdb.py where the write
has them (just before the commit record, just after it), else after a seeded random delay
counted from the moment the command starts. A longer randomized soak: `python benchmarks/kill_soak.py --engine spark --kills N`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import pause_env, segdb_env, wait_for_file
from engines import require_spark

STEP = str(Path(__file__).with_name("spark_kill_step.py"))
URL = "spark://local[2]?database=segdb_kill"


class Steps:
    def __init__(self, tmp_path: Path, warehouse: str):
        self.tmp = tmp_path
        self.n = 0
        self.env = {"SEGDB_SPARK_WAREHOUSE": warehouse,
                    "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                   str(Path(__file__).resolve().parents[1])])}

    def _start(self, args, env_extra=None):
        self.n += 1
        report = self.tmp / f"check{self.n}.json"
        env = segdb_env({**self.env, **(env_extra or {})})
        env["PYTHONPATH"] = self.env["PYTHONPATH"] + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen([sys.executable, STEP, URL, str(report), *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return proc, report

    def run(self, *args) -> dict:
        """Check, then run ``args`` to the end; returns the check."""
        proc, report = self._start(args)
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"segdb {' '.join(args)} failed: {out}{err[-3000:]}"
        return json.loads(report.read_text(encoding="utf-8"))

    def kill_at(self, point: str, *args) -> dict:
        """Check, then run ``args`` and SIGKILL it when it reaches the pause point ``point``."""
        marker = self.tmp / f"pause{self.n + 1}"
        proc, report = self._start(args, pause_env(point, marker, seconds=600))
        assert wait_for_file(marker, proc, timeout=900) == point
        return self._kill(proc, report)

    def kill_after(self, delay: float, *args) -> dict:
        """Check, then run ``args`` and SIGKILL it ``delay`` seconds after the check is written."""
        proc, report = self._start(args)
        wait_for_file(report, proc, timeout=900)
        time.sleep(delay)
        return self._kill(proc, report)

    @staticmethod
    def _kill(proc, report) -> dict:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return json.loads(report.read_text(encoding="utf-8"))


def consistent(found: dict) -> dict:
    assert found["problems"] == [], found
    assert found["current"] is not None, found
    return found


@pytest.mark.usefixtures("one_blas_thread")
def test_spark_kills_lose_no_committed_run_and_show_no_uncommitted_one(tmp_path):
    require_spark()
    rng = random.Random(15)
    steps = Steps(tmp_path, str(tmp_path / "warehouse"))
    steps.run("setup")
    # killed just before its commit record: the run never became current
    before = consistent(steps.kill_at("commit_record", "refresh", "ws"))
    assert before["committed"] == [1, 2] and before["current"] == 2
    # killed just after it (views and scoring functions not rewritten yet): the new run is current
    after = consistent(steps.kill_at("commit", "refresh", "ws"))
    assert after["current"] == 2  # what the first kill left
    # its run row was written, its commit record not: `segdb runs` says it was abandoned
    assert after["statuses"] == {"1": "succeeded", "2": "succeeded", "3": "abandoned"}
    # killed with every row of run 5 written but no run row: rows no reader shows
    orphaned = consistent(steps.kill_at("views", "refresh", "ws"))
    assert orphaned["current"] == 4 and orphaned["label_runs"] == [1, 2, 3, 4]
    found = consistent(steps.kill_after(rng.uniform(0.5, 4.0), "rollback", "ws"))
    assert found["current"] == 4 and found["committed"] == [1, 2, 4]  # runs 3 and 5 never committed
    assert found["label_runs"] == [1, 2, 3, 4, 5]
    found = consistent(steps.kill_after(rng.uniform(0.5, 4.0), "name", "ws", "1", "Big spenders"))
    assert found["current"] in (2, 4)  # the rollback went to run 2, or was killed before its record
    found = consistent(steps.kill_after(rng.uniform(1.0, 8.0), "prune", "ws", "--keep", "1"))
    found = consistent(steps.run("prune", "ws", "--keep", "1"))  # the killed prune's result
    found = consistent(steps.run("refresh", "ws"))  # the re-run prune finished the job
    assert found["current"] in found["committed"] and set(found["committed"]) <= {2, 4}
    # and removed the abandoned run 3's rows and the orphaned run 5's (this process held the
    # warehouse: no other writer's rows in progress)
    assert found["label_runs"] == found["segment_runs"] == found["committed"], found
    assert found["statuses"]["3"] == "abandoned" and "5" not in found["statuses"]
    found = consistent(steps.run())  # after the refresh: its run is the one current run
    assert found["current"] >= 5


def test_spark_killed_first_init_is_finished_by_the_next(tmp_path):
    require_spark()
    steps = Steps(tmp_path, str(tmp_path / "warehouse"))
    # an empty database: the check finds no segdb schema, so the step only runs init
    proc, _ = steps._start(["init"])
    deadline = time.monotonic() + 900
    ledger = Path(steps.env["SEGDB_SPARK_WAREHOUSE"]) / "segdb.db" / "run_commits"
    while time.monotonic() < deadline and proc.poll() is None and not ledger.exists():
        time.sleep(0.05)  # migration 0005 is under way: 0001-0004 are applied
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    steps.run("init")
    found = consistent(steps.run("setup"))  # the finished schema takes a segmentation and two runs
    assert found["committed"] == [1, 2] and found["current"] == 2


CREATE_K2 = ["create", "ws", "--source", "wholesale", "--key", "customer_id", "--feature", "Fresh",
             "--feature", "Milk", "--feature", "Grocery", "--k", "2", "--replace"]


@pytest.mark.usefixtures("one_blas_thread")
def test_spark_kills_in_names_retirements_versions_and_prune_leave_no_table_renamed(tmp_path):
    """The writes that used to be a copy-and-swap (issue 15) are appended rows and dropped
    partitions now: killed anywhere, they leave the state before or after and no table under a
    temporary name; the ledger agrees with the current run and the views show its names (the
    checker). Each step's check reports what the step before it left."""
    require_spark()
    rng = random.Random(1515)
    steps = Steps(tmp_path, str(tmp_path / "warehouse"))
    steps.run("setup")
    steps.kill_after(rng.uniform(0.5, 6.0), "name", "ws", "1", "Big spenders")
    left = consistent(steps.kill_after(rng.uniform(0.5, 6.0), *CREATE_K2))  # by the killed name
    assert left["names"]["1"] in (None, "Big spenders") and left["swap_names"] == []
    left = consistent(steps.run(*CREATE_K2))  # by the killed create --replace
    assert left["version"] in (1, 2) and left["swap_names"] == []
    # the first refresh with k=2 retires one of run 2's ids: killed before its commit record
    left = consistent(steps.kill_at("commit_record", "refresh", "ws"))
    assert left["version"] in (2, 3) and left["current"] == 2
    left = consistent(steps.run("refresh", "ws"))  # by the killed refresh: its retirement not shown
    assert left["current"] == 2 and all(v is None for v in left["retired"].values()), left
    left = consistent(steps.kill_after(rng.uniform(0.5, 6.0), "rollback", "ws", "1"))
    assert left["current"] == 4 and sorted(v for v in left["retired"].values() if v) == [4], left
    # by the killed rollback: run 4, or run 1 with every id of it reinstated (the checker)
    left = consistent(steps.kill_after(rng.uniform(1.0, 8.0), "prune", "ws", "--keep", "1"))
    assert left["current"] in (1, 4) and left["swap_names"] == []
    left = consistent(steps.run("prune", "ws", "--keep", "1"))  # by the killed prune
    assert left["swap_names"] == []
    left = consistent(steps.run("name", "ws", "2", "Second"))  # by the finished prune
    kept = sorted({left["current"], 4})  # the current run and the newest (run 3 was abandoned)
    assert left["committed"] == left["label_runs"] == left["segment_runs"] == kept, left
    assert left["swap_names"] == []
    left = consistent(steps.run())  # by the name
    assert left["names"]["2"] == "Second" and left["swap_names"] == []
