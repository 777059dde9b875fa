"""The benchmark script at a toy size: its data are as documented, its JSON has the promised keys,
and segdb agrees with the bare scikit-learn pipeline it is compared with (no timings asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_data  # noqa: E402


def test_generated_data_are_as_documented(tmp_path):
    path = bench_data.ensure_data(tmp_path, 20_000, 8, 6, 0)
    again = bench_data.ensure_data(tmp_path, 20_000, 8, 6, 0)
    assert again == path  # cached by parameters
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'customers' ORDER BY ordinal_position").fetchall()
        assert cols == [("customer_id", "BIGINT")] + [(f"likert_{i}", "INTEGER") for i in range(1, 5)] + [
            (f"amount_{i}", "DOUBLE") for i in range(1, 5)]
        lo, hi, n, keys = con.execute("SELECT min(least(likert_1, likert_2, likert_3, likert_4)), "
                                      "max(greatest(likert_1, likert_2, likert_3, likert_4)), count(*), "
                                      "count(DISTINCT customer_id) FROM customers").fetchall()[0]
        spreads = con.execute("SELECT stddev_pop(amount_1), stddev_pop(amount_4) FROM customers").fetchall()[0]
    finally:
        con.close()
    assert (lo, hi, n, keys) == (1, 7, 20_000, 20_000)
    # continuous scales 0.1 .. 1000: the spreads differ by about four orders of magnitude
    assert 3e3 < spreads[1] / spreads[0] < 3e4
    npy = bench_data.ensure_matrix(path, 8, 20_000, 10 ** 9)
    X = np.load(npy)
    assert X.shape == (20_000, 8) and X.dtype == np.float64


def test_json_output_keys_and_agreement(tmp_path):
    naive = importlib.util.find_spec("duckdb_engine") is not None and importlib.util.find_spec("pandas") is not None
    cmd = [sys.executable, str(BENCH / "bench_refresh.py"), "--rows", "4000", "--k", "3", "--n-init", "2",
           "--data-dir", str(tmp_path), "--bounded-fit-rows", "1000", "--json",
           "--naive-max-rows", "4000" if naive else "0"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    for key in ("rows", "segdb_s", "bare_s", "naive_s", "segdb_rss_mib", "bare_rss_mib", "segdb_inertia",
                "bare_inertia", "segdb_over_bare_time", "bounded_inertia", "scoring_rows_per_s",
                "peer_s", "peer_rss_mib", "peer_inertia", "segdb_over_peer_time", "segdb_over_peer_rss",
                "segdb_inertia_vs_peer"):
        assert key in res, key
    assert res["rows"] == 4000
    assert (res["naive_s"] is None) == (not naive)
    # 4,000 rows take the exact path: the same fit as StandardScaler + KMeans on the same matrix
    assert res["segdb_inertia"] == pytest.approx(res["bare_inertia"], rel=1e-7)
    assert res["bounded_fit_rows"] <= 1000
    assert res["pipelines"]["scoring"]["rows"] == 4000
    # the peer: scikit-learn's defaults (one k-means++ run) on the same standardised matrix
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    Z = StandardScaler().fit_transform(np.load(bench_data.data_path(tmp_path, 4000, 8, 3, 0).with_suffix(".npy")))
    assert res["peer_inertia"] == pytest.approx(KMeans(n_clusters=3, random_state=0).fit(Z).inertia_, rel=1e-7)
    assert res["segdb_inertia_vs_peer"] == pytest.approx(res["segdb_inertia"] / res["peer_inertia"] - 1)


def test_refresh_parts_runs_its_three_configurations(tmp_path):
    cmd = [sys.executable, str(BENCH / "refresh_parts.py"), "--rows", "3000", "--k", "3", "--n-init", "2",
           "--repeat", "1", "--data-dir", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["full", "no-quality", "core-only"]
    assert all(float(line.split()[1]) > 0 for line in lines[2:])


def test_warm_start_benchmark_at_toy_size(tmp_path):
    """bench_warm.py: both modes refreshed, the warm one really warm, the cold one the baseline."""
    cmd = [sys.executable, str(BENCH / "bench_warm.py"), "--rows", "3000", "--k", "3", "--rounds", "1",
           "--data-dir", str(tmp_path), "--json"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert out["warm"]["fit_start"] == "warm" and out["cold"]["fit_start"] == "cold"
    assert out["changed"] > 0 and 0 <= out["warm"]["moved_share"] <= 1
    assert out["warm"]["n_iter"] >= 1 and out["warm_over_cold_seconds"] > 0
    assert not list(tmp_path.glob("warm_*"))  # the working copy is removed
