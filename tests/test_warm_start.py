"""Warm start (issue 17, item 3): a refresh's k-means starts from the current run's centroids,
mapped into the new run's scaling, checked against scikit-learn's own KMeans(init=..., n_init=1) on
the same standardised matrix, and its cold fall-backs recorded in the run row."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from sklearn.cluster import KMeans

import segdb
from conftest import run_cli
from engines import load_table

pytestmark = pytest.mark.usefixtures("one_blas_thread")

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


def blobs(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    """Three groups around CENTRES (the first moved by ``shift`` on both axes), ids 1..n."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 3
    centres = CENTRES.copy()
    centres[0] += shift
    xy = centres[group] + rng.normal(0.0, 1.5, size=(n, 2))
    return pa.table({"id": pa.array(np.arange(1, n + 1), pa.int64()),
                     "a": pa.array(xy[:, 0]), "b": pa.array(xy[:, 1])})


def changed(table: pa.Table, share: float, seed: int) -> pa.Table:
    """``table`` with ``share`` of its rows moved by +3 on a (the statistics change too)."""
    rng = np.random.default_rng(seed)
    a = table.column("a").to_numpy().copy()
    moved = rng.random(len(a)) < share
    a[moved] += 3.0
    return table.set_column(1, "a", pa.array(a))


def zscored(table: pa.Table) -> np.ndarray:
    X = np.column_stack([table.column(c).to_numpy() for c in ("a", "b")])
    return (X - X.mean(axis=0)) / X.std(axis=0)  # population sd, as segdb scales


def put_table(db, table: pa.Table) -> None:
    """``table`` as the source table t of a DuckDB database (replacing the one there)."""
    db.con.register("segdb_test_rows", table)
    db.con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM segdb_test_rows")
    db.con.unregister("segdb_test_rows")


def rows(db, sql: str) -> list[tuple]:
    table = db.sql(sql)
    return list(zip(*(c.to_pylist() for c in table.columns)))


def raw_centroids(db, run_id: int) -> np.ndarray:
    """A run's centroids in source units, one row per segment in id order."""
    found = sorted(r[1:] for r in rows(db, "SELECT run_id, segment_id, feature_no, value_raw FROM segdb.centroids")
                   if r[0] == run_id)
    k = len({r[0] for r in found})
    return np.array([r[2] for r in found], dtype=np.float64).reshape(k, -1)


def labels_of(db, name: str, run_id: int) -> dict:
    table = db.segments(name, run_id).to_arrow_table()
    return dict(zip(table.column(0).to_pylist(), table.column("segment_id").to_pylist()))


def assert_same_partition(ours: np.ndarray, theirs: np.ndarray) -> None:
    """The same grouping of rows, whatever the numbering."""
    pairs = set(zip(ours.tolist(), theirs.tolist()))
    assert len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))


def test_warm_refresh_is_sklearn_from_the_mapped_centroids(engine_url):
    """Oracle: KMeans(init=previous centroids mapped into the new z-scores, n_init=1) with numpy's
    population standardisation of the changed data, on every engine."""
    before = blobs(600, seed=1)
    after = changed(before, 0.05, seed=2)
    load_table(engine_url, "t", before)
    with segdb.connect(engine_url) as db:
        db.create("w", source="t", key="id", features=["a", "b"], k=3)
        first = db.refresh("w")
        raw = raw_centroids(db, first.run_id)
        db.sql("DROP TABLE t")
    load_table(engine_url, "t", after)
    with segdb.connect(engine_url) as db:
        warm = db.refresh("w", warm_start=True)
        assert (warm.fit_start, warm.fit_start_note) == ("warm", f"from run {first.run_id}")
        X = zscored(after)
        Xraw = np.column_stack([after.column(c).to_numpy() for c in ("a", "b")])
        init = (raw - Xraw.mean(axis=0)) / Xraw.std(axis=0)
        oracle = KMeans(n_clusters=3, init=init, n_init=1, random_state=0).fit(X)
        assert warm.inertia == pytest.approx(oracle.inertia_, rel=1e-7)
        ours = labels_of(db, "w", warm.run_id)
        assert_same_partition(np.array([ours[i] for i in after.column("id").to_pylist()]), oracle.labels_)
        run = next(r for r in db.runs("w") if r["run_id"] == warm.run_id)
        assert (run["fit_start"], run["fit_start_note"]) == ("warm", f"from run {first.run_id}")


