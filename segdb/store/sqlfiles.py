"""Load the SQL statements segdb runs from the top-level ``sql/`` and ``migrations/`` folders.

In a source checkout they are read from the repository; in an installed wheel from
``segdb/_sql`` and ``segdb/_migrations`` (copied there by hatch's force-include).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # segdb/, above this store/ folder


def _folder(packaged: str, toplevel: str) -> Path:
    inside = _PACKAGE_DIR / packaged
    if inside.is_dir():
        return inside
    return _PACKAGE_DIR.parent / toplevel


def sql_dir() -> Path:
    return _folder("_sql", "sql")


def migrations_dir() -> Path:
    return _folder("_migrations", "migrations")


@functools.lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql``, with its leading comment block kept (DuckDB ignores it)."""
    path = sql_dir() / f"{name}.sql"
    return path.read_text(encoding="utf-8")


_CREATE_RE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?segdb\.(\w+)", re.IGNORECASE)
_DROP_RE = re.compile(r"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?segdb\.(\w+)", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def segdb_tables() -> frozenset[str]:
    """The tables segdb's migrations create in schema segdb (and do not drop again), read from the
    migration files, so a new migration's tables count without a list to keep up to date."""
    tables = {"schema_migrations"}
    for path in sorted(migrations_dir().glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        tables |= set(_CREATE_RE.findall(text))
        tables -= set(_DROP_RE.findall(text))
    return frozenset(tables)
