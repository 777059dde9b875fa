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
