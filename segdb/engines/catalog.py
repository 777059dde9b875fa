"""What tables and views exist: information_schema on DuckDB and PostgreSQL, Spark's catalog API on Spark."""

from __future__ import annotations

from . import dialect_of
from .base import ENGINE_ERRORS
from .quoting import quote_identifier
from .translate import translate


def tables(con, schema: str | None = None) -> list[tuple[str, str, str]]:
    """(schema, name, 'BASE TABLE' | 'VIEW') of every table and view (in ``schema`` if given)."""
    if dialect_of(con) == "spark":
        return _spark_tables(con, schema)
    query = ("SELECT table_schema, table_name, table_type FROM information_schema.tables "
             "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')")
    if schema is None:
        rows = con.execute(query + " ORDER BY 1, 2").fetchall()
    else:
        rows = con.execute(query + " AND table_schema = ? ORDER BY 1, 2", [schema]).fetchall()
    return [(s, n, "VIEW" if t == "VIEW" else "BASE TABLE") for s, n, t in rows]


def current_schema(con) -> str:
    if dialect_of(con) == "spark":
        return con.database
    return con.execute("SELECT current_schema()").fetchall()[0][0]


def user_tables(con) -> list[tuple[str, str, str]]:
    """Every table and view outside segdb's own schema."""
    if dialect_of(con) == "spark":  # segdb's own database is not listed at all (two calls saved)
        return _spark_tables(con, None, exclude="segdb")
    return [t for t in tables(con) if t[0] != "segdb"]


def table_type(con, schema: str, name: str, *, fold_case: bool = False) -> str | None:
    """'BASE TABLE', 'VIEW' or None when ``schema.name`` does not exist."""
    if dialect_of(con) == "spark":  # names are case-insensitive there; one catalog call, not a listing
        catalog = con.session.catalog
        full = f"{quote_identifier(schema, 'spark')}.{quote_identifier(name, 'spark')}"
        if not catalog.databaseExists(schema) or not catalog.tableExists(full):
            return None
        return "VIEW" if catalog.getTable(full).tableType == "VIEW" else "BASE TABLE"
    for s, n, t in tables(con, schema):
        if n == name or (fold_case and n.lower() == name.lower()):
            return t
    return None


def spark_view_text(con, name: str) -> str:
    """Spark: the SQL text of view ``name`` in the connection's database ('' when there is none)."""
    if not con.session.catalog.tableExists(quote_identifier(name, "spark")):
        return ""  # asked first: DESCRIBE of a missing view logs a JVM error on stderr
    try:
        rows = con.native(f"DESCRIBE TABLE EXTENDED {quote_identifier(name, 'spark')}").fetchall()
    except ENGINE_ERRORS:
        return ""
    return next((str(r[1]) for r in rows if str(r[0]).strip() == "View Text"), "")


def spark_put_view(con, name: str, query: str) -> bool:
    """Spark: make view ``name`` (in the connection's database) read ``query`` (DuckDB SQL), only
    when its stored text differs and in one catalog write; True when it was written.

    Spark runs ``CREATE OR REPLACE VIEW`` as a drop and then a create, so a kill between the two
    leaves no view; ``ALTER VIEW … AS`` is one alteration of the view's catalog entry."""
    (text,) = translate(query, "spark", False)
    stored = spark_view_text(con, name)
    if stored == text:
        return False
    verb = "ALTER" if stored else "CREATE"
    con.native(f"{verb} VIEW {quote_identifier(name, 'spark')} AS {text}")
    return True


def _spark_tables(con, schema: str | None, exclude: str | None = None) -> list[tuple[str, str, str]]:
    """Names only (``SHOW TABLES``, ``SHOW VIEWS``: one metastore call each per database), where
    ``catalog.listTables`` reads every table's metadata: seconds on a local metastore, and a
    refresh resolves its source through this listing."""
    catalog = con.session.catalog
    names = [schema] if schema is not None else [db.name for db in catalog.listDatabases()]
    out = []
    for db in names:
        if db == exclude or not catalog.databaseExists(db):
            continue
        quoted = quote_identifier(db, "spark")
        # (namespace, name, isTemporary): a session's temporary views are not the database's
        tables = [r[1] for r in con.native(f"SHOW TABLES IN {quoted}").fetchall() if not r[2]]
        views = {r[1] for r in con.native(f"SHOW VIEWS IN {quoted}").fetchall() if not r[2]}
        out += [(db, t, "VIEW" if t in views else "BASE TABLE") for t in tables]
    return sorted(out)
