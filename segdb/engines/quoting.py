"""The one place where identifiers and (unbindable) literals become SQL text.

Values are bound as parameters wherever DuckDB allows it. Two places cannot bind: identifiers, and
literals inside DDL (a view's body cannot hold a parameter). Identifiers go through
:func:`quote_identifier` (in each engine's dialect); the few literals a view needs go through :func:`sql_literal`, which accepts
only numbers and strings and escapes them the one way SQL defines.
"""

from __future__ import annotations

import math
import re

from ..errors import DefinitionError

# A segmentation name becomes part of table, view and macro names on every engine segdb targets;
# Spark allows only [A-Za-z0-9_] in table names, so that is the rule everywhere.
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}\Z")


# The character each dialect quotes identifiers with (one inside a name is doubled).
_QUOTE_CHAR = {"duckdb": '"', "postgresql": '"', "spark": "`"}


def quote_identifier(name: str, dialect: str = "duckdb") -> str:
    """Quote an identifier for ``dialect``: wrap it in the dialect's quote character and double that
    character inside it.

    DuckDB and PostgreSQL (segdb's SQL, and PostgreSQL's own statements): double quotes, ``a"b`` ->
    ``"a""b"``, as psycopg's ``sql.Identifier`` renders it. Spark SQL: backticks, ``a`b`` -> ```a``b```.
    """
    if not isinstance(name, str) or name == "":
        raise DefinitionError(f"invalid identifier {name!r}: names must be non-empty strings")
    if "\x00" in name:
        raise DefinitionError(f"invalid identifier {name!r}: names cannot contain a NUL character")
    try:
        q = _QUOTE_CHAR[dialect]
    except KeyError:
        raise ValueError(f"no identifier quoting for the dialect {dialect!r}") from None
    return q + name.replace(q, q + q) + q


def sql_literal(value) -> str:
    """Render a number or string as a SQL literal, for DDL bodies where parameters cannot be bound."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DefinitionError(f"cannot render the non-finite number {value!r} as a SQL literal")
        return repr(float(value)) + "::DOUBLE"
    if isinstance(value, str):
        if "\x00" in value:
            raise DefinitionError("a SQL string literal cannot contain a NUL character")
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"sql_literal renders int, float, bool and str, not {type(value).__name__}")


def check_segmentation_name(name: str) -> str:
    """Check that ``name`` can be used in table, view and macro names; return it unchanged."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise DefinitionError(
            f"invalid segmentation name {name!r}: use a letter followed by up to 47 letters, "
            "digits or underscores (e.g. insurance_2026)"
        )
    return name
