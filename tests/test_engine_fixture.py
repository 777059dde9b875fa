"""The engine fixture itself (tests/engines.py), on each engine directly, without segdb's engine code:
every test gets a fresh empty database, load_table puts the wholesale data there with the right
values and types, a test's objects are gone in the next test, and a missing engine fails in CI."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import engines
from conftest import DATA
from engines import engine_of, load_table, query, user_tables, wholesale_table

CSV_COLUMNS = ["Channel", "Region", "Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]


def quoted(engine_url: str, name: str) -> str:
    return f"`{name}`" if engine_of(engine_url) == "spark" else f'"{name}"'


def test_wholesale_round_trip(engine_url):
    assert user_tables(engine_url) == []  # fresh and empty
    load_table(engine_url, "wholesale", wholesale_table())
    reference = np.genfromtxt(DATA / "wholesale_customers.csv", delimiter=",", skip_header=1)
    sums = ", ".join(f"sum({quoted(engine_url, c)})" for c in CSV_COLUMNS)
    rows = query(engine_url, f"SELECT count(*), count(DISTINCT customer_id), min(customer_id), max(customer_id), "
                             f"{sums} FROM wholesale")
    count, keys, lo, hi, *column_sums = rows[0]
    assert (count, keys, lo, hi) == (len(reference), len(reference), 1, len(reference))
    assert [int(s) for s in column_sums] == [int(s) for s in reference.sum(axis=0)]
    # row by row: customer_id n is line n of the file
    fetched = query(engine_url, "SELECT customer_id, " + ", ".join(quoted(engine_url, c) for c in CSV_COLUMNS)
                    + " FROM wholesale ORDER BY customer_id")
    assert np.array_equal(np.array([r[1:] for r in fetched], dtype=float), reference)
    assert user_tables(engine_url) in (["wholesale"], ["main.wholesale"], ["public.wholesale"])


def test_load_table_types(engine_url):
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "score": pa.array([0.5, None, -2.25]),
                      "small": pa.array([7, 8, 9], pa.int32()), "label": pa.array(["a", "b'c", None])})
    load_table(engine_url, "typed", table)
    rows = query(engine_url, "SELECT id, score, small, label FROM typed ORDER BY id")
    assert rows == [(1, 0.5, 7, "a"), (2, None, 8, "b'c"), (3, -2.25, 9, None)]


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_a_fresh_database(engine_url, attempt):
    """Run twice per engine: the second run fails if the first one's table survived."""
    assert user_tables(engine_url) == []
    load_table(engine_url, "marker", pa.table({"attempt": [attempt]}))
    if engine_of(engine_url) == "spark":  # what segdb's adapter does: its own tables in database `segdb`
        assert "segdb" not in {d.name for d in engines._spark.catalog.listDatabases()}
        engines._spark.sql("CREATE DATABASE segdb")
        engines._spark.sql("CREATE TABLE segdb.runs (run_id BIGINT) USING parquet")
    assert query(engine_url, "SELECT attempt FROM marker") == [(attempt,)]


def test_postgres_database_is_dropped_with_connections_open(postgres_admin):
    """The teardown terminates connections the code under test left open, then drops the database."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql
    url, admin = postgres_admin
    name = "segdb_test_dropcheck"
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    leaked = psycopg.connect(**engines.postgres_conninfo(engines.with_postgres_database(url, name)))
    try:
        engines._drop_postgres_database(admin, name)
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchall() == [(0,)]
    finally:
        leaked.close()


def test_url_forms():
    assert engine_of("/tmp/x.duckdb") == "duckdb"
    assert engine_of("postgresql+psycopg://postgres@127.0.0.1:55432/db") == "postgresql"
    assert engine_of("spark://local[2]?database=d") == "spark"
    assert engine_of("sc://localhost:15002") == "spark"
    assert engines.spark_database("spark://local[2]?database=segdb_test_1") == "segdb_test_1"
    assert engines.spark_database("spark://local[2]") == "default"
    assert engines.postgres_conninfo("postgresql+psycopg://u:p%40ss@h:5433/d?sslmode=disable") == {
        "host": "h", "port": 5433, "user": "u", "password": "p@ss", "dbname": "d", "sslmode": "disable"}
    assert engines.with_postgres_database("postgresql+psycopg://u@h:5433/postgres", "x") == \
        "postgresql+psycopg://u@h:5433/x"


def test_missing_engine_fails_in_ci_and_skips_otherwise(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="engine not available in CI: no server"):
        engines.engine_unavailable("no server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no server"):
        engines.engine_unavailable("no server")


def test_missing_postgres_url_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("SEGDB_TEST_POSTGRES_URL", raising=False)
    with pytest.raises(pytest.fail.Exception, match="SEGDB_TEST_POSTGRES_URL is not set"):
        engines.postgres_server_url()
    monkeypatch.setenv("SEGDB_TEST_POSTGRES_URL", "postgresql+psycopg://u@h/d")
    assert engines.postgres_server_url() == "postgresql+psycopg://u@h/d"
