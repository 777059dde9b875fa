"""Statements that differ between engines beyond what translation covers: scalar SQL functions."""

from __future__ import annotations

from .quoting import quote_identifier
from .translate import translate

_TYPES = {
    "postgresql": {"integer": "integer", "double": "double precision", "text": "text",
                   "doubles": "double precision[]"},
    "spark": {"integer": "INT", "double": "DOUBLE", "text": "STRING", "doubles": "ARRAY<DOUBLE>"},
}


def expression(dialect: str, body: str) -> str:
    """A DuckDB expression in ``dialect`` (translated as the select list of a SELECT)."""
    (statement,) = translate(f"SELECT {body} AS segdb_value", dialect, False)
    return statement[len("SELECT "):statement.rindex(" AS segdb_value")]


def scalar_function(dialect: str, name: str, params: list[tuple[str, str]], returns: str, body: str) -> str:
    """CREATE OR REPLACE FUNCTION ``name(params) -> returns`` computing ``body`` (DuckDB SQL).

    PostgreSQL: a ``LANGUAGE sql IMMUTABLE PARALLEL SAFE`` function, which the planner inlines into
    the calling query. Spark: a persistent SQL function (Spark 4). ``name`` is a plain identifier
    (segmentation names are [A-Za-z][A-Za-z0-9_]*), parameters are x1, x2, ...
    """
    types = _TYPES[dialect]
    expr = expression(dialect, body)
    args = ", ".join(f"{p} {types[t]}" for p, t in params)
    head = f"CREATE OR REPLACE FUNCTION {quote_identifier(name, dialect)}({args}) RETURNS {types[returns]}\n"
    if dialect == "postgresql":
        return head + f"LANGUAGE sql IMMUTABLE PARALLEL SAFE\nRETURN {expr}"
    return head + f"RETURN {expr}"
