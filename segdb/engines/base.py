"""What segdb needs from a database: the :class:`Engine` protocol, and the errors it may raise.

segdb's modules take an ``Engine``. DuckDB's own connection (``duckdb.DuckDBPyConnection``) is one
as it is, structurally, with no wrapper in between (the embedded default stays as fast as DuckDB);
the PostgreSQL and Spark connections (segdb.engines.adapter) implement the same members over their
drivers and translate segdb's SQL (DuckDB's dialect) into theirs.

Everything else segdb asks of a database is a function of the connection, in one place each:

* the dialect name: ``segdb.engines.dialect_of(con)`` ('duckdb', 'postgresql' or 'spark'; the
  adapters carry it as ``dialect``, DuckDB's connection is recognised by its type);
* catalog look-ups (which tables and views exist): segdb.engines.catalog;
* quoting identifiers and literals: segdb.engines.quoting (``quote_identifier(name, dialect)``);
* a transaction that rolls back on error and reports one line: segdb.store.database.transaction,
  over ``BEGIN TRANSACTION`` / ``COMMIT`` / ``ROLLBACK`` statements (or the methods below).

Errors: DuckDB raises ``duckdb.Error``; the adapters raise segdb.errors.EngineError (a
segdb.errors.DatabaseError) for every error of their driver. ``ENGINE_ERRORS`` is both, for the
handlers that turn an engine's error into a message with context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence, runtime_checkable

import duckdb

from ..errors import EngineError

if TYPE_CHECKING:
    import pyarrow as pa

# What a statement on any engine may raise: DuckDB's own errors, and the adapters' driver errors
# as segdb's EngineError. `except ENGINE_ERRORS` catches exactly what `except duckdb.Error` caught
# while EngineError subclassed duckdb.Error.
ENGINE_ERRORS: tuple[type[BaseException], ...] = (duckdb.Error, EngineError)


@runtime_checkable
class Rows(Protocol):
    """What ``execute`` returns: a cursor over the rows already run (DuckDB returns the connection)."""

    @property
    def description(self) -> Any: ...  # [(name, ...), ...], or None for a statement without rows

    def fetchall(self) -> list[tuple]: ...

    def fetchone(self) -> tuple | None: ...


@runtime_checkable
class Relation(Protocol):
    """What ``sql`` returns: a query that runs when first read (DuckDB's relation)."""

    @property
    def description(self) -> Any: ...

    @property
    def columns(self) -> list[str]: ...

    def fetchall(self) -> list[tuple]: ...

    def to_arrow_table(self) -> pa.Table: ...

    def to_arrow_reader(self, batch_size: int = ...) -> pa.RecordBatchReader: ...

    def df(self) -> Any: ...  # a pandas DataFrame


@runtime_checkable
class Engine(Protocol):
    """A connection segdb runs on: DuckDB's connection, or a segdb.engines.adapter.Adapter.

    Statements are DuckDB SQL with ``?`` placeholders; values are always bound, never spliced.
    """

    def execute(self, query: str, parameters: Sequence[Any] | None = None, /) -> Rows:
        """Run ``query`` (one statement or several; the last one's rows are returned)."""

    def executemany(self, query: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        """Run the one statement ``query`` once per row of ``parameters``."""

    def sql(self, query: str, /, *, params: Sequence[Any] | None = None) -> Relation | None:
        """``query`` as a lazy relation (None for a statement that returns no rows, on DuckDB)."""

    def extract_statements(self, query: str, /) -> list:
        """The statements of ``query``: objects with ``.query`` and ``.type`` (a duckdb.StatementType)."""

    def begin(self) -> Any: ...

    def commit(self) -> Any: ...

    def rollback(self) -> Any: ...

    def cursor(self) -> Engine:
        """Another connection to the same database (one per thread)."""

    def close(self) -> None: ...


__all__ = ["Engine", "Rows", "Relation", "ENGINE_ERRORS", "EngineError"]
