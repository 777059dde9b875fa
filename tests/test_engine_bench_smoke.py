"""benchmarks/bench_engines.py at a toy size: its loaders put exactly DuckDB's data on PostgreSQL and
Spark (the script checks count, key sum and feature sums and exits non-zero otherwise; here the
values are also compared row by row on PostgreSQL), and its DuckDB run reports what it promises.
No timings asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import engines

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
ROWS = 3000


def bench(*args, env_extra=None) -> subprocess.CompletedProcess:
    import os
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, str(BENCH / "bench_engines.py"), "--rows", str(ROWS), *args],
                          capture_output=True, text=True, env=env)


def test_duckdb_run_reports_stages_rss_and_inertia(tmp_path):
    proc = bench("--engines", "duckdb", "--n-init", "2", "--data-dir", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    run = res["engines"]["duckdb"]
    assert (res["rows"], run["rows"], run["fit_rows"]) == (ROWS, ROWS, ROWS)
    assert {"check", "stats", "fetch", "fit", "write"} <= set(run["stage_seconds"])
    assert run["stages_total_s"] == pytest.approx(sum(run["stage_seconds"].values()))
    assert run["rss_mib"] > 0 and run["inertia"] > 0 and run["inertia_vs_duckdb"] == 0
    assert list(tmp_path.glob("*.work.duckdb")) == []  # the scratch copy is gone


def test_later_refreshes_and_a_prune_are_timed(tmp_path):
    proc = bench("--engines", "duckdb", "--n-init", "1", "--data-dir", str(tmp_path), "--refreshes", "3",
                 "--prune-keep", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0].strip() for line in lines if "refresh " in line] == \
        ["refresh 2 (runs kept", "refresh 3 (runs kept"]
    assert [line.strip().split(":")[0] for line in lines if "prune" in line] == ["prune --keep 1"]


def test_postgresql_loader_copies_the_data_exactly(tmp_path, postgres_admin):
    url, admin = postgres_admin
    name = f"segdb_bench_n{ROWS}_d8_k6_s0"
    engines._drop_postgres_database(admin, name)
    try:
        proc = bench("--engines", "postgresql", "--load-only", "--data-dir", str(tmp_path), "--postgres-url", url)
        assert proc.returncode == 0, proc.stderr
        duck = duckdb.connect(str(next(tmp_path.glob("customers_*.duckdb"))), read_only=True)
        try:
            want = duck.execute("SELECT * FROM customers ORDER BY customer_id").fetchall()
            types = duck.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'customers' "
                                 "ORDER BY ordinal_position").fetchall()
        finally:
            duck.close()
        pg_url = engines.with_postgres_database(url, name)
        assert engines.query(pg_url, "SELECT * FROM customers ORDER BY customer_id") == want  # bit for bit
        pg_types = engines.query(pg_url, "SELECT data_type FROM information_schema.columns "
                                         "WHERE table_name = 'customers' ORDER BY ordinal_position")
        assert [t[0] for t in pg_types] == [{"BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision"}[t[0]]
                                            for t in types]
        again = bench("--engines", "postgresql", "--load-only", "--data-dir", str(tmp_path), "--postgres-url", url)
        assert again.returncode == 0 and "loaded" not in again.stderr  # cached: not loaded a second time
    finally:
        engines._drop_postgres_database(admin, name)


def test_spark_loader_registers_the_parquet_data(tmp_path):
    """In its own child processes (Derby's metastore admits one JVM at a time)."""
    engines.require_spark()
    proc = bench("--engines", "spark", "--load-only", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Spark table customers over" in proc.stderr
    parquet = tmp_path / f"customers_n{ROWS}_d8_k6_s0.parquet" / "part-0.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM '{parquet}'").fetchall() == [(ROWS,)]
    assert [p.name for p in tmp_path.glob("spark-run-*")] == []  # the run's warehouse is removed


def test_spark_mllib_peer_wssse_is_on_segdbs_standardisation(tmp_path):
    """The MLlib peer's WSSSE is recomputed on the population-standardised data (segdb's scale,
    not MLlib's sample sd): here recomputed again from its labels table and centres with numpy."""
    engines.require_spark()
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(3)
    n = 240
    x = np.concatenate([rng.normal(0, 1, (n // 2, 3)), rng.normal(4, 2, (n // 2, 3))]) * [1.0, 10.0, 0.1]
    source = tmp_path / "customers.parquet"
    source.mkdir()
    pq.write_table(pa.table({"customer_id": np.arange(1, n + 1), **{f"f{i}": x[:, i] for i in range(3)}}),
                   source / "part-0.parquet")
    warehouse = tmp_path / "warehouse"
    proc = subprocess.run([sys.executable, str(BENCH / "peer_spark_mllib.py"), "--parquet", str(source),
                           "--key", "customer_id", "--feature", "f0", "--feature", "f1", "--feature", "f2",
                           "--k", "2", "--warehouse", str(warehouse)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (peer["rows"], peer["n"]) == (n, n)
    labels = pq.read_table(warehouse / "mllib_labels").to_pandas().sort_values("customer_id")
    z = (x - x.mean(axis=0)) / x.std(axis=0)  # population sd, as segdb standardises
    centers = np.array(peer["centers_standardized"])
    wsse = float(((z - centers[labels["segment"].to_numpy()]) ** 2).sum())
    assert peer["wsse"] == pytest.approx(wsse, rel=1e-7)
    # the centres are the means of their members on that scale (k-means converged on two clear groups)
    for j in range(2):
        assert centers[j] == pytest.approx(z[labels["segment"].to_numpy() == j].mean(axis=0), rel=1e-6, abs=1e-9)
