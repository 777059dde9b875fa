"""The engines segdb runs on: DuckDB (embedded, the default), PostgreSQL and Spark SQL.

``open_connection`` turns what the user gave (a DuckDB file path, an SQLAlchemy URL, a Spark URL,
an ``sqlalchemy.Engine`` or a ``SparkSession``) into a segdb.engines.base.Engine: DuckDB's own
connection, or a segdb.engines.postgres / segdb.engines.spark adapter (segdb.engines.adapter) that
translates segdb's statements (segdb.engines.translate). ``dialect_of`` tells them apart where the
work itself differs (segdb.engines.dialects).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import DatabaseError, NotFoundError, redact_secrets, userinfo_end
from .duckdb import DEFAULT_LOCK_TIMEOUT
from .result import first_line

if TYPE_CHECKING:
    from .base import Engine

SPARK_PREFIXES = ("spark://", "sc://", "yarn", "k8s://")
POSTGRES_PREFIXES = ("postgresql://", "postgresql+", "postgres://")


def kind_of_target(target) -> str:
    """'duckdb', 'postgresql' or 'spark' for a path, URL, Engine or SparkSession."""
    if isinstance(target, (str, os.PathLike)):
        text = str(target)
        if text.startswith(POSTGRES_PREFIXES):
            return "postgresql"
        if text.startswith(SPARK_PREFIXES):
            return "spark"
        if "://" in text:
            scheme = text.split("://", 1)[0]
            raise DatabaseError(f"segdb cannot open {scheme}:// databases; use a DuckDB file path, "
                                "postgresql+psycopg://USER@HOST:PORT/DB, spark://local[2] or sc://HOST:PORT")
        return "duckdb"
    module = type(target).__module__
    if module.startswith("sqlalchemy"):
        return "postgresql"
    if module.startswith("pyspark"):
        return "spark"
    raise DatabaseError(f"segdb cannot use a {type(target).__name__} as a database; give a path, a URL, "
                        "an sqlalchemy.Engine or a SparkSession")


def open_connection(target, *, read_only: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                    create: bool = True) -> tuple[Engine, str]:
    """A connection for ``target`` (see :func:`kind_of_target`) and a printable name for it (never with a
    password: see segdb.errors.redact_secrets)."""
    kind = kind_of_target(target)
    if kind == "duckdb":
        from .duckdb import open_duckdb
        con = open_duckdb(target, read_only=read_only, lock_timeout=lock_timeout, create=create)
        return con, redact_secrets(str(target))  # md:db?motherduck_token=...
    if kind == "postgresql":
        return _open_postgres(target, read_only=read_only, lock_timeout=lock_timeout)
    return _open_spark(target, read_only=read_only, lock_timeout=lock_timeout)


def _missing(package: str, extra: str) -> DatabaseError:
    return DatabaseError(f"the {extra} engine needs the package {package}; install it with "
                         f"`pip install 'segdb[{extra}]'`")


def _open_postgres(target, *, read_only: bool, lock_timeout: float):
    from .postgres import PostgresConnection
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise _missing("psycopg", "postgres") from None
    import sqlalchemy

    if isinstance(target, (str, os.PathLike)):
        url = str(target)
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        url = _quote_password(url)
        try:
            engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
            con = PostgresConnection(engine, read_only=read_only, owns_engine=True,
                                     lock_timeout=lock_timeout)
        except DatabaseError:
            raise
        except Exception as exc:
            raise DatabaseError(f"cannot connect to {redact_secrets(url)}: {first_line(exc)}; check the URL, "
                                "the server and its credentials") from None
        return con, redact_secrets(url)
    con = PostgresConnection(target, read_only=read_only, owns_engine=False, lock_timeout=lock_timeout)
    return con, con.url


def _open_spark(target, *, read_only: bool, lock_timeout: float):
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise _missing("pyspark", "spark") from None
    from .spark import SparkConnection, database_of, lock_local_warehouse, session_for

    if isinstance(target, (str, os.PathLike)):
        url = str(target)
        # a local metastore admits one JVM: wait for the warehouse before starting one
        lock = lock_local_warehouse(url, lock_timeout)
        try:
            try:
                session, created = session_for(url)
            except Exception as exc:
                raise DatabaseError(f"cannot start Spark for {redact_secrets(url)}: {first_line(exc)}; check "
                                    "the master URL and that Java 17+ is installed") from None
            name = redact_secrets(url)  # sc://host:15002/;token=...
            if lock is not None and not created:  # another thread's session: not segdb's to guard
                lock.release()
                lock = None
            return SparkConnection(session, url=name, database=database_of(url), read_only=read_only,
                                   owns_session=created, warehouse_lock=lock, lock_timeout=lock_timeout), name
        except BaseException:
            if lock is not None:
                lock.release()
            raise
    # the user's own session: their current database holds their tables
    database = target.catalog.currentDatabase()
    return SparkConnection(target, url="spark", database=database, read_only=read_only,
                           lock_timeout=lock_timeout), f"spark ({database})"


def _quote_password(url: str) -> str:
    """``url`` with '@' and spaces in its password percent-encoded (``bob:p@ss@host`` -> ``bob:p%40ss@host``).

    SQLAlchemy ends the password at its first '@' and would take ``ss@host`` for the host, so the
    driver's error would print part of the password; segdb.errors.redact_secrets reads the same URL
    up to the last '@' before the host, and so does this."""
    scheme, _, rest = url.partition("://")
    at = userinfo_end(rest)
    if at < 0:
        return url
    user, _, password = rest[:at].partition(":")
    password = re.sub(r"[@\s]", lambda m: quote(m.group(0), safe=""), password)
    return f"{scheme}://{user}:{password}{rest[at:]}"


def dialect_of(con) -> str:
    """'duckdb', 'postgresql' or 'spark'."""
    return getattr(con, "dialect", "duckdb") if not _is_duckdb(con) else "duckdb"


def _is_duckdb(con) -> bool:
    return type(con).__module__.startswith("duckdb") or type(con).__name__ == "DuckDBPyConnection"


__all__ = ["open_connection", "dialect_of", "kind_of_target", "NotFoundError"]
