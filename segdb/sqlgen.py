"""SQL whose shape depends on a definition's features (one expression per feature).

Everything here is built from identifiers quoted by :func:`quote_identifier`; numbers are bound as
``?`` parameters, except in view bodies, where DuckDB cannot bind and :func:`sql_literal` renders
the run id. Statements whose shape does not depend on the features live in ``sql/``.
``segdb show-sql NAME`` prints what this module generates for a definition, to run by hand.
"""

from __future__ import annotations

from .definitions import Definition
from .features import feature_sql
from .quoting import quote_identifier as q
from .quoting import sql_literal
from .weights import weight_column, weight_sql


def _as_double(feature) -> str:
    return f"CAST({feature_sql(feature)} AS DOUBLE)"


def complete_condition(d: Definition) -> str:
    """True for rows whose every feature is present."""
    return " AND ".join(f"{feature_sql(f)} IS NOT NULL" for f in d.features)


def used_condition(d: Definition) -> str:
    """Rows that get a label: a key, and (under nulls=skip) every feature."""
    key_ok = f"{q(d.key)} IS NOT NULL"
    if d.nulls == "skip":
        return f"{key_ok} AND {complete_condition(d)}"
    return key_ok


def stats_query(d: Definition, relation: str) -> str:
    """One scan of the source: key checks, row counts, fingerprint, per-feature statistics.

    Per feature i the columns are n_i, nonfinite_i, mean_i, stddev_i, min_i, max_i. Mean and
    standard deviation are taken over the rows used for the fit (complete rows under nulls=skip,
    every non-NULL value otherwise), as StandardScaler would on the fitted matrix.
    """
    key = q(d.key)
    used = complete_condition(d) if d.nulls == "skip" else "TRUE"
    cols = [
        "count(*) AS rows_total",
        f"count({key}) AS keys_present",
        f"count(DISTINCT {key}) AS keys_distinct",
        f"count(*) FILTER (WHERE {key} IS NOT NULL AND {complete_condition(d)}) AS rows_complete",
        # Order-independent fingerprint of keys and features: xor of row hashes (keys are unique).
        f"bit_xor(hash({key}, {', '.join(feature_sql(f) for f in d.features)})) AS fingerprint",
    ]
    if weight_column(d) is not None:
        return _weighted_stats_query(d, relation, cols, used)
    for i, f in enumerate(d.features, start=1):
        x = _as_double(f)
        cols += [
            f"count({feature_sql(f)}) AS n_{i}",
            f"count(*) FILTER (WHERE {feature_sql(f)} IS NOT NULL AND NOT isfinite({x})) AS nonfinite_{i}",
            f"avg({x}) FILTER (WHERE {used} AND isfinite({x})) AS mean_{i}",
            f"stddev_pop({x}) FILTER (WHERE {used} AND isfinite({x})) AS stddev_{i}",
            f"min({x}) FILTER (WHERE {used}) AS min_{i}",
            f"max({x}) FILTER (WHERE {used}) AS max_{i}",
        ]
    return "SELECT\n    " + ",\n    ".join(cols) + f"\nFROM {relation} AS segdb_source"


def _weighted_stats_query(d: Definition, relation: str, cols: list[str], used: str) -> str:
    """The statistics with survey weights w: mean = sum(w x) / sum(w) and population standard
    deviation sqrt(sum(w (x - mean)^2) / sum(w)); two passes (the means first) for accuracy."""
    w = weight_sql(d)
    means = []
    for i, f in enumerate(d.features, start=1):
        x = _as_double(f)
        ok = f"{used} AND isfinite({x})"
        means.append(f"sum({w} * {x}) FILTER (WHERE {ok}) / sum({w}) FILTER (WHERE {ok}) AS segdb_mean_{i}")
        cols += [
            f"count({feature_sql(f)}) AS n_{i}",
            f"count(*) FILTER (WHERE {feature_sql(f)} IS NOT NULL AND NOT isfinite({x})) AS nonfinite_{i}",
            f"any_value(segdb_mean_{i}) AS mean_{i}",
            f"sqrt(sum({w} * ({x} - segdb_mean_{i}) * ({x} - segdb_mean_{i})) FILTER (WHERE {ok}) "
            f"/ sum({w}) FILTER (WHERE {ok})) AS stddev_{i}",
            f"min({x}) FILTER (WHERE {used}) AS min_{i}",
            f"max({x}) FILTER (WHERE {used}) AS max_{i}",
        ]
    return (f"WITH segdb_means AS (SELECT {', '.join(means)} FROM {relation} AS segdb_source)\n"
            "SELECT\n    " + ",\n    ".join(cols)
            + f"\nFROM {relation} AS segdb_source CROSS JOIN segdb_means")


