"""`segdb rollback` and `segdb prune`: views, macros and ids follow; every run stays in segdb.runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import segdb
from conftest import run_cli
from living_helpers import FEATURES, blobs, small_segmentation, write_table

ARGS = ", ".join('"' + f.replace('"', '""') + '"' for f in FEATURES)


def _three_runs(db):
    """Runs with k = 2, 3, 4 on the same blobs; returns their run ids."""
    rng = np.random.default_rng(21)
    X, _ = blobs(rng, [300, 200, 150, 100])
    write_table(db.con, "t", np.arange(1, 751), X)
    runs = []
    for k in (2, 3, 4):
        db.create("s", source="t", key="customer_id", features=FEATURES, k=k, replace=True)
        runs.append(db.refresh("s").run_id)
    return runs


def _current_state(db):
    return (db.sql("SELECT DISTINCT run_id FROM s_segments").column(0).to_pylist(),
            db.sql("SELECT count(*) AS n FROM s_centroids").to_pylist()[0]["n"],
            db.sql(f"SELECT count(DISTINCT s_assign({ARGS})) AS n FROM t").to_pylist()[0]["n"])


def test_rollback_default_and_explicit_then_refresh_matches_the_current_run(db, db_path):
    r1, r2, r3 = _three_runs(db)
    assert _current_state(db) == ([r3], 4, 4)
    result = db.rollback("s", triggered_by="test")
    assert (result.from_run_id, result.to_run_id) == (r3, r2)
    assert _current_state(db) == ([r2], 3, 3)
    ledger = {r["segment_id"]: r["retired_run_id"] for r in db.segment_ids("s")}
    assert ledger == {1: None, 2: None, 3: None, 4: r2}   # id 4 is not in run r2
    db.rollback("s", r1)
    assert _current_state(db) == ([r1], 2, 2)
    history = db.runs("s")
    assert [(h["run_id"], h["is_current"]) for h in history] == [(r3, False), (r2, False), (r1, True)]
    rows = db.sql("SELECT from_run_id, to_run_id, triggered_by FROM segdb.rollbacks "
                  "ORDER BY rolled_back_at").to_pylist()
    assert [(r["from_run_id"], r["to_run_id"]) for r in rows] == [(r3, r2), (r2, r1)]
    # the labels follow: every customer of the view has its run r1 label
    same = db.sql("SELECT count(*) AS n FROM s_segments AS v JOIN segdb.s_labels AS l "
                  "ON l.segdb_key = v.customer_id AND l.run_id = ? AND l.segment_id <> v.segment_id",
                  [r1]).to_pylist()
    assert same == [{"n": 0}]
    # a refresh after a rollback continues from the run that is current
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3, replace=True)
    r4 = db.refresh("s").run_id
    prev = db.sql("SELECT DISTINCT previous_run_id FROM segdb.segment_matches WHERE run_id = ?",
                  [r4]).column(0).to_pylist()
    assert prev == [r1]
    fresh = db.sql("SELECT segment_id FROM segdb.segment_matches WHERE run_id = ? AND "
                   "matched_from_segment_id IS NULL", [r4]).column(0).to_pylist()
    assert fresh == [5]  # 3 and 4 were used by runs r2 and r3: never reused
    db.close()
    r = run_cli(["rollback", "s", str(r2)], db_path)
    assert (r.exit_code, r.output) == (0, f"s: run {r2} is current again (was run {r4})\n")


def test_rollback_errors(db, db_path):
    small_segmentation(db, 3)
    db.create("o", source="t", key="customer_id", features=FEATURES, k=2)
    db.close()
    r = run_cli(["rollback", "s"], db_path)
    assert (r.exit_code, r.output) == (1, "Error: segmentation 's' has no run yet; run `segdb refresh s`\n")
    run_cli(["refresh", "s"], db_path)
    r = run_cli(["rollback", "s"], db_path)
    assert r.output == ("Error: segmentation 's' has no earlier run than run 1 to roll back to; "
                        "see `segdb runs s`\n")
    r = run_cli(["rollback", "s", "1"], db_path)
    assert r.output == "Error: run 1 is already the current run of 's'; name another run to roll back to\n"
    run_cli(["refresh", "o"], db_path)
    r = run_cli(["rollback", "s", "2"], db_path)
    assert r.output == "Error: segmentation 's' has no run 2; see `segdb runs s`\n"
    r = run_cli(["rollback", "nope"], db_path)
    assert r.output.startswith("Error: no segmentation named 'nope'")
    run_cli(["refresh", "s"], db_path)
    run_cli(["prune", "s", "--keep", "1"], db_path)
    r = run_cli(["rollback", "s"], db_path)
    assert r.output == ("Error: segmentation 's' has no earlier run than run 3 to roll back to; "
                        "see `segdb runs s`\n")
    r = run_cli(["rollback", "s", "1"], db_path)
    assert r.output.startswith("Error: run 1 of 's' was pruned on ")
    assert r.output.endswith(" and cannot be made current again; choose a run that is not pruned\n")


def test_prune_keeps_current_and_newest_runs_and_every_run_row(db, db_path):
    r1, r2, r3 = _three_runs(db)
    db.sql("CREATE TABLE segdb.extra_per_run AS SELECT unnest([1, 2, 3]) AS run_id")  # a feature's table
    transitions_before = db.sql("SELECT count(*) AS n FROM segdb.transitions WHERE run_id = ?",
                                [r2]).to_pylist()[0]["n"]
    db.rollback("s", r1)
    result = db.prune("s", 1)
    assert result.kept_run_ids == (r1, r3) and result.pruned_run_ids == (r2,)
    assert result.labels_deleted == 750
    counts = db.sql(
        "SELECT (SELECT count(*) FROM segdb.s_labels WHERE run_id = ?) AS labels, "
        "(SELECT count(*) FROM segdb.segments WHERE run_id = ?) AS segments, "
        "(SELECT count(*) FROM segdb.centroids WHERE run_id = ?) AS centroids, "
        "(SELECT count(*) FROM segdb.feature_stats WHERE run_id = ?) AS stats, "
        "(SELECT count(*) FROM segdb.extra_per_run WHERE run_id = ?) AS extra, "
        "(SELECT count(*) FROM segdb.transitions WHERE run_id = ?) AS transitions",
        [r2] * 6).to_pylist()
    assert counts == [{"labels": 0, "segments": 0, "centroids": 0, "stats": 0, "extra": 0,
                       "transitions": transitions_before}]
    assert transitions_before > 0
    kept = db.sql("SELECT count(*) AS n FROM segdb.s_labels WHERE run_id IN (?, ?)", [r1, r3]).to_pylist()
    assert kept == [{"n": 1500}]
    # the mark is an appended row of segdb.run_prunes (migration 0006), not an UPDATE of segdb.runs
    runs = db.sql("SELECT run_id, status, run_id IN (SELECT run_id FROM segdb.run_prunes) AS pruned "
                  "FROM segdb.runs ORDER BY run_id")
    assert runs.to_pylist() == [{"run_id": r1, "status": "succeeded", "pruned": False},
                                {"run_id": r2, "status": "succeeded", "pruned": True},
                                {"run_id": r3, "status": "succeeded", "pruned": False}]
    assert _current_state(db) == ([r1], 2, 2)  # the current run is untouched
    db.close()
    r = run_cli(["prune", "s", "--keep", "1"], db_path)
    assert (r.exit_code, r.output) == (0, f"s: nothing to prune; runs {r1}, {r3} keep their rows\n")
    r = run_cli(["rollback", "s", str(r3)], db_path)
    r = run_cli(["prune", "s", "--keep", "1"], db_path)
    assert r.output == f"s: pruned run {r1} (750 labels deleted); run {r3} keeps its rows\n"
    r = run_cli(["runs", "s"], db_path)
    lines = r.output.splitlines()[2:]
    # n, the run's number within the segmentation, stays as it was for pruned runs
    assert [line.split()[:3] for line in lines] == [[str(r3), "3", "*"], [str(r2), "2", "succeeded"],
                                                    [str(r1), "1", "succeeded"]]
    assert ["succeeded (pruned)" in line for line in lines] == [False, True, True]
    r = run_cli(["prune", "s", "--keep", "0"], db_path)
    assert (r.exit_code, r.output) == (1, "Error: --keep=0 should be >= 1\n")


def test_a_refresh_killed_before_commit_leaves_ids_transitions_and_macros_as_they_were(db, db_path,
                                                                                     tmp_path):
    rng = np.random.default_rng(30)
    X, _ = blobs(rng, [60, 40, 20])
    write_table(db.con, "t", np.arange(1, 121), X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=2)
    db.refresh("s")
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3, replace=True)
    before = {t: db.sql(f"SELECT count(*) AS n FROM segdb.{t}").to_pylist()[0]["n"]
              for t in ("segment_ids", "segment_matches", "transitions")}
    db.close()
    marker = tmp_path / "paused"
    env = dict(os.environ, SEGDB_TEST_PAUSE_AT="commit", SEGDB_TEST_PAUSE_MARKER=str(marker),
               SEGDB_TEST_PAUSE_SECONDS="60",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    paused_segdb = str(Path(__file__).with_name("paused_segdb.py"))
    proc = subprocess.Popen([sys.executable, paused_segdb, "--db", db_path, "refresh", "s"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), "the refresh never reached its commit"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with segdb.connect(db_path) as db2:
        after = {t: db2.sql(f"SELECT count(*) AS n FROM segdb.{t}").to_pylist()[0]["n"]
                 for t in ("segment_ids", "segment_matches", "transitions")}
        assert after == before
        assert db2.sql(f"SELECT count(DISTINCT s_assign({ARGS})) AS n FROM t").to_pylist() == [{"n": 2}]
        assert len(db2.runs("s")) == 1
