"""DuckDB's ``extract_statements`` for other engines: split a text into statements and name their kinds."""

from __future__ import annotations

import dataclasses

import duckdb
import sqlglot
from sqlglot import exp

from .result import EngineError, first_line

_KINDS = [
    ((exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values), "SELECT"),
    ((exp.Insert,), "INSERT"), ((exp.Update,), "UPDATE"), ((exp.Delete,), "DELETE"),
    ((exp.Create,), "CREATE"), ((exp.Drop,), "DROP"), ((exp.Alter,), "ALTER"),
]


@dataclasses.dataclass(frozen=True)
class Statement:
    query: str
    type: object  # a duckdb.StatementType, as DuckDB's own statements carry

    def __str__(self) -> str:
        return self.query


def _kind(tree: exp.Expression):
    for classes, name in _KINDS:
        if isinstance(tree, classes):
            return getattr(duckdb.StatementType, name)
    return duckdb.StatementType.INVALID


def extract(text: str, dialect: str) -> list[Statement]:
    """The statements of ``text`` (DuckDB's SQL, as segdb writes it and as sources are given)."""
    try:
        trees = [t for t in sqlglot.parse(text, read="duckdb") if t is not None]
    except sqlglot.errors.ParseError as exc:
        raise EngineError(first_line(exc)) from exc
    return [Statement(t.sql(dialect="duckdb", comments=False), _kind(t)) for t in trees]


