"""Feature types: the one place where a feature spec becomes a SQL expression over the source.

A feature is a source column or a named SQL expression (``expr``), of one of three kinds:

* ``numeric``  - used as is (its declared ``codes``, if any, read as NULL);
* ``likert``   - an item on a declared scale ``scale_min..scale_max``: its ``codes`` (don't know,
  refused, ...) read as NULL and then follow the null policy; ``reverse`` maps x to
  ``scale_min + scale_max - x``; any other value outside the scale is an error (:func:`scale_check_query`);
* ``category`` - a nominal value, one-hot encoded in SQL (see :mod:`segdb.define.categories`).

Everything that reads a feature (statistics, the matrix, the null conditions, the fingerprint) uses
:func:`feature_sql`, so a transformation is written once and runs in the database.
"""

from __future__ import annotations

import math
import numbers
import dataclasses

from ..errors import DefinitionError
from ..engines.quoting import quote_identifier as q
from ..engines.quoting import sql_literal
from ..engines.base import ENGINE_ERRORS
from ..engines.result import first_line

KINDS = ("numeric", "likert", "category")


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str                 # the source column, or the output name of ``expr``
    label: str | None = None  # how profiles and descriptions call it; defaults to the name
    # Feature types (segdb.define.features applies them in SQL; see docs/features.md):
    expr: str | None = None        # a SQL expression over the source's columns
    kind: str = "numeric"          # numeric | likert | category
    scale_min: float | None = None  # likert: the declared scale, e.g. 1..7
    scale_max: float | None = None
    codes: tuple = ()              # likert: don't-know / refused codes, read as NULL
    reverse: bool = False          # likert: x -> scale_min + scale_max - x
    weight: float | None = None    # category: how many standardised features it counts as

    def __post_init__(self):
        check_spec(self)

    @property
    def display(self) -> str:
        return self.label or self.name

    def to_json(self) -> dict:
        # Defaults are left out, so a plain feature stores as before: {"name": ...}.
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items() if v != defaults.get(k)}


