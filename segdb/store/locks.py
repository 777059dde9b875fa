"""One writer per segmentation on PostgreSQL: a session-level advisory lock, and the one-line
messages that name the session a lock waits for.

Every command that changes a segmentation's definition, runs or current-run pointer (create, refresh,
rollback, prune, naming a segment, apply, assign, a recorded drift check) holds :func:`segmentation_lock` from before it reads the
current run until after its COMMIT, so a second refresh computes its segment matching and
transitions against the first one's run, never a stale one. The lock is session-level: a killed
process's session ends and PostgreSQL lets go of it. The wait is bounded by the connection's
``lock_timeout`` (``--lock-timeout``), as is every lock any statement takes (the PostgreSQL
connection sets ``lock_timeout`` for its session and again at each BEGIN); a timeout becomes one line naming the other
session: pid, user, application_name, client address, since when and what it runs.

DuckDB needs none of this: one process at a time opens the file for writing (segdb.engines.duckdb
waits for it), and Spark's local metastore is locked by segdb.engines.spark. Spark on a local master
has one JVM per warehouse, so its other writers are threads of this process (a lock of the process
keeps them apart); on a cluster or Spark Connect a lock table in the catalog does
(segdb.store.catalog_lock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import zlib
from collections.abc import Callable, Iterator

from ..engines import dialect_of
from ..engines.base import ENGINE_ERRORS
from ..engines.quoting import quote_identifier
from ..errors import LockedError
from ..engines.result import LEADING_COMMENTS
from .sqlfiles import load_sql

LOCK_TIMEOUT_SQLSTATE = "55P03"
# The first half of every segdb advisory lock key (the second is the segmentation's): other
# applications' advisory locks on the same database keep their own keys.
LOCK_CLASS = 0x5E6DB

_log = logging.getLogger("segdb")


def _sql(name: str) -> str:
    """A PostgreSQL statement of sql/, without its comment block: other sessions see the statement
    itself in pg_stat_activity (run untranslated: con.native)."""
    return LEADING_COMMENTS.sub("", load_sql(name))


def _signed32(value: int) -> int:
    return value - 2 ** 32 if value >= 2 ** 31 else value


def lock_key(name: str) -> tuple[int, int]:
    """(class, key) as int4 values; two names that share a key serialize each other, nothing worse."""
    return LOCK_CLASS, _signed32(zlib.crc32(name.encode("utf-8")))


def _unsigned(key: tuple[int, int]) -> list[int]:
    return [k & 0xFFFFFFFF for k in key]


@contextlib.contextmanager
def segmentation_lock(con, name: str, command: str, *,
                      on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold segmentation ``name``'s lock while the block runs (PostgreSQL: an advisory lock; Spark:
    a lock of the process on a local master, else a catalog lock; DuckDB: a no-op).

    ``command`` ("refresh", "rollback", ...) names this session to others. When another session
    holds the lock, ``on_wait(message)`` is called once (default: logged), then the lock is waited
    for up to the connection's lock_timeout; after that :class:`LockedError` names the holder."""
    if dialect_of(con) == "spark":
        if getattr(con, "local_metastore", False):
            # one JVM: other processes are kept out by the warehouse's file lock (segdb.engines.spark),
            # other threads of this one by a lock of the process
            with _thread_lock(name, command, con.lock_timeout, on_wait or _log.warning):
                yield
            return
        # a cluster or Spark Connect: other processes write too, through the catalog
        from .catalog_lock import catalog_lock
        with catalog_lock(con, name, command, on_wait=on_wait or _log.warning):
            yield
        return
    if dialect_of(con) != "postgresql":
        yield
        return
    name = str(name)
    con.label(f"segdb {command} {name} (pid {os.getpid()})")  # the server knows only its own pid
    key = lock_key(name)
    if not con.native(_sql("postgres_segmentation_lock_try"), list(key)).fetchall()[0][0]:
        _wait(con, name, key, on_wait)
    try:
        yield
    finally:
        # a broken connection has lost the lock with its session already
        with contextlib.suppress(*ENGINE_ERRORS):
            con.native(_sql("postgres_segmentation_unlock"), list(key))


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_HOLDERS: dict[str, str] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _thread_lock(name: str, command: str, timeout: float, on_wait) -> Iterator[None]:
    """Segmentation ``name``'s lock among the threads of this process (a local Spark session)."""
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        holder = _THREAD_HOLDERS.get(name, "")
        on_wait(f"waiting up to {timeout:g} s for segmentation {name!r}: another thread of this process "
                f"is changing it{holder}")
        if not lock.acquire(timeout=max(0.0, timeout)):
            raise LockedError(f"segmentation {name!r} is being changed by another thread of this process"
                              f"{_THREAD_HOLDERS.get(name, holder)}; segdb waited {timeout:g} s; wait for "
                              "it to finish, or raise lock_timeout")
    _THREAD_HOLDERS[name] = f" ({command}, thread {threading.current_thread().name!r})"
    try:
        yield
    finally:
        _THREAD_HOLDERS.pop(name, None)
        lock.release()


