"""One writer per segmentation on Spark when segdb cannot lock the warehouse folder: a lock table
in the catalog.

A local Spark warehouse is locked as a whole by segdb.engines.spark (an fcntl lock: it dies with
its process). A cluster's metastore, Spark Connect, or a notebook's own SparkSession have no such
folder lock, so two writers of one segmentation could interleave. There, a command that changes a
segmentation creates the table ``segdb.segdb_lock_<key>`` first. Creating a table that exists
fails in every Spark catalog (Hive metastore, Unity, Glue: the name is unique in the catalog's own
database), so only one session at a time holds it; it appends one row naming itself (host, pid,
command, since) and drops the table when done.

Unlike PostgreSQL's advisory lock, the table outlives a killed process. A waiter therefore never
breaks it on its own (two waiters breaking one stale lock would both think they hold it); after
lock_timeout it fails in one line naming the holder and how to remove a dead holder's lock:
``segdb unlock NAME`` (:func:`unlock`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from ..engines.base import ENGINE_ERRORS
from ..errors import LockedError

POLL_SECONDS = 0.5
_ALREADY_EXISTS = ("TABLE_OR_VIEW_ALREADY_EXISTS", "already exists", "AlreadyExistsException")


def lock_table(name: str) -> str:
    """The lock table of segmentation ``name``: a fixed-form name (any segmentation name fits)."""
    return f"segdb.segdb_lock_{zlib.crc32(str(name).encode('utf-8')):08x}"


@contextlib.contextmanager
def catalog_lock(con, name: str, command: str, *,
                 on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold segmentation ``name``'s catalog lock while the block runs (see the module's docstring)."""
    table = lock_table(name)
    timeout = float(con.lock_timeout)
    deadline = time.monotonic() + max(0.0, timeout)
    said = False
    while not _try_create(con, table):
        holder = _holder(con, table)
        if time.monotonic() >= deadline:
            raise LockedError(
                f"segmentation {name!r} is being changed by another session{holder}; segdb waited "
                f"{timeout:g} s; wait for it to finish, or raise lock_timeout; if that process is gone "
                f"(killed), remove its lock with `segdb unlock {name}`")
        if not said:
            (on_wait or (lambda message: None))(
                f"waiting up to {timeout:g} s for segmentation {name!r}: another session is changing it{holder}")
            said = True
        time.sleep(POLL_SECONDS)
    try:
        con.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?)",
                    [socket.gethostname(), os.getpid(), _command_line(command, name),
                     datetime.now(timezone.utc).replace(tzinfo=None)])
        yield
    finally:
        with contextlib.suppress(*ENGINE_ERRORS):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def unlock(con, name: str) -> str | None:
    """Remove segmentation ``name``'s catalog lock; returns what it said of its holder ('' if it
    named none), None if there was no lock. For a lock left by a killed process only."""
    table = lock_table(name)
    if _holder_rows(con, table) is None:  # no lock table
        return None
    holder = _holder(con, table)
    con.execute(f"DROP TABLE IF EXISTS {table}")
    return holder.strip(" ()")


def _try_create(con, table: str) -> bool:
    try:
        con.execute(f"CREATE TABLE {table} (host STRING, pid BIGINT, command STRING, since TIMESTAMP)")
        return True
    except ENGINE_ERRORS as exc:
        if any(marker in str(exc) for marker in _ALREADY_EXISTS):
            return False
        raise


def _holder_rows(con, table: str):
    try:
        return con.execute(f"SELECT host, pid, command, since FROM {table} ORDER BY since LIMIT 1").fetchall()
    except ENGINE_ERRORS:
        return None  # no such table (never created, or dropped meanwhile)


def _holder(con, table: str) -> str:
    """' (host h, pid 12, segdb refresh shop, since 2026-11-28 16:00:01 UTC)', or '' if the holder
    has not named itself yet (it creates the table, then writes its row) or has let go already."""
    rows = _holder_rows(con, table)
    if not rows:
        return ""
    host, pid, command, since = rows[0]
    when = since.strftime("%Y-%m-%d %H:%M:%S UTC") if since is not None else "an unknown time"
    return f" (host {host}, pid {pid}, {command}, since {when})"


def _command_line(command: str, name: str) -> str:
    """'segdb refresh shop' from the command line, 'refresh shop from airflow' from a program that
    calls the Python API (``python -m pkg`` names ``pkg``)."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    program = os.path.basename(path)
    if program == "__main__.py":
        program = os.path.basename(os.path.dirname(path)) or program
    return f"segdb {command} {name}" if program == "segdb" else f"{command} {name} from {program}"
