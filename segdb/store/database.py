"""Rows as dicts, transactions, and translating the engines' errors into segdb's one-line errors."""

from __future__ import annotations

import contextlib
import re

from ..engines.result import first_line
from ..errors import DatabaseError, DefinitionError, LockedError, SegdbError
from .failures import missing_segdb_table, missing_table_error
from ..engines.base import ENGINE_ERRORS, Engine


def dict_rows(con: Engine, sql: str, params=()) -> list[dict]:
    """Every row of ``sql`` as a dict keyed by column name (all fetched: no unfinished result)."""
    rel = con.execute(sql, list(params))
    names = [c[0] for c in rel.description]
    return [dict(zip(names, r)) for r in rel.fetchall()]


def translate(exc: BaseException, what: str, con: Engine | None = None) -> SegdbError:
    """Wrap an engine's error (a ``duckdb.Error``, or the adapters' EngineError: ENGINE_ERRORS) raised
    while doing ``what`` into one line. With ``con``, an error about a missing segdb table is
    checked against the catalog and then blamed on the damaged schema, not on ``what``."""
    text = first_line(exc)
    if con is not None:
        from .locks import lock_timeout_message
        waited = lock_timeout_message(con, exc)  # PostgreSQL: names the session it waited for
        if waited is not None:
            return LockedError(f"{what} failed: {waited}")
    table = missing_segdb_table(exc) if con is not None else None
    if table is not None and _missing(con, table):
        return missing_table_error(table, _name(con))
    if "No space left on device" in str(exc) or "Could not write" in str(exc):
        return DatabaseError(f"{what} failed: the disk is full or not writable ({text}); "
                             "nothing was changed; free space there (or move the database) and retry")
    if "write-write conflict" in str(exc) or "Conflict on " in str(exc):
        # Another connection of this process wrote the same rows or views and committed first.
        return DatabaseError(f"{what} failed: another connection wrote the same rows or views at "
                             "the same time and committed first; nothing was changed; run it again")
    return DatabaseError(f"{what} failed: {text}")


def _name(con: Engine) -> str:
    """The database ``con`` is connected to, for a message: the adapters' URL, DuckDB's file."""
    from ..engines import dialect_of
    if dialect_of(con) != "duckdb":
        return getattr(con, "url", None) or "the database"
    try:
        rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    except ENGINE_ERRORS:
        rows = []
    return rows[0][0] if rows and rows[0][0] else "the database"


def _missing(con: Engine, table: str) -> bool:
    from ..engines import catalog
    try:
        return catalog.table_type(con, "segdb", table) is None
    except ENGINE_ERRORS:
        return False


@contextlib.contextmanager
def transaction(con: Engine, what: str):
    """BEGIN ... COMMIT, rolling back on any error; engine errors become one-line segdb errors."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(*ENGINE_ERRORS):
            con.execute("ROLLBACK")
        if isinstance(exc, ENGINE_ERRORS):
            from .locks import lock_timeout_message
            waited = lock_timeout_message(con, exc)  # PostgreSQL: names the session it waited for
            if waited is not None:
                raise LockedError(f"{what} failed: {waited}; nothing was changed") from exc
            raise translate(exc, what, con) from exc
        raise


_ONE_ROW_VALUES_RE = re.compile(r"^(?P<head>.*?\bVALUES\s*)(?P<row>\(\s*\?(?:\s*,\s*\?)*\s*\))\s*;?\s*$",
                                re.DOTALL | re.IGNORECASE)
ROWS_PER_INSERT = 1000


def insert_rows(con, statement: str, rows) -> None:
    """Run the one-row ``INSERT ... VALUES (?, ..., ?)`` ``statement`` for every row of ``rows``.

    On DuckDB as multi-row ``VALUES (?, ...), (?, ...)`` statements, every value still bound:
    DuckDB's ``executemany`` executes once per row (48 centroid rows took 25-45 ms of a refresh).
    Other engines, and statements of another shape, go through ``executemany`` (the PostgreSQL
    and Spark connections batch it themselves)."""
    from ..engines import dialect_of
    rows = [list(r) for r in rows]
    if not rows:
        return
    match = _ONE_ROW_VALUES_RE.match(statement)
    if dialect_of(con) != "duckdb" or match is None:
        con.executemany(statement, rows)
        return
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        con.execute(match.group("head") + ", ".join([match.group("row")] * len(chunk)),
                    [v for r in chunk for v in r])


READ_ONLY_VIOLATION = "in a read-only transaction"  # PostgreSQL's words for SQLSTATE 25006


@contextlib.contextmanager
def read_only_reads(con: Engine, name: str):
    """The reads of segmentation ``name``'s source (its checks, statistics and sample) in one READ
    ONLY transaction on PostgreSQL: a source or feature expression that calls nextval(),
    lo_import(), setval() or any function that writes fails here, before anything is written,
    with one line naming the segmentation and the cause; the write-back's scoring pass then never
    runs such a source. A function PostgreSQL lets write in a READ ONLY transaction (lo_import)
    is caught by the transaction id it was given, and the transaction is rolled back, never
    committed. The transaction's lock_timeout bounds its reads' locks too. Elsewhere a
    no-op (DuckDB: segdb.define.access refuses external access instead)."""
    from ..engines import dialect_of
    if dialect_of(con) != "postgresql":
        yield con
        return
    from .sqlfiles import load_sql
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("SET TRANSACTION READ ONLY")
        yield con
        if con.native(load_sql("postgres_transaction_wrote")).fetchall()[0][0]:
            raise DefinitionError(
                f"the source of {name!r} changes the database (a function it calls wrote inside "
                "segdb's read-only transaction, e.g. lo_import()); segdb reads sources without side "
                "effects: remove that call from the source SELECT and the feature expressions; "
                "nothing was written")
        con.execute("ROLLBACK")  # reads only: nothing of them is kept
    except BaseException as exc:
        with contextlib.suppress(*ENGINE_ERRORS):
            con.execute("ROLLBACK")
        text = exc.message if isinstance(exc, SegdbError) else first_line(exc)
        if READ_ONLY_VIOLATION in text:
            cause = re.search(r"cannot execute [^;]*? in a read-only transaction", text)
            raise DefinitionError(
                f"the source of {name!r} changes the database ({cause.group(0) if cause else text}); "
                "segdb reads sources without side effects: remove that call from the source SELECT "
                "and the feature expressions; nothing was written") from None
        if isinstance(exc, ENGINE_ERRORS):
            from .locks import lock_timeout_message
            waited = lock_timeout_message(con, exc)
            if waited is not None:
                raise LockedError(f"reading the source of {name!r} failed: {waited}") from exc
            raise translate(exc, f"reading the source of {name!r}") from exc
        raise
