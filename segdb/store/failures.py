"""An error that escaped every command's own handling, said as one line when its cause is known.

Commands translate the engine errors they expect (segdb.store.database.translate); what is left is
the database or the disk failing under them: a truncated or corrupt DuckDB file, a segdb table
dropped by hand, a full disk while writing a report. The CLI edge hands such an error here once;
anything not recognised as the database's or the disk's (a bug in segdb) stays a traceback.
"""

from __future__ import annotations

import errno
import re

from .sqlfiles import segdb_tables
from ..engines.result import first_line
from ..errors import DatabaseError, EngineError, SchemaError, SegdbError, redact_secrets

# the modules whose exceptions are the database's, not a bug of segdb's
_DRIVER_MODULES = ("duckdb", "_duckdb", "sqlalchemy", "psycopg", "pyspark", "py4j")

# DuckDB, PostgreSQL and Spark naming a table that does not exist
_MISSING_TABLE = re.compile(
    r"Table with name (?P<a>\w+) does not exist"
    r"|relation \"segdb\.(?P<b>\w+)\" does not exist"
    r"|table or view `?segdb`?\.`?(?P<c>\w+)`? cannot be found", re.IGNORECASE)


def missing_segdb_table(exc: BaseException) -> str | None:
    """The name of the table an engine's error says does not exist, if it is one of segdb's."""
    match = _MISSING_TABLE.search(str(exc))
    if match is None:
        return None
    table = match.group("a") or match.group("b") or match.group("c")
    return table if table in segdb_tables() else None


def missing_table_error(table: str, database: str) -> SchemaError:
    return SchemaError(
        f"segdb's table segdb.{table} is missing from {redact_secrets(str(database))}: segdb's schema "
        "there is damaged (dropped by hand?); restore the database from a backup (`segdb init` does "
        "not recreate a table its ledger says exists)")


_DAMAGED = ("Could not read enough bytes", "Corrupt database file",
            "Checksum", "checksum", "is truncated", "Invalid block", "out of range of file")

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def is_driver_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _DRIVER_MODULES


def explain(exc: BaseException, database: str) -> SegdbError | None:
    """``exc`` as one line: a segdb error whose engine cause is known (a missing segdb table, a
    damaged file, a full disk) is reworded to name that cause; other segdb errors stay as they are;
    a driver's error or an OSError becomes one line; anything else (a bug) gives None."""
    if isinstance(exc, SegdbError):
        cause = exc.__cause__
        # a full disk: segdb's message already says so, in the terms of what it was doing
        known = (_known(cause, database, disk=False)
                 if cause is not None and is_driver_error(cause) else None)
        return known or (_known(exc, database) if isinstance(exc, EngineError) else None) or exc
    return _known(exc, database) or (
        DatabaseError(f"the database {redact_secrets(str(database))} failed: {first_line(exc)}")
        if is_driver_error(exc) else None)


def _known(exc: BaseException, database: str, disk: bool = True) -> SegdbError | None:
    # a driver's error, segdb's EngineError or an OSError whose cause segdb recognises
    database = redact_secrets(str(database))
    if isinstance(exc, OSError) and not is_driver_error(exc):
        return os_error(exc)
    text = str(exc)
    table = missing_segdb_table(exc)
    # DuckDB's message names the table without its schema: the query it quotes must say segdb.
    # (segdb.store.database.translate asks the catalog instead, where it has the connection)
    if table and re.search(rf"\bsegdb\W{{1,3}}{table}\b", text, re.IGNORECASE):
        return missing_table_error(table, database)
    if "not a valid DuckDB database file" in text:
        return DatabaseError(
            f"{database} is not a DuckDB database file ({first_line(exc)}); check the path or "
            "$SEGDB_DATABASE, or restore the file from a backup")
    if any(marker in text for marker in _DAMAGED):
        return DatabaseError(
            f"the database file {database} is damaged (truncated or corrupt: {first_line(exc)}); "
            "restore it from a backup, or move it away and start again with `segdb init`")
    if disk and "No space left on device" in text:
        return DatabaseError(f"the disk holding {database} is full ({first_line(exc)}); free space "
                             "there (or move the database) and run the command again")
    return None


def os_error(exc: OSError, where: str | None = None) -> SegdbError | None:
    """A full disk or a missing permission while writing ``where`` (default: the error's file) as
    one line; None for any other OSError."""
    where = where or exc.filename or "a file"
    if exc.errno in _DISK_FULL:
        return DatabaseError(f"cannot write {where}: the disk is full ({exc.strerror}); free space "
                             "there (or write elsewhere) and run the command again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DatabaseError(f"cannot write {where}: {exc.strerror}; check its folder's permissions "
                             "or choose another path")
    return None