def test_toy_warm_start_keeps_the_segments_and_iterates_little(tmp_path):
    """Hand-worked: three tight groups; 1% of the rows move a little. The warm run starts at the
    answer's neighbourhood: a couple of Lloyd iterations, every segment id kept, and each customer
    not moved keeps its segment."""
    path = str(tmp_path / "toy.duckdb")
    before = blobs(3000, seed=3)
    with segdb.connect(path) as db:
        put_table(db, before)
        db.create("w", source="t", key="id", features=["a", "b"], k=3)
        first = db.refresh("w")
        db.con.execute("UPDATE t SET a = a + 0.5 WHERE id % 100 = 0")
        warm = db.refresh("w", warm_start=True)
        assert warm.fit_start == "warm"
        run = db.show("w").run
        assert run["n_iter"] <= 3
        old, new = labels_of(db, "w", first.run_id), labels_of(db, "w", warm.run_id)
        assert old == new  # the groups are 10 sd apart: nobody changes, ids are kept


@pytest.mark.parametrize("change, reason", [
    (dict(k=4), "k changed from 3 to 4"),
    (dict(features=["a"]), "the features changed (or a category's levels)"),
    (dict(scale="minmax"), "the scaling changed from zscore to minmax"),
    (dict(nulls="mean"), "the null policy changed from skip to mean"),
    (dict(k="auto", k_range=(2, 4)), "k was chosen by a scan (k=auto)"),
])
def test_a_warm_start_that_no_longer_applies_starts_cold_and_says_why(tmp_path, change, reason):
    path = str(tmp_path / "fallback.duckdb")
    with segdb.connect(path) as db:
        put_table(db, blobs(300, seed=4))
        db.create("w", source="t", key="id", features=["a", "b"], k=3)
        db.refresh("w")
        db.create("w", **{**dict(source="t", key="id", features=["a", "b"], k=3), **change}, replace=True)
        cold = db.refresh("w", warm_start=True)
        expected = f"a warm start was asked for, but {reason}"
        assert (cold.fit_start, cold.fit_start_note) == ("cold", expected)
        # and a cold start is exactly the cold fit of the same definition
        again = db.refresh("w", warm_start=False)
        assert (again.fit_start, again.fit_start_note) == ("cold", None)
        assert cold.inertia == pytest.approx(again.inertia, rel=1e-9)


def test_first_refresh_and_pruned_current_run_start_cold(tmp_path):
    path = str(tmp_path / "first.duckdb")
    with segdb.connect(path) as db:
        put_table(db, blobs(300, seed=5))
        db.create("w", source="t", key="id", features=["a", "b"], k=3, warm_start=True)
        first = db.refresh("w")  # the definition asks for it: nothing to start from yet
        assert first.fit_start_note == "a warm start was asked for, but there is no current run to start from"
        second = db.refresh("w")  # the definition's option
        assert (second.fit_start, second.fit_start_note) == ("warm", f"from run {first.run_id}")
        third = db.refresh("w", warm_start=False)  # the refresh's own choice wins
        assert (third.fit_start, third.fit_start_note) == ("cold", None)


def test_warm_start_from_toml_and_the_cli(tmp_path):
    path = str(tmp_path / "cli.duckdb")
    with segdb.connect(path) as db:
        put_table(db, blobs(300, seed=6))
    toml = tmp_path / "segments.toml"
    toml.write_text('[segmentation.w]\nsource = "t"\nkey = "id"\nk = 3\nwarm_start = true\n'
                    'features = [{ name = "a" }, { name = "b" }]\n')
    assert run_cli(["apply", str(toml)], path).exit_code == 0
    first = run_cli(["refresh", "w"], path)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == (
        "w: cold start (a warm start was asked for, but there is no current run to start from)")
    second = run_cli(["refresh", "w"], path)
    assert second.output.splitlines()[-1] == "w: warm start (from run 1)"
    cold = run_cli(["refresh", "w", "--cold-start"], path)
    assert cold.exit_code == 0 and "start" not in cold.output.splitlines()[-1]
    warm = run_cli(["refresh", "w", "--warm-start"], path)
    assert warm.output.splitlines()[-1] == "w: warm start (from run 3)"
    shown = run_cli(["show", "w"], path)
    assert any(re.fullmatch(r"fit: warm start \(from run 3\), \d+ Lloyd iterations?", line)
               for line in shown.output.splitlines()), shown.output


