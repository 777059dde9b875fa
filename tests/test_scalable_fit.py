"""The fast and bounded refresh paths (segdb.cluster.fitplan / fastfit / scalable / sampling) against numpy
and scikit-learn on the same data. The row thresholds are lowered so that small tables take them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from conftest import run_cli
from segdb.define import definitions
from segdb.cluster import fastfit, fitplan
from segdb.quality import profiles
from segdb.refresh import sampling, stats as stats_mod
from segdb.refresh.progress import stage_bars

FEATURES = ["a", "b", "c"]


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setattr(fitplan, "FAST_MIN_ROWS", 10)
    monkeypatch.setattr(fitplan, "INIT_SAMPLE_ROWS", 400)
    monkeypatch.setattr(fitplan, "INIT_ROWS_PER_SEGMENT", 100)


def blobs(n=3000, seed=1, nulls=False):
    """Four separated groups of unequal size on three features of different scales."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [6, 0, 3], [0, 7, -4], [5, 6, 5]], dtype=float)
    group = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    X = (centres[group] + rng.normal(size=(n, 3))) * np.array([1.0, 50.0, 0.2])
    if nulls:
        X[rng.random(n) < 0.05, 1] = np.nan
    return X


def load(db, X, table="pts", order=None):
    ids = np.arange(1, len(X) + 1)
    order = np.arange(len(X)) if order is None else order
    import pyarrow as pa
    cols = {"id": pa.array(ids[order])}
    for j, f in enumerate(FEATURES):
        cols[f] = pa.array(X[order, j], from_pandas=True)
    db.con.register("segdb_test_src", pa.table(cols))
    db.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM segdb_test_src")
    db.con.unregister("segdb_test_src")


def labels_by_id(db, name):
    rows = db.sql(f"SELECT id, segment_id, distance FROM {name}_segments ORDER BY id")
    return np.array(rows.column("segment_id").to_pylist()), np.array(rows.column("distance").to_pylist())


def same_partition(a, b) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_plan_modes_and_default_bound():
    assert fitplan.choose(1000, 8, None).mode == "exact"
    assert fitplan.choose(5_000_000, 8, None).mode == "fast"
    assert fitplan.choose(5_000_000, 8, 1_000_000).mode == "bounded"
    # 640 MiB of float64 matrix: 10,485,760 rows at 8 features, half that at 16
    assert fitplan.default_max_fit_rows(8) == 640 * 2 ** 20 // 64 == 10_485_760
    assert fitplan.choose(100_000_000, 8, None) == fitplan.FitPlan("bounded", 100_000_000, 10_485_760)


def test_fast_fit_matches_scikit_learn(db, small_thresholds):
    X = blobs()
    load(db, X)
    db.create("f", source="pts", key="id", features=FEATURES, k=4)
    run = db.refresh("f")
    ref = KMeans(n_clusters=4, n_init=10, random_state=0).fit(StandardScaler().fit_transform(X))
    labels, distances = labels_by_id(db, "f")
    assert run.inertia == pytest.approx(ref.inertia_, rel=1e-7)
    assert same_partition(labels, ref.labels_)
    sizes = np.bincount(labels)[1:]
    assert list(sizes) == sorted(sizes, reverse=True)
    Z = StandardScaler().fit_transform(X)
    centres = np.array(list(db.show("f").centroid_matrix("value_scaled").values()))
    assert distances == pytest.approx(np.linalg.norm(Z - centres[labels - 1], axis=1), rel=1e-7, abs=1e-9)


def test_fast_fit_does_not_depend_on_row_order(db, small_thresholds):
    X = blobs(seed=2)
    load(db, X, "ordered")
    load(db, X, "shuffled", order=np.random.default_rng(5).permutation(len(X)))
    for name in ("ordered", "shuffled"):
        db.create(name, source=name, key="id", features=FEATURES, k=4)
    a, b = db.refresh("ordered"), db.refresh("shuffled")
    assert a.inertia == pytest.approx(b.inertia, rel=1e-7)
    assert np.array_equal(labels_by_id(db, "ordered")[0], labels_by_id(db, "shuffled")[0])


