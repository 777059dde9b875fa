"""Loading Arrow batches into a table of another engine (``segdb import`` on PostgreSQL and Spark)."""

from __future__ import annotations

import pyarrow as pa

from . import dialect_of
from .quoting import quote_identifier
from .result import EngineError, first_line

_PG_TYPES = {
    pa.int8(): "smallint", pa.int16(): "smallint", pa.int32(): "integer", pa.int64(): "bigint",
    pa.float32(): "real", pa.float64(): "double precision", pa.bool_(): "boolean", pa.string(): "text",
    pa.large_string(): "text", pa.date32(): "date", pa.timestamp("us"): "timestamp",
}


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"numeric({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    return _PG_TYPES.get(t, "text")


def load_batches(con, table: str, batches: pa.RecordBatchReader, *, replace: bool = False) -> int:
    """Create ``table`` in the connection's current schema from ``batches``; returns the row count."""
    if dialect_of(con) == "postgresql":
        return _load_postgres(con, table, batches, replace)
    return _load_spark(con, table, batches, replace)


def _load_postgres(con, table: str, batches, replace: bool) -> int:
    from psycopg import sql

    columns = sql.SQL(", ").join(
        sql.SQL(f"{quote_identifier(f.name, 'postgresql')} {_pg_type(f.type)}") for f in batches.schema)
    name = sql.SQL(quote_identifier(table, "postgresql"))
    rows = 0
    raw = con.raw
    try:
        with raw.transaction():  # all or nothing: a bad batch leaves no half-loaded table
            if replace:
                raw.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
            raw.execute(sql.SQL("CREATE TABLE {} ({})").format(name, columns))
            with raw.cursor() as cur:
                with cur.copy(sql.SQL("COPY {} FROM STDIN").format(name)) as copy:
                    for batch in batches:
                        for row in zip(*(c.to_pylist() for c in batch.columns)):
                            copy.write_row(row)
                        rows += batch.num_rows
    except Exception as exc:
        raise EngineError(first_line(exc)) from exc
    return rows


def _load_spark(con, table: str, batches, replace: bool) -> int:
    data = batches.read_all()
    try:
        df = con.session.createDataFrame(data.to_pandas())
        df.write.mode("overwrite" if replace else "errorifexists").saveAsTable(
            f"{quote_identifier(con.database, 'spark')}.{quote_identifier(table, 'spark')}")
    except Exception as exc:
        raise EngineError(first_line(exc)) from exc
    return data.num_rows
