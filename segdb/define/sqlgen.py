"""SQL whose shape depends on a definition's features (one expression per feature).

Everything here is built from identifiers quoted by :func:`quote_identifier`; numbers are bound as
``?`` parameters, except in view bodies, where DuckDB cannot bind and :func:`sql_literal` renders
the run id. Statements whose shape does not depend on the features live in ``sql/``.
``segdb show-sql NAME`` prints what this module generates for a definition, to run by hand.
"""

from __future__ import annotations

from .definitions import Definition
from .features import feature_sql
from ..engines.quoting import quote_identifier as q
from ..engines.quoting import sql_literal
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


def stats_query(d: Definition, relation: str, key_declared_unique: bool = False,
                count_distinct: bool = False) -> str:
    """One scan of the source: key checks, row counts, fingerprint, per-feature statistics.

    Per feature i the columns are n_i, nonfinite_i, mean_i, stddev_i, min_i, max_i. Mean and
    standard deviation are taken over the rows used for the fit (complete rows under nulls=skip,
    every non-NULL value otherwise), as StandardScaler would on the fitted matrix; with a survey
    weight w they are weighted (sum(w x) / sum(w), and the population sd around that mean).
    Measured at 10M rows: the features are cast once in a subquery and the aggregates pick rows
    with CASE rather than FILTER (one FILTER per aggregate made the scan 2.6 times slower), and the
    key counts run as their own subqueries (sharing a scan with the distinct count raised the peak
    memory from 0.7 GB to 2 GB).
    ``key_declared_unique``: the source declares the key PRIMARY KEY or UNIQUE (the database
    enforces it; segdb.define.source.key_declared_unique), so the distinct count, a GROUP BY over every key
    (0.5-0.75 s of 2.1 s at 10M rows, most of the statistics at 100M), is not run: keys_distinct is
    keys_present.
    ``count_distinct`` (PostgreSQL): the key counts and the distinct count share one scan, as
    ``count(DISTINCT key)``, a sort that spills within work_mem; PostgreSQL's GROUP BY over 1M keys
    took 1.4-1.8 s at the default work_mem of 4 MB, count(DISTINCT) 0.2-0.5 s.
    """
    key = q(d.key)
    used = "segdb_complete" if d.nulls == "skip" else "TRUE"
    weighted = weight_column(d) is not None
    keys = (f"SELECT count(*) AS rows_total, count({key}) AS keys_present"
            + ("" if key_declared_unique or not count_distinct else f", count(DISTINCT {key}) AS keys_distinct")
            + f" FROM {relation} AS segdb_source")
    # GROUP BY rather than count(DISTINCT): under a memory limit its hash table spills to disk,
    # count(DISTINCT)'s does not (out of memory at 100M keys even with 2 GiB).
    distinct = (f"SELECT count(*) AS keys_distinct FROM (SELECT {key} FROM {relation} AS segdb_source "
                f"WHERE {key} IS NOT NULL GROUP BY {key}) AS segdb_distinct_keys")
    inner = [f"{key} AS segdb_k"] + [
        f"{feature_sql(f)} AS segdb_v{i}" for i, f in enumerate(d.features, start=1)
    ] + [
        f"{_as_double(f)} AS segdb_x{i}" for i, f in enumerate(d.features, start=1)
    ] + [f"({complete_condition(d)}) AS segdb_complete"]
    if weighted:
        inner.append(f"{weight_sql(d)} AS segdb_w")
    values = ", ".join(f"segdb_v{i}" for i in range(1, len(d.features) + 1))
    cols = [
        "count(CASE WHEN segdb_k IS NOT NULL AND segdb_complete THEN 1 END) AS rows_complete",
        # Order-independent fingerprint of keys and feature values: xor of row hashes (keys are unique).
        f"bit_xor(hash(segdb_k, {values})) AS fingerprint",
    ]
    means = []
    for i in range(1, len(d.features) + 1):
        x = f"segdb_x{i}"
        ok = f"{used} AND isfinite({x})"
        cols += [f"count(segdb_v{i}) AS n_{i}",
                 f"count(CASE WHEN NOT isfinite({x}) THEN 1 END) AS nonfinite_{i}"]
        if weighted:  # two passes (the means first) for accuracy
            means.append(f"sum(CASE WHEN {ok} THEN segdb_w * {x} END) / "
                         f"sum(CASE WHEN {ok} THEN segdb_w END) AS segdb_mean_{i}")
            dev = f"({x} - segdb_mean_{i})"
            cols += [f"any_value(segdb_mean_{i}) AS mean_{i}",
                     f"sqrt(sum(CASE WHEN {ok} THEN segdb_w * {dev} * {dev} END) / "
                     f"sum(CASE WHEN {ok} THEN segdb_w END)) AS stddev_{i}"]
        else:
            cols += [f"avg(CASE WHEN {ok} THEN {x} END) AS mean_{i}",
                     f"stddev_pop(CASE WHEN {ok} THEN {x} END) AS stddev_{i}"]
        cols += [f"min(CASE WHEN {used} THEN {x} END) AS min_{i}",
                 f"max(CASE WHEN {used} THEN {x} END) AS max_{i}"]
    cast = f"(SELECT {', '.join(inner)} FROM {relation} AS segdb_source)"
    if weighted:
        source = (f"(SELECT * FROM {cast} AS segdb_c CROSS JOIN "
                  f"(SELECT {', '.join(means)} FROM {cast} AS segdb_m) AS segdb_means)")
    else:
        source = cast
    features = "SELECT\n    " + ",\n    ".join(cols) + f"\nFROM {source} AS segdb_cast"
    if key_declared_unique:
        return (f"SELECT segdb_keys.*, segdb_keys.keys_present AS keys_distinct, segdb_features.*\n"
                f"FROM ({keys}) AS segdb_keys,\n({features}) AS segdb_features")
    if count_distinct:
        return f"SELECT *\nFROM ({keys}) AS segdb_keys,\n({features}) AS segdb_features"
    return (f"SELECT *\nFROM ({keys}) AS segdb_keys,\n({distinct}) AS segdb_distinct,\n"
            f"({features}) AS segdb_features")


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


