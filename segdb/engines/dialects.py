"""Statements that differ between engines beyond what translation covers: scalar SQL functions."""

from __future__ import annotations

from .quoting import quote_identifier
from .translate import translate

_TYPES = {
    "postgresql": {"integer": "integer", "double": "double precision", "text": "text",
                   "doubles": "double precision[]"},
    "spark": {"integer": "INT", "double": "DOUBLE", "text": "STRING", "doubles": "ARRAY<DOUBLE>"},
}


# PostgreSQL's integer types as segdb names them (segdb.engines.postgres): hashed as integers
_INTEGER_KEYS = frozenset({"SMALLINT", "INTEGER", "BIGINT"})


def key_hash(dialect: str, key: str, key_type: str) -> str:
    """The DuckDB SQL of a sample's seeded key hash, ``hash(key, seed)`` (one parameter: the seed).

    ``key`` is SQL (a quoted column). On PostgreSQL an integer key is cast to BIGINT, which
    translation turns into ``hashint8extended(key, seed)`` (segdb.engines.translate) instead of a
    hash of its text: at 10M rows the text cast and hash took most of the bounded sample's fetch.
    DuckDB's and Spark's statements stay ``hash(key, seed)``: a cast would move their samples
    (DuckDB hashes a negative INTEGER and the same BIGINT differently, Spark's xxhash64 hashes
    4 bytes or 8)."""
    if dialect == "postgresql" and str(key_type).upper() in _INTEGER_KEYS:
        return f"hash(CAST({key} AS BIGINT), ?::BIGINT)"
    return f"hash({key}, ?::BIGINT)"


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