def test_samples_are_seeded_by_key_not_by_storage_order(db):
    X = blobs(n=2000, seed=3)
    load(db, X, "ordered")
    load(db, X, "shuffled", order=np.random.default_rng(9).permutation(len(X)))
    got = {}
    for name in ("ordered", "shuffled"):
        d = definitions.validate(db.con, name=name, source=name, key="id", features=FEATURES, k=3)
        st = stats_mod.compute(db.con, d, name, name)
        init = sampling.init_sample(db.con, d, name, st.features, 100, name)
        fit_sample = sampling.fit_sample(db.con, d, name, st.features, 500, st.rows_used, name)
        got[name] = (init, fit_sample[np.lexsort(fit_sample.T)])
    assert got["ordered"][0].shape == (100, 3)
    # the same rows (the statistics' last bits depend on the summation order, hence allclose)
    assert np.allclose(got["ordered"][0], got["shuffled"][0], rtol=1e-7, atol=1e-9)
    assert got["ordered"][1].shape == got["shuffled"][1].shape
    assert np.allclose(got["ordered"][1], got["shuffled"][1], rtol=1e-7, atol=1e-9)
    assert 300 < len(got["ordered"][1]) <= 500


@pytest.mark.parametrize("nulls", ["skip", "mean"])
def test_variance_from_sql_statistics_equals_numpy(db, nulls):
    X = blobs(n=1500, seed=4, nulls=True)
    load(db, X)
    d = definitions.validate(db.con, name="v", source="pts", key="id", features=FEATURES, k=3, nulls=nulls)
    st = stats_mod.compute(db.con, d, "pts", "pts")
    if nulls == "skip":
        M = X[~np.isnan(X).any(axis=1)]
    else:
        M = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    Z = (M - np.array([s.center for s in st.features])) / np.array([s.scale for s in st.features])
    assert fastfit.mean_variance(d, st.features, st.rows_used) == pytest.approx(np.var(Z, axis=0).mean(), rel=1e-7)


