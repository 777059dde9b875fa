"""Opening a DuckDB file: locks, read-only opens, and a catalog name that cannot collide with segdb's schema.

DuckDB-only, so its signatures say ``duckdb.DuckDBPyConnection``; the connection it returns is a
segdb.engines.base.Engine as it is (no wrapper).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

from ..errors import DatabaseError, LockedError, NotFoundError
from .result import first_line

DEFAULT_LOCK_TIMEOUT = 10.0  # seconds a writer waits for another segdb process to let go of the file


_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<holder>\S+)(?: \(PID (?P<pid>\d+)\))?")


def _lock_message(path: str, exc: BaseException) -> str | None:
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    match = _LOCK_RE.search(text)
    holder = ""
    if match:
        holder = f" by {match.group('holder').strip()}"
        if match.group("pid"):
            holder += f" (PID {match.group('pid')})"
    return (
        f"database {path} is locked{holder}; close that session or wait for it to finish, "
        "or raise lock_timeout"
    )


def missing_database_message(path: str) -> str:
    return (f"database {path} does not exist; check the path or $SEGDB_DATABASE, "
            "or create it by loading data: `segdb import FILE --table NAME`")


# DuckDB writes a new file's three 4 KB headers before anything else; a file shorter than that
# never finished its creation
_HEADERS_SIZE = 3 * 4096


def unfinished_file(path: str) -> bool:
    """Whether ``path`` is a DuckDB file whose creation never finished (the first open was killed
    or ran out of disk space): 0 bytes, or DuckDB's magic in a file shorter than its three headers,
    with no WAL holding anything. Such a file holds no data; a DuckDB file that merely has no tables
    is complete and opens as usual."""
    try:
        size = os.path.getsize(path)
        wal = os.path.getsize(path + ".wal") if os.path.exists(path + ".wal") else 0
        if size >= _HEADERS_SIZE or wal > 0:
            return False
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return size == 0 or head[8:12] == b"DUCK"


def remove_unfinished(path: str) -> bool:
    """Remove ``path`` (and its empty WAL) if it is unfinished and no process holds it (DuckDB locks
    its file with fcntl; a file being created right now is locked). True when removed."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): cannot tell whether another process is creating it
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        if not unfinished_file(path):
            return False
        os.remove(path)
        if os.path.exists(path + ".wal"):
            os.remove(path + ".wal")
        return True
    finally:
        os.close(fd)


def unfinished_message(path: str) -> str:
    return (f"database {path} is an unfinished file with no data in it ({os.path.getsize(path)} bytes: "
            "a first `segdb init` was killed or ran out of disk space?); run `segdb init` to start it "
            "afresh (or remove the file)")


def open_duckdb(path: str | os.PathLike, *, read_only: bool = False,
                lock_timeout: float = DEFAULT_LOCK_TIMEOUT, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open ``path``; wait up to ``lock_timeout`` seconds while another process holds it.

    Read-only opens never create a file. A file that is not writable is opened read-only by writers
    only if they ask for it; otherwise the error says the file is read-only.
    """
    path = str(path)
    if path != ":memory:":
        p = Path(path)
        if (read_only or not create) and not p.exists():
            raise NotFoundError(missing_database_message(path))
        if unfinished_file(path):  # holds nothing: a writer that may create the file starts afresh
            if read_only or not create or not remove_unfinished(path):
                raise DatabaseError(unfinished_message(path))
        if not read_only and p.exists() and not os.access(p, os.W_OK):
            raise DatabaseError(f"database {path} is read-only for this user; "
                                "fix its permissions or copy it somewhere writable")
        if not read_only and not p.exists() and not p.parent.exists():
            raise NotFoundError(f"cannot create database {path}: folder {p.parent} does not exist")
    deadline = time.monotonic() + max(0.0, lock_timeout)
    while True:
        try:
            return _connect(path, read_only)
        except duckdb.Error as exc:
            locked = _lock_message(path, exc)
            if locked is None:
                raise DatabaseError(f"cannot open database {path}: {first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                raise LockedError(locked) from exc
            time.sleep(0.2)


SCHEMA = "segdb"  # segdb's own tables live in this schema of the user's database


# DuckDB names a file's catalog after the file (segdb.duckdb -> catalog "segdb"). A catalog named
# like segdb's schema makes every `segdb.<table>` reference ambiguous, so such a file is attached
# under this name instead.
CATALOG_ALIAS = "segdb_file"


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path, read_only=read_only)
    if path == ":memory:" or con.execute("SELECT current_database()").fetchall()[0][0].lower() != SCHEMA:
        return con
    con.close()
    con = duckdb.connect(":memory:")
    try:
        # an in-memory main database would spill to ./.tmp; keep spills beside the file as usual
        con.execute("SET temp_directory = ?", [path + ".tmp"])
        con.execute(f"ATTACH ? AS {CATALOG_ALIAS}" + (" (READ_ONLY)" if read_only else ""), [path])
        con.execute(f"USE {CATALOG_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def new_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another connection to ``con``'s database, on the same catalog (see CATALOG_ALIAS)."""
    cursor = con.cursor()
    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    if catalog == CATALOG_ALIAS:
        cursor.execute(f"USE {CATALOG_ALIAS}")
    return cursor
