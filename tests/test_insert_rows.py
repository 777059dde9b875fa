"""segdb.store.database.insert_rows: one-row INSERT statements run as bound multi-row VALUES on DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from segdb.store import database
from segdb.store.sqlfiles import load_sql


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "rows.duckdb"))
    c.execute("CREATE TABLE t (a BIGINT, b DOUBLE, c VARCHAR)")
    yield c
    c.close()


def test_rows_with_nulls_quotes_and_unicode_arrive_as_given(con, monkeypatch):
    monkeypatch.setattr(database, "ROWS_PER_INSERT", 2)  # three statements for five rows
    rows = [(1, None, None), (2, 2.5, "it's"), (None, -0.0, "naïve; DROP TABLE t"), (4, 1e300, ""),
            (5, 3.0, "多")]
    database.insert_rows(con, "-- a comment\nINSERT INTO t (a, b, c)\nVALUES (?, ?, ?);", rows)
    assert con.execute("SELECT a, b, c FROM t ORDER BY rowid").fetchall() == [tuple(r) for r in rows]


def test_a_statement_of_another_shape_goes_through_executemany(con):
    database.insert_rows(con, "INSERT INTO t SELECT ?, ?, upper(?)", [(1, 1.0, "x"), (2, 2.0, "y")])
    assert con.execute("SELECT * FROM t ORDER BY a").fetchall() == [(1, 1.0, "X"), (2, 2.0, "Y")]


def test_no_rows_runs_nothing(con):
    database.insert_rows(con, "INSERT INTO nowhere VALUES (?)", [])  # the table does not exist


def test_the_shipped_insert_files_have_the_one_row_shape():
    for name in ("insert_centroid", "insert_segment", "insert_feature_stats", "insert_feature_column",
                 "insert_segment_match"):
        assert database._ONE_ROW_VALUES_RE.match(load_sql(name)), name