def matrix_query(d: Definition, relation: str, *, ordered: bool = True) -> str:
    """Keys and the standardised features as one DOUBLE[d] array per row, ordered by key.

    Fetched through Arrow, the array column's values are already one C-contiguous float64 matrix.
    Ordering by key makes the fit independent of the order rows are stored in; the fast fit
    (segdb.cluster.fitplan) does not depend on row order and skips the sort (``ordered=False``).
    """
    exprs, _ = scaled_expressions(d)
    weight = f",\n       {weight_sql(d)} AS segdb_w" if weight_column(d) is not None else ""
    return (
        f"SELECT {q(d.key)} AS segdb_key,\n"
        f"       [{', '.join(exprs)}]::DOUBLE[{len(d.features)}] AS segdb_z{weight}\n"
        f"FROM {relation} AS segdb_source\n"
        f"WHERE {used_condition(d)}"
        + ("\nORDER BY segdb_key" if ordered else "")
    )


def current_run_sql(name: str) -> str:
    """The current run of segmentation ``name`` as a scalar subquery (its newest commit record)."""
    return f"(SELECT run_id FROM segdb.current_runs WHERE segmentation = {sql_literal(name)})"


def segments_view(d: Definition, run_id: int | None, *, pointer: bool = False) -> str:
    """The labels of run ``run_id``, or with ``pointer`` of whichever run is current (the view then
    follows each commit record without being rewritten)."""
    return f"CREATE OR REPLACE VIEW {d.segments_view} AS\n{segments_view_query(d, run_id, pointer=pointer)}"


def segments_view_query(d: Definition, run_id: int | None, *, pointer: bool = False) -> str:
    """The query of :func:`segments_view` (Spark compares it with the view's stored text)."""
    run = current_run_sql(d.name) if pointer else sql_literal(int(run_id))
    return (
        f"SELECT l.segdb_key AS {q(d.key)}, l.segment_id, l.distance, l.run_id,\n"
        f"       n.name AS segment_name, l.fitted, l.runner_up_id, l.confidence\n"
        f"FROM {d.labels_table} AS l\n"
        f"LEFT JOIN segdb.current_segment_ids AS n\n"
        f"  ON n.segmentation = {sql_literal(d.name)} AND n.segment_id = l.segment_id\n"
        f"WHERE l.run_id = {run}"
    )


def centroids_view(d: Definition, run_id: int | None, *, pointer: bool = False) -> str:
    """The view of :func:`centroids_view_query`."""
    return f"CREATE OR REPLACE VIEW {d.centroids_view} AS\n{centroids_view_query(d, run_id, pointer=pointer)}"


def centroids_view_query(d: Definition, run_id: int | None, *, pointer: bool = False) -> str:
    """The centroids of run ``run_id`` (one column per feature of ``d``), or with ``pointer`` of
    whichever run is current, as long as that run used definition version ``d.version``: its
    columns are ``d``'s features by position, so a run of another version shows no rows rather
    than values under the wrong names (the view is rewritten when the version changes)."""
    if pointer:
        current = current_run_sql(d.name)
        run = (f"{current}\n  AND (SELECT max(r.definition_version) FROM segdb.runs AS r "
               f"WHERE r.run_id = {current}) = {sql_literal(int(d.version))}")
    else:
        run = sql_literal(int(run_id))
    pivots = ",\n       ".join(
        f"max(CASE WHEN c.feature_no = {i} THEN c.value_raw END) AS {q(f.name)}"
        for i, f in enumerate(d.features, start=1)
    )
    return (
        f"SELECT s.segment_id, s.size, s.share,\n       {pivots},\n       n.name AS segment_name\n"
        f"FROM segdb.segments AS s JOIN segdb.centroids AS c\n"
        f"  ON c.run_id = s.run_id AND c.segment_id = s.segment_id\n"
        f"LEFT JOIN segdb.current_segment_ids AS n\n"
        f"  ON n.segmentation = {sql_literal(d.name)} AND n.segment_id = s.segment_id\n"
        f"WHERE s.run_id = {run}\n"
        f"GROUP BY s.segment_id, s.size, s.share, n.name\n"
        f"ORDER BY s.segment_id"
    )