def _wait(con, name: str, key: tuple[int, int], on_wait) -> None:
    timeout = con.lock_timeout
    holder = _segmentation_holder(con, key)
    notice = (f"waiting up to {timeout:g} s for segmentation {name!r}: another session is changing it"
              f"{describe_session(holder)}")
    if timeout > 0:
        (on_wait or _log.warning)(notice)
        con.execute("BEGIN TRANSACTION")  # its lock_timeout bounds the wait (SET LOCAL)
        try:
            con.native(_sql("postgres_segmentation_lock"), list(key))
            con.execute("COMMIT")  # the session-level lock stays
            return
        except ENGINE_ERRORS as exc:
            with contextlib.suppress(*ENGINE_ERRORS):
                con.execute("ROLLBACK")
            if getattr(exc, "sqlstate", None) != LOCK_TIMEOUT_SQLSTATE:
                raise
        holder = _segmentation_holder(con, key) or holder
    raise LockedError(f"segmentation {name!r} is being changed by another session"
                      f"{describe_session(holder)}; segdb waited {timeout:g} s; wait for it to "
                      "finish or end that session, or raise lock_timeout")


def _segmentation_holder(con, key: tuple[int, int]) -> dict | None:
    rows = con.native(_sql("postgres_segmentation_lock_holder"), _unsigned(key))
    names = [c[0] for c in rows.description]
    found = rows.fetchall()
    return dict(zip(names, found[0])) if found else None


def describe_session(holder: dict | None) -> str:
    """' (server pid 12, user bob, application 'segdb refresh shop (pid 34)', client 10.0.0.5, since 12:00:01
    UTC, running: SELECT ...)', or '' when that session has gone already."""
    if holder is None:
        return ""
    parts = [f"server pid {holder['pid']}", f"user {holder['usename']}"]
    if holder.get("application_name"):
        parts.append(f"application {holder['application_name']!r}")
    parts.append(f"client {holder['client_addr']}" if holder.get("client_addr") else "local socket")
    since = holder.get("since")
    if since is not None:
        parts.append("since " + since.astimezone(_utc()).strftime("%Y-%m-%d %H:%M:%S UTC"))
    query = " ".join(LEADING_COMMENTS.sub("", str(holder.get("query") or "")).split())
    if len(query) > 80:
        query = query[:77] + "..."
    state = holder.get("state") or "unknown state"
    parts.append(f"running: {query}" if state == "active" else
                 f"{state}" + (f" after: {query}" if query else ""))
    return " (" + ", ".join(parts) + ")"


def _utc():
    from datetime import timezone
    return timezone.utc


def lock_timeout_message(con, exc: BaseException) -> str | None:
    """For a PostgreSQL lock timeout (SQLSTATE 55P03) of a statement that named some relations:
    one line naming the relation and the session holding it; None for any other error. Runs after
    the failed transaction was rolled back (``con`` is usable again)."""
    if getattr(exc, "sqlstate", None) != LOCK_TIMEOUT_SQLSTATE or dialect_of(con) != "postgresql":
        return None
    relations = _relations(getattr(exc, "statement", "") or "")
    holder = None
    if relations:
        with contextlib.suppress(*ENGINE_ERRORS):
            rows = con.native(_sql("postgres_relation_lock_holder"), [relations])
            names = [c[0] for c in rows.description]
            found = rows.fetchall()
            holder = dict(zip(names, found[0])) if found else None
    what = f"relation {holder['relation']}" if holder else (
        f"one of {', '.join(relations)}" if relations else "a lock")
    return (f"waited {con.lock_timeout:g} s for {what}, held by another session"
            f"{describe_session(holder)}; end that session's transaction, or raise lock_timeout")


def _relations(statement: str) -> list[str]:
    """The tables and views ``statement`` names, as PostgreSQL reads them (schema.name)."""
    import sqlglot
    from sqlglot import exp
    try:
        tree = sqlglot.parse_one(statement, read="postgres")
    except sqlglot.errors.SqlglotError:
        return []
    out = []
    for table in tree.find_all(exp.Table):
        if not table.name:
            continue
        parts = [quote_identifier(p.name, "postgresql") if p.quoted else p.name
                 for p in (table.args.get("db"), table.this) if isinstance(p, exp.Identifier)]
        name = ".".join(parts)
        if name and name not in out:
            out.append(name)
    return out
