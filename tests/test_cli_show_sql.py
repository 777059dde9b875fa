"""`segdb show-sql`: every printed statement runs in DuckDB and gives what the refresh stored."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from conftest import run_cli
from living_helpers import FEATURES, blobs, write_table
from segdb.present import showsql

ARGS = ", ".join('"' + f.replace('"', '""') + '"' for f in FEATURES)


@pytest.fixture
def refreshed(db, db_path):
    """Segmentation s (nulls=mean, a named segment) refreshed on 200 rows, one with a NULL value."""
    X, _ = blobs(np.random.default_rng(21), [90, 70, 40])
    write_table(db.con, "t", np.arange(1, 201), X)
    db.sql(f'UPDATE t SET "{FEATURES[2]}" = NULL WHERE customer_id = 7')
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3, nulls="mean")
    run = db.refresh("s")
    db.name_segment("s", 1, "First")
    db.close()
    return run.run_id


def _rows(con, sql, params=()):
    return con.execute(sql, list(params)).fetchall()


def test_printed_script_runs_and_rebuilds_what_the_refresh_stored(refreshed, db_path):
    script = run_cli(["show-sql", "s"], db_path).output
    comments = [line for line in script.splitlines() if line.startswith("-- ")]
    assert [c.split(" ")[1] for c in comments] == ["statistics", "standardised", "labelling", "profiles",
                                                   "view", "view", "macro:", "macro:", "macro:", "macro:"]
    assert "CREATE OR REPLACE MACRO segdb.nearest_of_3(" in script  # the helper s_assign calls
    con = duckdb.connect(db_path)
    try:
        profiles_before = _rows(con, "SELECT * FROM segdb.profiles WHERE run_id = ? "
                                     "ORDER BY segment_id, feature_no", [refreshed])
        view_before = _rows(con, "SELECT * FROM s_segments ORDER BY customer_id")
        centroids_before = _rows(con, "SELECT * FROM s_centroids ORDER BY segment_id")
        _rows(con, "DELETE FROM segdb.profiles WHERE run_id = ?", [refreshed])
        con.execute(script)  # every statement, as printed
        assert _rows(con, "SELECT * FROM segdb.profiles WHERE run_id = ? ORDER BY segment_id, feature_no",
                     [refreshed]) == profiles_before
        assert _rows(con, "SELECT * FROM s_segments ORDER BY customer_id") == view_before
        assert _rows(con, "SELECT * FROM s_centroids ORDER BY segment_id") == centroids_before
        macro = _rows(con, f"SELECT customer_id, s_assign({ARGS}) FROM t WHERE customer_id <> 7 "
                           "ORDER BY customer_id")
        assert macro == [(k, sid) for k, sid, *_ in view_before if k != 7]
    finally:
        con.close()


def test_each_statement_matches_an_independent_reference(refreshed, db_path):
    con = duckdb.connect(db_path, read_only=True)
    try:
        by_kind = {s.comment.split(" ")[0]: s for s in showsql.statements(con, "s")}
        X = np.array(_rows(con, f"SELECT {ARGS} FROM t ORDER BY customer_id"), dtype=float)
        # matrix: nulls=mean fills a NULL with the mean; mean and sd are over the non-NULL values
        mean = np.nanmean(X, axis=0)
        z = (np.where(np.isnan(X), mean, X) - mean) / np.nanstd(X, axis=0)
        matrix = by_kind["standardised"]
        got = _rows(con, matrix.sql, matrix.params)
        assert [r[0] for r in got] == list(range(1, 201))
        np.testing.assert_allclose(np.array([r[1] for r in got]), z, rtol=1e-7, atol=1e-9)
        # labelling: the stored labels and distances of every row
        labelled = sorted(_rows(con, by_kind["labelling"].sql))
        stored = _rows(con, "SELECT segdb_key, segment_id, distance FROM segdb.s_labels "
                            "WHERE run_id = ? ORDER BY segdb_key", [refreshed])
        assert [r[:2] for r in labelled] == [r[:2] for r in stored]
        np.testing.assert_allclose([r[2] for r in labelled], [r[2] for r in stored], rtol=1e-7, atol=1e-9)
        # statistics: one row; under nulls=mean, each feature's mean and sd over its non-NULL values
        rel = con.execute(by_kind["statistics"].sql)
        names = [c[0] for c in rel.description]
        (row,) = rel.fetchall()
        stats = dict(zip(names, row))
        assert stats["rows_total"] == 200
        np.testing.assert_allclose([stats[f"mean_{i}"] for i in (1, 2, 3)], mean, rtol=1e-7)
        np.testing.assert_allclose([stats[f"stddev_{i}"] for i in (1, 2, 3)], np.nanstd(X, axis=0), rtol=1e-7)
    finally:
        con.close()


def test_without_a_run_only_statistics_and_matrix(db, db_path):
    X, _ = blobs(np.random.default_rng(2), [10, 10])
    write_table(db.con, "t", np.arange(1, 21), X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=2)
    db.close()
    script = run_cli(["show-sql", "s"], db_path).output
    assert [line for line in script.splitlines() if line.startswith("-- ")] == [
        "-- statistics (one scan of the source)",
        "-- standardised matrix: each ? is a feature's center / scale from segdb.feature_stats (no run yet)"]
    con = duckdb.connect(db_path, read_only=True)
    try:
        stats, matrix = showsql.statements(con, "s")
        assert len(_rows(con, stats.sql)) == 1
        got = _rows(con, matrix.sql, [0.0, 1.0] * len(FEATURES))  # center 0, scale 1: the raw values
        np.testing.assert_allclose(np.array([r[1] for r in got]), X, rtol=1e-15)
    finally:
        con.close()
