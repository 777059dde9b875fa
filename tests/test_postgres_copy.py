"""PostgreSQL's COPY paths (segdb.engines.pg_copy): results read in the binary format, and the
fallback to CSV when a column is not fixed-width or a value is NULL; rows appended with COPY inside
a transaction that is rolled back leave nothing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from segdb.engines import open_connection, pg_copy


@pytest.fixture
def con(postgres_url):
    c, _ = open_connection(postgres_url)
    try:
        yield c
    finally:
        c.close()


def test_binary_copy_reads_integers_and_doubles_exactly(con):
    query = ("SELECT g::bigint AS k, g::integer AS i, g::smallint AS s, (g / 7.0)::float8 AS x, "
             "-1e308::float8 * (g % 2) AS y FROM generate_series(1, 5000) AS g")
    data = con._copy_out(query, None, "FORMAT binary")
    table = pg_copy.read(data, ["k", "i", "s", "x", "y"], ["int8", "int4", "int2", "float8", "float8"])
    assert table is not None  # the fixed layout: no fallback
    assert table.schema.types == [pa.int64(), pa.int32(), pa.int16(), pa.float64(), pa.float64()]
    g = np.arange(1, 5001)
    assert table.column("k").to_pylist() == g.tolist()
    assert table.column("s").to_pylist() == g.tolist()
    assert table.column("x").to_numpy().tolist() == (g / 7.0).tolist()  # bit for bit
    assert table.column("y").to_numpy().tolist() == (-1e308 * (g % 2)).tolist()
    assert con.copy_arrow(query, None).equals(table)


def test_a_null_or_a_text_column_falls_back_to_csv(con):
    with_null = "SELECT g::bigint AS k, CASE WHEN g = 3 THEN NULL ELSE g / 2.0 END::float8 AS x FROM generate_series(1, 4) AS g"
    assert pg_copy.read(con._copy_out(with_null, None, "FORMAT binary"), ["k", "x"], ["int8", "float8"]) is None
    assert con.copy_arrow(with_null, None).to_pylist() == [
        {"k": 1, "x": 0.5}, {"k": 2, "x": 1.0}, {"k": 3, "x": None}, {"k": 4, "x": 2.0}]
    text = "SELECT '007'::text AS k, 1.5::float8 AS x"
    assert con.copy_arrow(text, None).to_pylist() == [{"k": "007", "x": 1.5}]


@pytest.mark.parametrize("key_type", ["bigint", "text"])
def test_copy_in_appends_inside_the_transaction(con, key_type):
    con.execute(f"CREATE TABLE t (run_id BIGINT NOT NULL, k {key_type} NOT NULL, s INTEGER NOT NULL, "
                "d DOUBLE PRECISION NOT NULL)")
    keys = np.array([5, 3, 9], dtype=np.int64)
    values = [np.full(3, 7, dtype=np.int64), keys if key_type == "bigint" else pa.array(["a'b", "", "\\c"]),
              np.array([1, 2, 3], dtype=np.int32), np.array([0.1, 2.5, 1e-300])]
    types = ["int8", "int8" if key_type == "bigint" else "text", "int4", "float8"]
    con.execute("BEGIN TRANSACTION")
    con.copy_in("t", ["run_id", "k", "s", "d"], values, types)
    con.execute("ROLLBACK")
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    con.execute("BEGIN TRANSACTION")
    con.copy_in("t", ["run_id", "k", "s", "d"], values, types)
    con.execute("COMMIT")
    rows = con.execute("SELECT run_id, k, s, d FROM t ORDER BY s").fetchall()
    want_keys = [5, 3, 9] if key_type == "bigint" else ["a'b", "", "\\c"]
    assert rows == [(7, k, s, d) for k, s, d in zip(want_keys, [1, 2, 3], [0.1, 2.5, 1e-300])]


def test_encode_in_chunks_is_the_same_stream_as_in_one_piece():
    n = 10
    columns = [(np.arange(n, dtype=np.int64) * 3, "int8"), (np.arange(n, dtype=np.int32), "int4"),
               (np.linspace(-1, 1, n), "float8")]
    whole = b"".join(pg_copy.encode(columns, rows_per_chunk=n))
    assert b"".join(pg_copy.encode(columns, rows_per_chunk=3)) == whole  # 3 + 3 + 3 + 1 rows
    table = pg_copy.read(whole, ["a", "b", "c"], ["int8", "int4", "float8"])
    assert table.column("a").to_pylist() == (np.arange(n) * 3).tolist()
    assert table.column("c").to_numpy().tolist() == np.linspace(-1, 1, n).tolist()
    assert b"".join(pg_copy.encode([(np.array([], dtype=np.int64), "int8")])) == \
        pg_copy.SIGNATURE + bytes(8) + pg_copy.TRAILER


def test_copy_in_of_more_rows_than_one_chunk(con):
    n = pg_copy.ROWS_PER_CHUNK * 2 + 5
    con.execute("CREATE TABLE big (k BIGINT NOT NULL, d DOUBLE PRECISION NOT NULL)")
    con.copy_in("big", ["k", "d"], [np.arange(n, dtype=np.int64), np.arange(n) / 3.0], ["int8", "float8"])
    rows = con.execute("SELECT count(*), count(DISTINCT k), min(k), max(k), sum(d * 3) FROM big").fetchall()
    assert rows[0][:4] == (n, n, 0, n - 1)
    assert rows[0][4] == pytest.approx(n * (n - 1) / 2, rel=1e-12)
    assert con.execute("SELECT d FROM big WHERE k = ?", [n - 1]).fetchall() == [((n - 1) / 3.0,)]