def scaled_expressions(d: Definition) -> tuple[list[str], int]:
    """``(x - ?) / ?`` per feature (with ``coalesce(x, ?)`` under nulls=mean); parameters per feature."""
    exprs = []
    for f in d.features:
        x = _as_double(f)
        if d.nulls == "mean":
            exprs.append(f"(coalesce({x}, ?) - ?) / ?")
        else:
            exprs.append(f"({x} - ?) / ?")
    return exprs, (3 if d.nulls == "mean" else 2)


def scaled_params(d: Definition, stats) -> list[float]:
    params: list[float] = []
    for s in stats:
        if d.nulls == "mean":
            params += [s.mean, s.center, s.scale]
        else:
            params += [s.center, s.scale]
    return params


def matrix_query(d: Definition, relation: str) -> str:
    """Keys and the standardised features as one DOUBLE[d] array per row, ordered by key.

    Fetched through Arrow, the array column's values are already one C-contiguous float64 matrix.
    Ordering by key makes the fit independent of the order rows are stored in.
    """
    exprs, _ = scaled_expressions(d)
    weight = f",\n       {weight_sql(d)} AS segdb_w" if weight_column(d) is not None else ""
    return (
        f"SELECT {q(d.key)} AS segdb_key,\n"
        f"       [{', '.join(exprs)}]::DOUBLE[{len(d.features)}] AS segdb_z{weight}\n"
        f"FROM {relation} AS segdb_source\n"
        f"WHERE {used_condition(d)}\n"
        f"ORDER BY segdb_key"
    )


def segments_view(d: Definition, run_id: int) -> str:
    return (
        f"CREATE OR REPLACE VIEW {d.segments_view} AS\n"
        f"SELECT l.segdb_key AS {q(d.key)}, l.segment_id, l.distance, l.run_id,\n"
        f"       n.name AS segment_name, l.fitted\n"
        f"FROM {d.labels_table} AS l\n"
        f"LEFT JOIN segdb.segment_ids AS n\n"
        f"  ON n.segmentation = {sql_literal(d.name)} AND n.segment_id = l.segment_id\n"
        f"WHERE l.run_id = {sql_literal(int(run_id))}"
    )


def centroids_view(d: Definition, run_id: int) -> str:
    pivots = ",\n       ".join(
        f"max(CASE WHEN c.feature_no = {i} THEN c.value_raw END) AS {q(f.name)}"
        for i, f in enumerate(d.features, start=1)
    )
    return (
        f"CREATE OR REPLACE VIEW {d.centroids_view} AS\n"
        f"SELECT s.segment_id, s.size, s.share,\n       {pivots},\n       n.name AS segment_name\n"
        f"FROM segdb.segments AS s JOIN segdb.centroids AS c\n"
        f"  ON c.run_id = s.run_id AND c.segment_id = s.segment_id\n"
        f"LEFT JOIN segdb.segment_ids AS n\n"
        f"  ON n.segmentation = {sql_literal(d.name)} AND n.segment_id = s.segment_id\n"
        f"WHERE s.run_id = {sql_literal(int(run_id))}\n"
        f"GROUP BY s.segment_id, s.size, s.share, n.name\n"
        f"ORDER BY s.segment_id"
    )