def _number(value, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DefinitionError(f"feature {name!r}: {what} must be a finite number, not {value!r}")
    return value


def check_spec(f: Feature) -> None:
    """Check a feature spec on its own (no database); normalise ``codes`` to a tuple."""
    if not isinstance(f.name, str) or not f.name.strip():
        raise DefinitionError(f"a feature needs a non-empty name, not {f.name!r}")
    name = f.name
    if f.kind not in KINDS:
        raise DefinitionError(f"feature {name!r}: unknown type {f.kind!r}; use one of {', '.join(KINDS)}")
    if f.expr is not None and (not isinstance(f.expr, str) or not f.expr.strip()):
        raise DefinitionError(f"feature {name!r}: expr must be a SQL expression, not {f.expr!r}")
    codes = f.codes if isinstance(f.codes, (list, tuple)) else [f.codes]
    object.__setattr__(f, "codes", tuple(_number(c, "each code", name) for c in codes))
    if not isinstance(f.reverse, bool):
        raise DefinitionError(f"feature {name!r}: reverse must be true or false, not {f.reverse!r}")
    has_scale = f.scale_min is not None or f.scale_max is not None
    if f.kind == "likert":
        if f.scale_min is None or f.scale_max is None:
            raise DefinitionError(f"likert feature {name!r} needs its scale, e.g. scale = [1, 7]")
        lo, hi = _number(f.scale_min, "scale_min", name), _number(f.scale_max, "scale_max", name)
        if lo >= hi:
            raise DefinitionError(f"likert feature {name!r}: the scale {lo:g}..{hi:g} is empty; "
                                  "give the lowest answer first, e.g. scale = [1, 7]")
        inside = [c for c in f.codes if lo <= c <= hi]
        if inside:
            raise DefinitionError(f"likert feature {name!r}: code {inside[0]:g} lies inside its scale "
                                  f"{lo:g}..{hi:g}, so it would be both an answer and a missing value; "
                                  "use codes outside the scale")
    elif has_scale or f.reverse:
        what = "a scale" if has_scale else "reverse"
        raise DefinitionError(f"feature {name!r} of type {f.kind} cannot have {what}; "
                              "declare it with type = \"likert\" and its scale")
    if f.kind == "category":
        if f.codes:
            raise DefinitionError(f"category feature {name!r} cannot have codes; map them to NULL in "
                                  "its expr or the source SELECT")
        if f.weight is not None and _number(f.weight, "weight", name) <= 0:
            raise DefinitionError(f"category feature {name!r}: weight must be > 0, not {f.weight!r}")
    elif f.weight is not None:
        raise DefinitionError(f"feature {name!r}: only category features take a weight (numeric "
                              "features are standardised to one unit each)")


def base_sql(f: Feature) -> str:
    """The feature's value as read from the source: its column, or its expression."""
    return f"({f.expr})" if f.expr else q(f.name)


def _literal_list(values) -> str:
    return ", ".join(sql_literal(float(v)) for v in values)


def feature_sql(f: Feature) -> str:
    """The SQL expression of a feature's value after its type's transformations.

    A plain numeric column stays its quoted name, so definitions without types produce the same SQL
    as before. Category features give their level as VARCHAR (one-hot columns are built from it).
    """
    if f.kind == "category":
        return f"CAST({base_sql(f)} AS VARCHAR)"
    if f.kind == "numeric" and not f.codes:
        return base_sql(f)
    x = f"CAST({base_sql(f)} AS DOUBLE)"
    if f.codes:
        x = f"CASE WHEN {x} IN ({_literal_list(f.codes)}) THEN NULL ELSE {x} END"
    if f.reverse:
        x = f"({sql_literal(float(f.scale_min + f.scale_max))} - {x})"
    return x


def keyed_values_relation(d, relation: str) -> str:
    """A subquery over the source with ``segdb_key`` and each feature's value (after its type's
    transformations) as ``segdb_f1 .. segdb_fd``; ``d`` is an expanded definition (one feature per
    matrix column). Joining this, rather than the source, to a labels table keeps feature
    expressions unambiguous and applies codes, reversal and one-hot indicators exactly as the fit did."""
    cols = ", ".join(f"CAST({feature_sql(f)} AS DOUBLE) AS segdb_f{i}"
                     for i, f in enumerate(d.features, start=1))
    return f"(SELECT {q(d.key)} AS segdb_key, {cols} FROM {relation} AS segdb_source)"


def scale_check_query(f: Feature, relation: str) -> tuple[str, list]:
    """Values of a likert feature outside its scale and not a code: (value, rows), most rows first."""
    x = f"CAST({base_sql(f)} AS DOUBLE)"
    codes = f"AND segdb_value NOT IN ({', '.join('?' for _ in f.codes)})" if f.codes else ""
    sql = (f"SELECT segdb_value, count(*) AS n FROM (SELECT {x} AS segdb_value FROM {relation} AS "
           f"segdb_source) WHERE segdb_value IS NOT NULL {codes} "
           f"AND (segdb_value < ? OR segdb_value > ? OR isnan(segdb_value)) "
           f"GROUP BY segdb_value ORDER BY n DESC, segdb_value")
    return sql, [float(c) for c in f.codes] + [float(f.scale_min), float(f.scale_max)]


def describe_origin(f: Feature) -> str:
    return f"expression {f.expr}" if f.expr else f"column {f.name!r}"


def out_of_scale_message(f: Feature, rows: list, where: str) -> str:
    value, n = rows[0]
    codes = ", ".join(f"{c:g}" for c in f.codes) or "none declared"
    more = f" (and {len(rows) - 1} other out-of-scale values)" if len(rows) > 1 else ""
    return (f"feature {f.name!r} ({describe_origin(f)}) has the value {value:g} on {n} rows of {where}"
            f"{more}, outside its scale {f.scale_min:g}..{f.scale_max:g} and not one of its codes "
            f"({codes}); add it to codes or fix the data")


def expression_type(con, f: Feature, src, key: str) -> str:
    """The SQL type of a feature's expression over the source; a clear error if it is not one
    row-wise expression (a second statement, several columns, or an aggregate over all rows)."""
    import duckdb

    from .access import check_expression
    check_expression(f.name, f.expr)  # parsed as one expression: no FROM/UNION smuggled in
    query = f"SELECT {q(key)}, {base_sql(f)} AS segdb_value FROM {src.relation} AS segdb_source"
    try:
        statements = con.extract_statements(query)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise DefinitionError(f"feature {f.name!r}: expr must be one SQL expression, not "
                                  f"{f.expr!r}")
        described = con.execute(f"DESCRIBE {query}").fetchall()
    except ENGINE_ERRORS as exc:
        detail = first_line(exc)
        raise DefinitionError(f"feature {f.name!r}: expr {f.expr!r} is not a row-wise expression over "
                              f"{src.describe()}: {detail}; write one expression over the source's "
                              "columns (aggregates belong in a grouped source SELECT)") from None
    if len(described) != 2:
        raise DefinitionError(f"feature {f.name!r}: expr must give one value, not {len(described) - 1} "
                              f"columns ({f.expr!r})")
    return described[1][1]


def check_against_source(con, f: Feature, src, columns: dict[str, str], key: str) -> None:
    """The feature's column (or expression) exists and has a type its kind can use."""
    from .source import find_column, is_numeric_type

    if f.expr:
        type_name = expression_type(con, f, src, key)
        what = f"expr {f.expr!r}"
    else:
        col = find_column(columns, f.name, src, "feature", feature_kind=f.kind)
        if col == key:
            raise DefinitionError(f"column {key!r} is the key; it cannot also be a feature")
        type_name = columns[col]
        what = f"in {src.describe()}"
    if f.kind != "category" and not is_numeric_type(type_name):
        target = f.expr if f.expr else q(f.name)
        raise DefinitionError(
            f"feature {f.name!r} {what} has type {type_name}, not a number; cast it "
            f"(e.g. CAST({target} AS DOUBLE)), declare it a category (kind='category'), or drop it"
        )