def test_fast_path_warm_start_is_sklearns_lloyd(tmp_path):
    """200,000 rows take the fast path (segdb.cluster.fastfit.fit_from_start): the same Lloyd run as
    scikit-learn's KMeans(init=..., n_init=1), whose tolerance on z-scored columns is the same."""
    path = str(tmp_path / "fast.duckdb")
    before = blobs(200_001, seed=7)
    after = changed(before, 0.01, seed=8)
    with segdb.connect(path) as db:
        put_table(db, before)
        db.create("w", source="t", key="id", features=["a", "b"], k=3)
        first = db.refresh("w")
        raw = raw_centroids(db, first.run_id)
        put_table(db, after)
        warm = db.refresh("w", warm_start=True)
        assert warm.fit_start == "warm"
        Xraw = np.column_stack([after.column(c).to_numpy() for c in ("a", "b")])
        init = (raw - Xraw.mean(axis=0)) / Xraw.std(axis=0)
        oracle = KMeans(n_clusters=3, init=init, n_init=1).fit(zscored(after))
        assert warm.inertia == pytest.approx(oracle.inertia_, rel=1e-7)
        ours = labels_of(db, "w", warm.run_id)
        assert_same_partition(np.array([ours[i] for i in after.column("id").to_pylist()]), oracle.labels_)


def test_the_start_is_the_previous_centroids_in_the_new_scaling(tmp_path):
    """Hand-checked mapping: centroid c of the previous run is c * old_sd + old_mean in source
    units, and (that - new_mean) / new_sd in the new run's units (numpy's population sd)."""
    from segdb.refresh import check, warmstart
    path = str(tmp_path / "map.duckdb")
    before = blobs(900, seed=9)
    after = changed(before, 0.2, seed=10)  # a fifth of the rows moved: mean and sd of a change
    with segdb.connect(path) as db:
        put_table(db, before)
        db.create("w", source="t", key="id", features=["a", "b"], k=3)
        first = db.refresh("w")
        scaled = np.array(sorted(rows(db, "SELECT segment_id, feature_no, value_scaled FROM segdb.centroids"))
                          )[:, 2].reshape(3, 2)
        Xold = np.column_stack([before.column(c).to_numpy() for c in ("a", "b")])
        put_table(db, after)
        checked = check.check(db.con, "w")
        st = check.statistics(db.con, checked)
        start = warmstart.plan(db.con, checked.definition, st, k=3, asked=True, k_scanned=False)
        Xnew = np.column_stack([after.column(c).to_numpy() for c in ("a", "b")])
        expected = (scaled * Xold.std(axis=0) + Xold.mean(axis=0) - Xnew.mean(axis=0)) / Xnew.std(axis=0)
        assert start.kind == "warm" and start.note == f"from run {first.run_id}"
        np.testing.assert_allclose(start.centers, expected, rtol=1e-9, atol=1e-12)


def test_runs_lists_how_each_run_started(tmp_path):
    path = str(tmp_path / "runs.duckdb")
    with segdb.connect(path) as db:
        put_table(db, blobs(300, seed=11))
        db.create("w", source="t", key="id", features=["a", "b"], k=3)
        db.refresh("w")
        db.refresh("w", warm_start=True)
    lines = run_cli(["runs", "w"], path).output.splitlines()
    at = lines[0].index(" start ") + 1  # a fixed-width table: the column by its header's position
    assert [line[at:at + 5] for line in lines[2:]] == ["warm ", "cold "]
