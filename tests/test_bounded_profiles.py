"""A bounded fit (more rows than max_fit_rows) on DuckDB and PostgreSQL: one scoring pass numbers
the segments and gives the profiles' figures (segdb.refresh.scalable.score_with_moments); the
profiles must be what the run's stored labels joined with the source give, the segments numbered
largest first."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import segdb
from engines import load_table

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
@pytest.mark.parametrize("nulls", ["skip", "mean"])
def test_bounded_profiles_equal_the_labels_joined_with_the_source(request, tmp_path, engine, nulls):
    url = str(tmp_path / "bounded.duckdb") if engine == "duckdb" else request.getfixturevalue("postgres_url")
    param = "?" if engine == "duckdb" else "%s"
    rng = np.random.default_rng(11)
    n = 3000
    centres = rng.normal(0, 3, (3, 3))
    X = centres[rng.integers(0, 3, n)] + rng.normal(0, 1, (n, 3))
    f2 = X[:, 2].copy()
    f2[rng.choice(n, 40, replace=False)] = np.nan  # NULLs: skipped rows, or filled under nulls=mean
    load_table(url, "points", pa.table({
        "id": pa.array(np.arange(n) + 1), "f0": pa.array(X[:, 0]), "f1": pa.array(X[:, 1] * 100 + 5),
        "f2": pa.array(f2, mask=np.isnan(f2))}))
    with segdb.connect(url) as db:
        db.create("p", source="points", key="id", features=["f0", "f1", "f2"], k=3, max_fit_rows=1000,
                  nulls=nulls)
        run = db.refresh("p")
        fit_rows = db.sql(f"SELECT fit_rows FROM segdb.runs WHERE run_id = {param}", params=[run.run_id]).to_pylist()
        assert fit_rows[0]["fit_rows"] < run.rows_used  # bounded: a sample was fitted
        sizes = db.sql(f"SELECT segment_id, size FROM segdb.segments WHERE run_id = {param} ORDER BY segment_id",
                       params=[run.run_id]).to_pylist()
        want = db.sql(
            "SELECT s.segment_id, count(*) AS size, count(p.f0) AS n0, avg(p.f0) AS m0, count(p.f1) AS n1, "
            "avg(p.f1) AS m1, count(p.f2) AS n2, avg(p.f2) AS m2 FROM p_segments AS s "
            "JOIN points AS p ON p.id = s.id GROUP BY s.segment_id ORDER BY s.segment_id").to_pylist()
        got = db.sql("SELECT segment_id, feature_no, n_values, mean_raw, z_diff FROM segdb.profiles "
                     f"WHERE run_id = {param} ORDER BY segment_id, feature_no", params=[run.run_id]).to_pylist()
        stats = db.sql(f"SELECT feature_no, mean, stddev FROM segdb.feature_stats WHERE run_id = {param} "
                       "ORDER BY feature_no", params=[run.run_id]).to_pylist()
    assert [(r["segment_id"], r["size"]) for r in sizes] == [(r["segment_id"], r["size"]) for r in want]
    assert [r["size"] for r in sizes] == sorted((r["size"] for r in sizes), reverse=True)  # largest first
    assert sum(r["size"] for r in sizes) == run.rows_used
    expected = [(w["segment_id"], i + 1, w[f"n{i}"], w[f"m{i}"]) for w in want for i in range(3)]
    assert [(r["segment_id"], r["feature_no"], r["n_values"]) for r in got] == [e[:3] for e in expected]
    assert [r["mean_raw"] for r in got] == pytest.approx([e[3] for e in expected], rel=1e-9)
    for r in got:
        s = stats[r["feature_no"] - 1]
        assert r["z_diff"] == pytest.approx((r["mean_raw"] - s["mean"]) / s["stddev"], rel=1e-7, abs=1e-12)
