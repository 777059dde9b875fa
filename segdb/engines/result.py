"""What a non-DuckDB connection returns: the part of DuckDB's result interface segdb uses.

segdb's modules were written against DuckDB's Python connection (``execute(...).fetchall()``,
``sql(...).to_arrow_table()``); the PostgreSQL and Spark connections return these results so the
same modules run on every engine.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from ..errors import EngineError, redact_secrets  # noqa: F401  (EngineError: the adapters raise it)


# What both adapters recognise before translating: segdb's transaction statements, DuckDB's
# DESCRIBE, and the comment every sql/ file starts with.
TRANSACTION = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK)(\s+TRANSACTION)?\s*;?\s*\Z", re.IGNORECASE)
LEADING_COMMENTS = re.compile(r"\A(\s*--[^\n]*\n)+")
DESCRIBE = re.compile(r"\s*DESCRIBE\s+(?P<query>.*)\Z", re.IGNORECASE | re.DOTALL)


def plain(value):
    """numpy scalars and lists of them as Python values (the drivers adapt only Python types)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    return value


_QUERY_POINTER = re.compile(r"\n\s*LINE \d+:")


def first_line(exc: BaseException) -> str:
    """An engine's error as one line, without secrets. pyspark's and psycopg's messages run over
    many lines (a plan, a stack, a query excerpt): their first line is the cause. A DuckDB first
    line that ends in ':' announces a cause on the next lines (an extension's failed autoinstall:
    "... extension 'httpfs:" then why), so then every line before DuckDB's query excerpt
    (``LINE n:``) is kept, joined by spaces."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0]
    if first.rstrip().endswith(":") and type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return redact_secrets(" ".join(_QUERY_POINTER.split(text, 1)[0].split()))
    return redact_secrets(first)


class Result:
    """Rows already fetched (or an Arrow table), with DuckDB's cursor and relation methods."""

    def __init__(self, columns: list[str] | None = None, rows: list[tuple] | None = None,
                 table: pa.Table | None = None):
        self._table = table
        if table is not None:
            columns = list(table.column_names)
        self._columns = list(columns or [])
        self._rows = rows

    # -- cursor ------------------------------------------------------------------------------
    @property
    def description(self):
        return [(c, None, None, None, None, None, None) for c in self._columns] if self._columns else None

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def fetchall(self) -> list[tuple]:
        if self._rows is None:
            # by column, not via to_pylist(): result columns may share a name (Spark names
            # unaliased expressions by their text)
            columns = [c.to_pylist() for c in self._table.columns] if self._table is not None else []
            self._rows = list(zip(*columns)) if columns else []
        return list(self._rows)

    def fetchone(self):
        rows = self.fetchall()
        return rows[0] if rows else None

    # -- relation ----------------------------------------------------------------------------
    def to_arrow_table(self) -> pa.Table:
        if self._table is None:
            names, rows = self._columns, self._rows or []
            columns = [pa.array([r[i] for r in rows]) for i in range(len(names))]
            self._table = pa.Table.from_arrays(columns, names=names) if names else pa.table({})
        return self._table

    def to_arrow_reader(self, batch_size: int = 1 << 17) -> pa.RecordBatchReader:
        table = self.to_arrow_table()
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=batch_size))

    def arrow(self) -> pa.Table:
        return self.to_arrow_table()

    def df(self):
        return self.to_arrow_table().to_pandas()

    def fetchdf(self):
        return self.df()


class LazyRelation:
    """DuckDB's lazy relation (what ``con.sql(...)`` returns): runs on first use, then answers from
    the fetched :class:`Result`. Subclasses say how to run it (``_run``)."""

    def __init__(self, con, sql: str, params):
        self.con, self._sql, self._params = con, sql, params
        self._result: Result | None = None

    def _run(self) -> Result:
        raise NotImplementedError

    def _fetch(self) -> Result:
        if self._result is None:
            self._result = self._run()
        return self._result

    def to_arrow_table(self) -> pa.Table:
        return self._fetch().to_arrow_table()

    def to_arrow_reader(self, batch_size: int = 1 << 17):
        return self._fetch().to_arrow_reader(batch_size)

    def arrow(self) -> pa.Table:
        return self.to_arrow_table()

    def fetchall(self):
        return self._fetch().fetchall()

    def df(self):
        return self._fetch().df()

    @property
    def description(self):
        return self._fetch().description

    @property
    def columns(self):
        return self._fetch().columns