@pytest.mark.parametrize("nulls", ["skip", "mean"])
def test_bounded_fit_labels_every_row_in_sql(db, small_thresholds, nulls):
    X = blobs(n=4000, seed=6, nulls=True)
    load(db, X)
    db.create("b", source="pts", key="id", features=FEATURES, k=4, nulls=nulls, max_fit_rows=1000)
    run = db.refresh("b")
    summary = db.show("b")
    fit_rows = db.sql("SELECT fit_rows FROM segdb.runs WHERE run_id = ?", [run.run_id]).column(0)[0].as_py()
    fitted = db.sql("SELECT count(*) FROM segdb.b_labels WHERE fitted AND run_id = ?", [run.run_id]).column(0)[0].as_py()
    assert 700 < fit_rows <= 1000 and fitted == fit_rows
    # every used row is labelled with its nearest stored centroid (numpy on the stored statistics)
    stats = summary.feature_stats
    usable = ~np.isnan(X).any(axis=1) if nulls == "skip" else np.ones(len(X), bool)
    M = np.where(np.isnan(X), [s["mean"] for s in stats], X)[usable]
    Z = (M - [s["center"] for s in stats]) / [s["scale"] for s in stats]
    centres = np.array(list(summary.centroid_matrix("value_scaled").values()))
    sq = ((Z[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    labels, distances = labels_by_id(db, "b")
    assert len(labels) == usable.sum() == run.rows_used
    assert np.array_equal(labels, sq.argmin(axis=1) + 1)
    assert distances == pytest.approx(np.sqrt(sq.min(axis=1)), rel=1e-7, abs=1e-9)
    # sizes, SSE and inertia over every row, segments numbered largest first
    sizes = np.bincount(labels, minlength=5)[1:]
    sse = np.bincount(labels, weights=distances ** 2, minlength=5)[1:]
    assert [s["size"] for s in summary.segments] == list(sizes) == sorted(sizes, reverse=True)
    assert [s["sse"] for s in summary.segments] == pytest.approx(sse, rel=1e-7)
    assert run.inertia == pytest.approx(sse.sum(), rel=1e-7)
    # fitted on a quarter of the rows, within 1% of the full fit's inertia on all of them
    full = KMeans(n_clusters=4, n_init=10, random_state=0).fit(Z)
    assert run.inertia <= full.inertia_ * 1.01
    # profiles were computed from a second scoring pass, not from the stored labels: the same
    # numbers as the join of the stored labels with the source (the statement show-sql prints),
    # and, by hand, the per-segment means of the raw values (NULLs left out) of those labels
    con = db.con
    stored = con.execute("SELECT segment_id, feature_no, n_values, mean_raw, z_diff, effect_size, rank "
                         "FROM segdb.profiles WHERE run_id = ? ORDER BY ALL", [run.run_id]).fetchall()
    d = definitions.get(con, "b")
    con.execute("DELETE FROM segdb.profiles WHERE run_id = ?", [run.run_id])
    st = [dict(mean=s["mean"], stddev=s["stddev"]) for s in stats]
    fs = [type("S", (), s_) for s_ in st]
    con.execute(profiles.profile_query(d, "pts"), profiles.profile_params(d, fs, run.run_id))
    joined = con.execute("SELECT segment_id, feature_no, n_values, mean_raw, z_diff, effect_size, rank "
                         "FROM segdb.profiles WHERE run_id = ? ORDER BY ALL", [run.run_id]).fetchall()
    assert [r[:3] + (r[6],) for r in stored] == [r[:3] + (r[6],) for r in joined]
    np.testing.assert_allclose(np.array([r[3:6] for r in stored], float),
                               np.array([r[3:6] for r in joined], float), rtol=1e-7, atol=1e-9)
    raw = X[usable]
    for segment_id, feature_no, n_values, mean_raw, *_ in stored:
        values = raw[labels == segment_id, feature_no - 1]
        values = values[~np.isnan(values)]
        assert n_values == len(values) and mean_raw == pytest.approx(values.mean(), rel=1e-7)


def test_stream_fetch_equals_ordered_fetch(db):
    from segdb.refresh import matrix, matrix_stream
    X = blobs(n=3000, seed=7)
    load(db, X, order=np.random.default_rng(1).permutation(len(X)))
    d = definitions.validate(db.con, name="m", source="pts", key="id", features=FEATURES, k=3)
    st = stats_mod.compute(db.con, d, "pts", "pts")
    keys, M = matrix.fetch(db.con, d, "pts", st.features, "pts")
    skeys, S = matrix_stream.fetch_all(db.con, d, "pts", st.features, st.rows_used, "pts")
    order = np.argsort(skeys.to_numpy())
    assert S.flags.writeable and S.flags.c_contiguous
    assert np.array_equal(skeys.to_numpy()[order], keys.to_numpy())
    assert np.array_equal(S[order], M)


def test_create_records_max_fit_rows_and_rejects_too_small(db_path):
    import segdb
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE t AS SELECT range AS id, range % 7 AS x, range % 5 AS y FROM range(50)")
    ok = run_cli(["create", "s", "--source", "t", "--key", "id", "--feature", "x", "--feature", "y",
                  "--max-fit-rows", "20"], db_path)
    assert ok.exit_code == 0, ok.output
    bad = run_cli(["create", "s2", "--source", "t", "--key", "id", "--feature", "x", "--feature", "y",
                   "--max-fit-rows", "1"], db_path)
    assert bad.exit_code == 1
    assert bad.output == "Error: max_fit_rows=1 should be >= 2\n"
    with segdb.connect(db_path) as db:
        assert db.definition("s").max_fit_rows == 20
        run = db.refresh("s")
        assert run.rows_used == 50
        assert db.sql("SELECT count(*) FROM s_segments").column(0)[0].as_py() == 50


def test_stage_bars_draw_one_bar_per_stage():
    out = io.StringIO()
    report = stage_bars(file=out)
    for stage in ("stats", "fetch"):
        report(stage, "start")
        report(stage, "done")
    text = out.getvalue()
    assert "stats" in text and "fetch" in text
    full = "|" + "#" * 20 + "|"  # tqdm draws with ASCII on a file that is not a terminal
    assert text.count(full) == 2 and text.index("stats") < text.index(full) < text.index("fetch")


@pytest.mark.parametrize("user_limit, during", [("4GiB", "1.5 GiB"), ("500MiB", "500.0 MiB")])
def test_refresh_lowers_duckdb_memory_limit_and_restores_it(db, user_limit, during):
    load(db, blobs(n=300))
    db.con.execute("CHECKPOINT")  # rows not checkpointed are held in memory: the limits would sit above them
    db.create("m", source="pts", key="id", features=FEATURES, k=3)
    db.con.execute(f"SET memory_limit = '{user_limit}'")
    before = db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    seen = []

    def report(stage, state):
        seen.append((stage, state, db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]))
    db.refresh("m", progress=report)
    # between the fetch and the write DuckDB's cached blocks are released (scalable.DUCKDB_IDLE_MEMORY_LIMIT):
    # the fit's, the quality's and the rules' boundaries see the idle limit, every other one the refresh's
    released = {(stage, state) for stage, state, _ in seen if stage in ("fit", "quality", "rules")}
    assert released == {(stage, state) for stage in ("fit", "quality", "rules") for state in ("start", "done")}
    assert {limit for stage, _, limit in seen if stage in ("fit", "quality", "rules")} == {"64.0 MiB"}
    assert {limit for stage, _, limit in seen if stage not in ("fit", "quality", "rules")} == {during}
    assert [stage for stage, _, _ in seen][:4] == ["check", "check", "stats", "stats"]
    assert seen[-1][0] == "write"
    assert db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == before


def test_a_bounded_refresh_scores_under_the_scan_limit_between_two_releases(db):
    load(db, blobs(n=300))
    db.con.execute("CHECKPOINT")  # rows not checkpointed are held in memory: the limits would sit above them
    db.create("m", source="pts", key="id", features=FEATURES, k=3, max_fit_rows=120)
    db.con.execute("SET memory_limit = '4GiB'")
    seen = []

    def report(stage, state):
        seen.append((stage, state, db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]))
    result = db.refresh("m", progress=report)
    limits = {}
    for stage, _, limit in seen:
        limits.setdefault(stage, set()).add(limit)
    assert "score" in limits  # the bounded plan: every row labelled in SQL
    assert limits.pop("score") == {"256.0 MiB"}
    assert {stage: limits.pop(stage) for stage in ("fit", "quality", "rules")} == {
        "fit": {"64.0 MiB"}, "quality": {"64.0 MiB"}, "rules": {"64.0 MiB"}}
    assert set(limits) == {"check", "stats", "fetch", "write"}
    assert all(limit <= {"1.5 GiB", "768.0 MiB"} for limit in limits.values())
    assert db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "4.0 GiB"
    assert result.rows_used == 300


def test_a_refresh_failing_while_the_cache_is_released_restores_the_limit(db):
    load(db, blobs(n=300))
    db.con.execute("CHECKPOINT")  # rows not checkpointed are held in memory: the limits would sit above them
    db.create("m", source="pts", key="id", features=FEATURES, k=3)
    db.con.execute("SET memory_limit = '1GiB'")  # below the refresh's own bound: only this release lowers it

    def report(stage, state):
        if (stage, state) == ("rules", "start"):
            assert db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "64.0 MiB"
            raise RuntimeError("stopped while the cache is released")
    with pytest.raises(RuntimeError, match="stopped while the cache is released"):
        db.refresh("m", progress=report)
    assert db.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "1.0 GiB"
    assert db.sql("SELECT count(*) FROM segdb.runs WHERE segmentation = 'm' AND status = 'succeeded'").column(0).to_pylist() == [0]


def test_an_in_memory_database_is_never_spilled_to_make_room(tmp_path, monkeypatch):
    """In an in-memory database the source's blocks are the data: the lowered limits stay above
    what its tables hold, so nothing is written to DuckDB's temporary directory (.tmp in the
    working directory by default) during a refresh."""
    monkeypatch.chdir(tmp_path)
    import segdb
    with segdb.connect(":memory:") as mem:
        mem.sql("CREATE TABLE big AS SELECT range AS id, (range % 7)::DOUBLE AS a, "
                "((range * 7919) % 1000)::DOUBLE / 10 AS b FROM range(3000000)")
        held = mem.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory() "
                               "WHERE tag = 'IN_MEMORY_TABLE'").fetchall()[0][0]
        assert held > 64 * 2 ** 20  # more than the idle limit: without the rule it would spill
        mem.create("m", source="big", key="id", features=["a", "b"], k=3, seed=0)
        seen = []

        def report(stage, state):
            seen.append((stage, mem.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0],
                         mem.con.execute("SELECT sum(temporary_storage_bytes) FROM duckdb_memory()").fetchall()[0][0]))
        result = mem.refresh("m", progress=report)
        assert result.rows_used == 3_000_000
    assert {spilled for _, _, spilled in seen} == {0}
    fit_limits = {limit for stage, limit, _ in seen if stage == "fit"}
    assert len(fit_limits) == 1 and fit_limits != {"64.0 MiB"}  # lowered, but above the tables
    assert not (tmp_path / ".tmp").exists()
