"""Crash safety: `segdb refresh` killed with SIGKILL at every stage leaves the previous run intact.

A real `segdb refresh` subprocess is paused at a named point by tests/paused_segdb.py
(SEGDB_TEST_PAUSE_AT), killed with SIGKILL while paused, and the file is reopened. Because the run
row, labels, statistics, views and the current-run switch are written in one transaction, a kill
anywhere before COMMIT must leave the database exactly as it was, and a kill after COMMIT must
leave the new run complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

import duckdb
import pytest

import segdb
from segdb.refresh.stages import WRITE_POINTS
from conftest import (pause_env, run_cli, start_segdb_process, table_checksums, view_checksum,
                      wait_for_file)

ROWS = 3000

# Every point a refresh passes: before and after each pipeline stage, and inside the write-back
# transaction (before the labels INSERT, after it, before the views, just before COMMIT).
# ("<stage>_done": the stage's work has run, e.g. the statistics query has returned.) The points
# before each stage ("stats", "fetch", "fit") write exactly as little as "check" does, so they are
# covered by it and left out to keep the suite fast.
STAGES_BEFORE_COMMIT = [
    "check", "stats_done", "fetch_done", "fit_done",
    "write_labels", "labels_written", "views", "commit",
]


def make_database(path: str) -> None:
    """A customer table, a segmentation with a current run, then new data for the next refresh."""
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE customers AS SELECT i AS customer_id, "
        "(hash(i) % 1000)::DOUBLE AS spend, (hash(i * 7) % 50)::DOUBLE AS visits, "
        "(hash(i * 13) % 9)::DOUBLE AS tenure FROM range(1, ?) t(i)", [ROWS + 1])
    con.close()
    with segdb.connect(path) as db:
        db.create("crash", source="customers", key="customer_id",
                  features=["spend", "visits", "tenure"], k=4)
        db.refresh("crash")
        # The next refresh would produce a different run: more customers, other values.
        db.sql("UPDATE customers SET spend = spend * 2 + visits WHERE customer_id % 3 = 0")
        db.sql("INSERT INTO customers SELECT customer_id + 100000, spend, visits, tenure "
               "FROM customers WHERE customer_id <= 500")


def centroids_of(path: str) -> list[tuple]:
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute("SELECT * FROM crash_centroids ORDER BY segment_id").fetchall()
    finally:
        con.close()


# A refresh that does not pause at all: killed as soon as it reports reaching COMMIT, the kill
# lands just before, during or after the COMMIT (or after the process exited); which one is left
# to chance, and every outcome must be a complete run.
RACE = "commit_race"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("crash") / "template.duckdb")
    make_database(path)
    return path


@pytest.fixture(scope="module")
def killed(template_db, tmp_path_factory):
    """stage -> a copy of the template on which a refresh was SIGKILLed at that stage.

    All refreshes are started at once (each on its own copy) so the suite pays the start-up of
    the `segdb` processes once, not once per stage.
    """
    folder = tmp_path_factory.mktemp("killed")
    procs = {}
    try:
        for stage in STAGES_BEFORE_COMMIT + ["committed", RACE]:
            path = str(folder / f"{stage}.duckdb")
            shutil.copyfile(template_db, path)  # closed cleanly: the file holds everything
            marker = folder / f"marker-{stage}"
            # One thread each: ten processes share the machine's cores.
            pause = pause_env("commit", marker, seconds=0) if stage == RACE else pause_env(stage, marker)
            env = {**pause, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
            procs[stage] = (path, marker, start_segdb_process(["refresh", "crash"], path, env))
        for stage, (path, marker, proc) in procs.items():
            assert wait_for_file(marker, proc) == ("commit" if stage == RACE else stage)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            if stage != RACE:  # the racing refresh may have finished before the kill landed
                assert proc.returncode == -signal.SIGKILL
    finally:
        for _, _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
    return {stage: path for stage, (path, _, _) in procs.items()}


@pytest.mark.parametrize("stage", STAGES_BEFORE_COMMIT)
def test_kill_before_commit_leaves_previous_run(template_db, killed, stage):
    before = table_checksums(template_db)
    segments_before = view_checksum(template_db, "crash_segments")
    centroids_before = centroids_of(template_db)
    assert segments_before[0] == ROWS and segments_before[2] == [1]
    assert len(centroids_before) == 4
    crash_db = killed[stage]

    # Every table (segdb's and the user's) and every view definition is exactly as before.
    assert table_checksums(crash_db) == before
    # The previous run is current, its labels complete and identical, seen through the view.
    assert view_checksum(crash_db, "crash_segments") == segments_before
    con = duckdb.connect(crash_db, read_only=True)
    try:
        assert con.execute("SELECT run_id FROM segdb.current_runs").fetchall() == [(1,)]
        assert con.execute("SELECT DISTINCT run_id FROM segdb.crash_labels").fetchall() == [(1,)]
    finally:
        con.close()
    assert centroids_of(crash_db) == centroids_before
    # `segdb runs` shows the killed run not at all (its run row is written only at COMMIT).
    runs = run_cli(["runs", "crash"], crash_db)
    assert runs.exit_code == 0, runs.output
    run_lines = [line for line in runs.output.splitlines()[2:] if line.strip()]
    assert len(run_lines) == 1 and run_lines[0].split()[0] == "1"
    # The next refresh succeeds and sees the new data.
    with segdb.connect(crash_db) as db:
        result = db.refresh("crash")
        assert result.rows_used == ROWS + 500
        assert db.sql("SELECT count(*) AS n, min(run_id) AS lo, max(run_id) AS hi "
                      "FROM crash_segments").to_pylist() == [
            {"n": ROWS + 500, "lo": result.run_id, "hi": result.run_id}]
        assert [r["status"] for r in db.runs("crash")] == ["succeeded", "succeeded"]


def test_kill_after_commit_keeps_the_new_run(killed):
    crash_db = killed["committed"]
    count, _, run_ids = view_checksum(crash_db, "crash_segments")
    assert count == ROWS + 500 and len(run_ids) == 1 and run_ids[0] > 1
    with segdb.connect(crash_db) as db:
        runs = db.runs("crash")
        assert [(r["run_id"], r["is_current"], r["status"]) for r in runs] == [
            (run_ids[0], True, "succeeded"), (1, False, "succeeded")]
        # The surviving run equals a fresh refresh of the same data with the same seed: the
        # same labels; distances equal up to rounding, since the killed process fitted with one
        # thread and this one may use several (scikit-learn sums in a thread-dependent order).
        query = "SELECT customer_id, segment_id, distance FROM crash_segments ORDER BY customer_id"
        survived = db.sql(query).to_pydict()
        again = db.refresh("crash")
        fresh = db.sql(query).to_pydict()
        assert fresh["customer_id"] == survived["customer_id"]
        assert fresh["segment_id"] == survived["segment_id"]
        assert fresh["distance"] == pytest.approx(survived["distance"], rel=1e-7, abs=1e-9)
        assert again.run_id > run_ids[0]


def test_kill_racing_the_commit_leaves_one_complete_run(template_db, killed):
    path = killed[RACE]
    count, _, run_ids = view_checksum(path, "crash_segments")
    if run_ids == [1]:  # the kill came first: exactly the previous state
        assert table_checksums(path) == table_checksums(template_db)
        assert view_checksum(path, "crash_segments") == view_checksum(template_db, "crash_segments")
    else:               # the COMMIT came first: the new run, complete and current
        assert count == ROWS + 500 and len(run_ids) == 1
        with segdb.connect(path, read_only=True) as db:
            assert [(r["run_id"], r["is_current"]) for r in db.runs("crash")] == [
                (run_ids[0], True), (1, False)]
            assert db.sql("SELECT count(*) AS n FROM segdb.crash_labels WHERE run_id = ?",
                          [run_ids[0]]).to_pylist() == [{"n": ROWS + 500}]


def test_the_package_holds_no_test_hook():
    """The pauses live in tests/paused_segdb.py; segdb itself reads no SEGDB_TEST_ variable."""
    package = Path(segdb.__file__).parent
    sources = [p for p in sorted(package.rglob("*")) if p.is_file() and p.suffix in (".py", ".sql")]
    hooked = [str(p.relative_to(package)) for p in sources if "SEGDB_TEST_" in p.read_text(encoding="utf-8")]
    assert hooked == []


def test_every_pause_point_is_a_reported_boundary(tmp_path):
    """The points the crash tests pause at are the boundaries a refresh reports, in this order."""
    path = str(tmp_path / "points.duckdb")
    make_database(path)
    seen = []
    with segdb.connect(path) as db:
        db.refresh("crash", progress=lambda stage, event: seen.append((stage, event)))
    stages = ["check", "stats", "fetch", "fit", "quality", "rules"]
    assert seen == [(s, e) for s in stages for e in ("start", "done")] + [
        ("write", "start"), *(("write", p) for p in WRITE_POINTS), ("write", "done")]
    assert set(STAGES_BEFORE_COMMIT) <= {f"{s}_done" for s in stages} | {"check"} | set(WRITE_POINTS)
