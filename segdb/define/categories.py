"""Category features: levels discovered in SQL, one-hot columns, their weight, and per-segment shares.

A category feature with levels l1..lL becomes L indicator columns named ``<feature>=<level>``
(1.0 when the row has that level, 0.0 otherwise, NULL when the feature is NULL). Levels are the
distinct non-NULL values (as text) among the rows used, sorted, and are recorded per run in
``segdb.feature_columns``.

Weighting, so that one category cannot dominate the distance (w = the feature's ``weight``,
default 1; p_l = the (weighted) share of level l among the rows used):

* scale = zscore: indicator l is scaled as (x_l - p_l) / sqrt(G / w) with G = sum_l p_l (1 - p_l)
  (the Gini impurity). The L scaled columns then have total variance w: the category counts like w
  standardised numeric features, however many levels it has.
* scale = minmax or none: indicator l is scaled as x_l / sqrt(2 / w): two rows with different
  levels are at squared distance w, like the two ends of one min-max-scaled feature (for w = 1).

In a run's centroids, an indicator column's raw value is the segment's (weighted) share of that
level as fitted; ``segdb.category_shares`` holds the exact shares counted in SQL from the labels.
"""

from __future__ import annotations

import dataclasses
import math

from ..errors import DataError, DefinitionError
from .features import base_sql, feature_sql
from ..engines.quoting import quote_identifier as q
from ..engines.quoting import sql_literal

MAX_LEVELS = 100  # more levels than this is almost always an id or free text, not a category


def indicator_sql(f, level: str) -> str:
    """1.0 / 0.0 / NULL: whether the row's value of category ``f`` is ``level``."""
    # CASE rather than CAST(x = level AS DOUBLE): PostgreSQL cannot cast a boolean to a double
    x = base_sql(f)
    return (f"CASE WHEN CAST({x} AS VARCHAR) = {sql_literal(level)} THEN {sql_literal(1.0)} "
            f"WHEN {x} IS NOT NULL THEN {sql_literal(0.0)} END")


def column_name(f, level: str) -> str:
    return f"{f.name}={level}"


def levels_query(f, relation: str, used: str) -> str:
    """Levels with their row counts among the rows used, and (level NULL) the NULL count."""
    return (f"SELECT {feature_sql(f)} AS segdb_level, count(*) AS n FROM {relation} AS segdb_source "
            f"WHERE {used} GROUP BY {feature_sql(f)} ORDER BY segdb_level NULLS LAST")


def discover_levels(con, f, relation: str, used: str, nulls: str, where: str) -> list[str]:
    rows = con.execute(levels_query(f, relation, used)).fetchall()
    levels = [r[0] for r in rows if r[0] is not None]
    n_null = sum(r[1] for r in rows if r[0] is None)
    if n_null and nulls == "error":
        raise DataError(f"category feature {f.name!r} is NULL on {n_null} rows of {where} and "
                        "nulls=error; fill them, or use nulls='skip' or nulls='mean'")
    with_nul = [(r[0], r[1]) for r in rows if r[0] is not None and "\x00" in r[0]]
    if with_nul:
        # each level becomes a SQL literal in the scoring macro, and no engine's text can hold NUL
        level, n = with_nul[0]
        shown = level.encode("unicode_escape").decode("ascii")
        more = f" (and {len(with_nul) - 1} more such levels)" if len(with_nul) > 1 else ""
        raise DataError(f"category feature {f.name!r} has a level holding a NUL character (\\x00): "
                        f"'{shown}' on {n} rows of {where}{more}; remove the NUL in the feature's "
                        "expr, e.g. replace(column, chr(0), '')")
    if not levels:
        raise DataError(f"category feature {f.name!r} is NULL on every row used of {where}; "
                        "drop it from the definition or fill it")
    if len(levels) == 1:
        raise DataError(f"category feature {f.name!r} has the single level {levels[0]!r} on every row "
                        f"used of {where}, so it cannot separate segments; drop it")
    if len(levels) > MAX_LEVELS:
        raise DataError(f"category feature {f.name!r} has {len(levels)} levels in {where}, more than "
                        f"{MAX_LEVELS}; group rare levels in its expr or the source SELECT")
    return levels


def expand(f, levels: list[str]):
    """The indicator features of category ``f``: plain numeric features defined by an expression."""
    from .features import Feature

    label = (lambda lv: f"{f.label}={lv}") if f.label else (lambda lv: None)
    return [Feature(column_name(f, lv), label=label(lv), expr=indicator_sql(f, lv)) for lv in levels]


def block_scaling(scale_mode: str, shares: list[float], weight: float | None) -> list[tuple[float, float]]:
    """(center, scale) of each indicator of one category (see the module's docstring)."""
    w = 1.0 if weight is None else float(weight)
    if scale_mode == "zscore":
        gini = sum(p * (1.0 - p) for p in shares)
        if not gini > 0.0:
            raise DataError("a category feature has one level carrying all the weight; drop it")
        return [(float(p), math.sqrt(gini / w)) for p in shares]
    return [(0.0, math.sqrt(2.0 / w)) for _ in shares]


def shares_sql(d, f, relation: str, weight_expr: str | None) -> str:
    """INSERT one run's shares of category ``f``'s levels per segment, counted from the labels.
    Parameters: run_id, feature, run_id."""
    if weight_expr is None:
        weighted = "NULL, NULL"
    else:
        weighted = ("sum(v.segdb_w), "
                    "sum(v.segdb_w) / sum(sum(v.segdb_w)) OVER (PARTITION BY l.segment_id)")
    return (
        "INSERT INTO segdb.category_shares (run_id, segment_id, feature, level, size, share, "
        "weighted_size, weighted_share)\n"
        "SELECT ?, l.segment_id, ?, v.segdb_level, count(*),\n"
        "       count(*) / sum(count(*)) OVER (PARTITION BY l.segment_id),\n"
        f"       {weighted}\n"
        f"FROM {d.labels_table} AS l\n"
        f"JOIN (SELECT {q(d.key)} AS segdb_key, {feature_sql(f)} AS segdb_level, "
        f"{weight_expr or 'NULL'} AS segdb_w FROM {relation} AS segdb_source) AS v\n"
        "  ON v.segdb_key = l.segdb_key\n"
        "WHERE l.run_id = ?\n"
        "GROUP BY l.segment_id, v.segdb_level"
    )


# PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN - 1) and drops the rest without an
# error, so two longer column names of _centroids and segdb's statements may become one
NAME_BYTES = {"postgresql": 63}
_ENGINE_NAMES = {"postgresql": "PostgreSQL"}


def check_unique_names(names: list[str], where: str, dialect: str = "duckdb") -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise DefinitionError(f"two matrix columns of {where} are both named {n!r} (a category level "
                                  "clashes with a feature name); rename the feature")
        seen.add(n)
    limit = NAME_BYTES.get(dialect)
    if limit is None:
        return
    kept: dict[bytes, str] = {}
    for n in names:
        short = n.encode("utf-8")[:limit]
        if short in kept:
            raise DefinitionError(
                f"the columns {kept[short]!r} and {n!r} of {where} are the same name to {_ENGINE_NAMES[dialect]}, which "
                f"keeps only the first {limit} bytes of a name; shorten the feature names or category "
                "levels (e.g. map long levels to short codes in the feature's expr) so that they differ "
                f"within {limit} bytes")
        kept[short] = n


def rescaled(stat, center: float, scale: float):
    return dataclasses.replace(stat, center=center, scale=scale)
