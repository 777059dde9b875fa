"""A segmentation's source: an existing table or view, or one SELECT statement.

Anything else (several statements, DML, DDL) is refused before it runs: the source text is only ever
parsed, then embedded as a subquery.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

import duckdb

from ..engines import catalog
from ..engines.result import first_line
from ..errors import DefinitionError, NotFoundError
from ..engines.quoting import quote_identifier
from ..engines.base import ENGINE_ERRORS, Engine

_QUERY_START = re.compile(r"\s*(\(|select\b|with\b|from\b|values\b|table\b)", re.IGNORECASE)

NUMERIC_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL",
}


def is_numeric_type(type_name: str) -> bool:
    t = type_name.upper()
    return t in NUMERIC_TYPES or t.startswith("DECIMAL")


@dataclasses.dataclass(frozen=True)
class Source:
    kind: str       # 'table' or 'select'
    text: str       # as the user gave it
    relation: str   # SQL that can follow FROM

    def describe(self) -> str:
        return f"table {self.text}" if self.kind == "table" else "the source SELECT"


def _split_table_name(text: str) -> list[str]:
    """'main.customers' -> ['main', 'customers']; a name with spaces or quotes stays whole."""
    stripped = text.strip()
    if stripped.startswith('"'):
        parts, buf, i = [], "", 0
        # parse "a"."b" with doubled quotes
        while i < len(stripped):
            if stripped[i] != '"':
                raise DefinitionError(f"cannot read the table name {text!r}")
            j = i + 1
            buf = ""
            while True:
                k = stripped.find('"', j)
                if k < 0:
                    raise DefinitionError(f"unbalanced quotes in the table name {text!r}")
                if stripped[k + 1:k + 2] == '"':
                    buf += stripped[j:k] + '"'
                    j = k + 2
                    continue
                buf += stripped[j:k]
                i = k + 1
                break
            parts.append(buf)
            if i < len(stripped):
                if stripped[i] != ".":
                    raise DefinitionError(f"cannot read the table name {text!r}")
                i += 1
        return parts
    if re.fullmatch(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*){0,2}", stripped):
        return stripped.split(".")
    return [stripped]


def _find_table(con: Engine, parts: list[str]) -> list[str] | None:
    name = parts[-1]
    schema = parts[-2] if len(parts) >= 2 else None
    current = catalog.current_schema(con)
    found = [(s, n) for s, n, _ in catalog.user_tables(con)
             if n.lower() == name.lower() and (schema is None or s.lower() == schema.lower())]
    if not found:
        return None
    # exact spelling first, then the current schema, then by schema name
    found.sort(key=lambda t: (t[1] != name, t[0] != current, t[0]))
    return [found[0][0], found[0][1]]


def _user_tables(con: Engine) -> list[str]:
    return sorted(n for _, n, _ in catalog.user_tables(con))


def resolve_source(con: Engine, text: str) -> Source:
    if not isinstance(text, str) or not text.strip():
        raise DefinitionError("the source is empty; give a table name or a SELECT statement")
    if _QUERY_START.match(text):
        try:
            statements = con.extract_statements(text)
        except ENGINE_ERRORS as exc:
            detail = first_line(exc)
            raise DefinitionError(f"the source SELECT is not valid SQL: {detail}; "
                                  "fix the query or pass a table name") from exc
        if len(statements) != 1:
            raise DefinitionError(f"the source must be one SELECT statement, not {len(statements)} "
                                  "statements; remove the extra statements")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise DefinitionError(
                f"the source must be a SELECT, not a {statements[0].type.name} statement; "
                "segdb never runs anything but a query on the source"
            )
        query = text.strip().rstrip(";").strip()
        return Source("select", text, f"({query})")
    parts = _split_table_name(text)
    found = _find_table(con, parts)
    if found is None:
        statement = re.search(r"\b(delete|drop|insert|update|create|alter|attach|copy)\b", text,
                              re.IGNORECASE)
        if len(parts) == 1 and statement:
            raise DefinitionError(
                f"the source must be a SELECT or a table name; {statement.group(1).upper()} "
                "statements are never run"
            )
        if len(parts) == 1 and len(text.split()) > 1:
            try:
                con.extract_statements(text)
            except ENGINE_ERRORS as exc:
                detail = first_line(exc)
                raise DefinitionError(f"the source is neither a table nor a valid SELECT: {detail}; "
                                      "fix the query or pass a table name") from exc
        close = difflib.get_close_matches(parts[-1], _user_tables(con), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; import it first with `segdb import`"
        raise NotFoundError(f"table {text!r} not found{hint}")
    return Source("table", text, ".".join(quote_identifier(p) for p in found))


def source_columns(con: Engine, source: Source) -> dict[str, str]:
    """Column name -> SQL type of the source, without reading its rows."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source.relation} AS segdb_source").fetchall()
    except ENGINE_ERRORS as exc:
        detail = first_line(exc)
        raise DefinitionError(f"cannot read {source.describe()}: {detail}; fix the query or the "
                              "tables it reads") from exc
    return {r[0]: r[1] for r in rows}


def find_column(columns: dict[str, str], name: str, source: Source, role: str,
                feature_kind: str | None = None) -> str:
    """The column called ``name`` (exactly), or an error that suggests the nearest one.

    ``feature_kind``: the kind of the feature named ``name`` (numeric, likert, category): a comma-joined
    list may be several columns meant as one feature each, and the error lists them (a real
    column's comma is kept; the command line turns the list into its repeated option)."""
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    parts = [p.strip() for p in name.split(",") if p.strip()]
    if len(folded) == 1:
        hint = f"; did you mean {folded[0]!r}? (names are matched exactly)"
    elif feature_kind and len(parts) > 1:
        own = "feature" if feature_kind == "numeric" else f"{feature_kind} feature"
        hint = f"; give each column as its own {own}: " + ", ".join(map(repr, parts))
    else:
        close = difflib.get_close_matches(name, list(columns), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; columns are {', '.join(map(repr, columns))}"
    raise NotFoundError(f"{role} column {name!r} not found in {source.describe()}{hint}")


def _duckdb_table(con: Engine, src: Source) -> tuple[str | None, str, str] | None:
    """(database or None for the current one, schema, table) of the table ``src`` on DuckDB, for
    a look-up in its catalog; None for a SELECT source, a view, another engine or an unqualified name."""
    from ..engines import dialect_of
    if src.kind != "table" or dialect_of(con) != "duckdb":
        return None
    parts = _split_table_name(src.relation)
    if len(parts) < 2:
        return None
    return (parts[-3] if len(parts) >= 3 else None), parts[-2], parts[-1]


def key_declared_unique(con: Engine, src: Source, key: str) -> bool:
    """Whether the table ``src`` declares ``key`` alone as its PRIMARY KEY or UNIQUE (DuckDB, which
    enforces both), so that its uniqueness need not be counted. False for a SELECT source, a view,
    another engine, or a constraint over several columns."""
    table = _duckdb_table(con, src)
    if table is None:
        return False
    rows = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE database_name = coalesce(?, current_database()) AND schema_name = ? AND table_name = ? "
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')", list(table)).fetchall()
    return any(len(cols) == 1 and cols[0].lower() == key.lower() for (cols,) in rows)


def table_rows_estimate(con: Engine, src: Source) -> int | None:
    """DuckDB's estimate of the rows of the table ``src`` (its catalog's ``estimated_size``, kept
    by DuckDB, no scan), or None for a SELECT source, a view or another engine."""
    table = _duckdb_table(con, src)
    if table is None:
        return None
    rows = con.execute(
        "SELECT estimated_size FROM duckdb_tables() "
        "WHERE database_name = coalesce(?, current_database()) AND schema_name = ? AND table_name = ?",
        list(table)).fetchall()
    return int(rows[0][0]) if len(rows) == 1 and rows[0][0] is not None else None
