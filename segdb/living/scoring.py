"""Nearest-centroid scoring in plain SQL, from a run's stored statistics and centroids.

The same expressions serve every place that labels rows without Python: the `<name>_assign` /
`<name>_distance` macros, assigning new customers, labelling every row when the fit ran on a sample,
and drift checks. They are portable SQL (arithmetic, LEAST, CASE): no engine-specific functions.

Distances are squared Euclidean distances in the run's scaled units, summed as (z - c)^2 feature by
feature; the label is the segment with the smallest one, and on a tie the lowest segment id (CASE
tests the centroids in the order given, and every caller lists them by ascending id). A NULL in any
feature makes every distance NULL, and so the label and the distance NULL.

Every labelled row also gets its place (issue 17): the runner-up segment (the nearest one but its
own, lowest id among equals: on a tie for the nearest, the runner-up is the second of the tied ids),
the Euclidean distance to it, and a confidence in [0, 1], the simplified silhouette
(d2 - d1) / max(d1, d2) = (d2 - d1) / d2 with d1, d2 the Euclidean distances to the own and the
runner-up centroid: exactly 0 on a tie, 0 when both are 0, NULL with one segment (no runner-up).

The algebraic expansion |z|^2 - 2 z.c + |c|^2 (one multiplication per feature and centroid instead of
a subtraction and a multiplication) measured 5-15% faster at 10M rows, but it rounds differently:
ties and near-ties would no longer match numpy's nearest centroid or the stored labels of a full
fit, and the distance loses precision near a centroid (cancellation). Precomputing the scaled terms
or the differences in subqueries measured within noise of this form. See docs/performance.md.
Numbers are rendered with :func:`segdb.engines.quoting.sql_literal` because macro and view bodies cannot
hold bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..define.definitions import LABEL_PLACE_COLUMNS
from ..engines.quoting import sql_literal


def scaled_terms(feature_sql: Sequence[str], centers: Sequence[float], scales: Sequence[float]) -> list[str]:
    """``(CAST(x AS DOUBLE) - center) / scale`` for each feature expression."""
    return [f"((CAST({x} AS DOUBLE) - {sql_literal(float(c))}) / {sql_literal(float(s))})"
            for x, c, s in zip(feature_sql, centers, scales)]


def squared_distances(terms: Sequence[str], centroids: Sequence[Sequence[float]]) -> list[str]:
    """One expression per centroid: sum over features of (term - centroid)^2."""
    out = []
    for centroid in centroids:
        parts = []
        for t, c in zip(terms, centroid):
            diff = f"({t} - {sql_literal(float(c))})"
            parts.append(f"{diff} * {diff}")
        out.append(balanced_sum(parts))
    return out


# Up to this many terms a sum is written a + b + c ..., which engines parse as a chain as deep as it
# is long; DuckDB refuses expressions deeper than 1000 (max_expression_depth), so a longer sum is
# written as a tree of such chains, whose depth grows with the log of the number of terms.
CHAIN = 64


def balanced_sum(parts: Sequence[str]) -> str:
    """``(a + b + ...)``, nested in chunks of at most CHAIN terms when there are more (the same
    additions, grouped: a definition of up to CHAIN features sums exactly as before)."""
    if len(parts) <= CHAIN:
        return "(" + " + ".join(parts) + ")"
    size = -(-len(parts) // CHAIN)  # terms per chunk, so that there are at most CHAIN chunks
    return balanced_sum([balanced_sum(parts[i:i + size]) for i in range(0, len(parts), size)])


def _first_smallest(values: Sequence[str], results: Sequence[str]) -> str:
    """CASE giving the result beside the first of the smallest ``values`` (NULL when they are NULL)."""
    smallest = f"least({', '.join(values)})"
    whens = " ".join(f"WHEN {v} = {smallest} THEN {r}" for v, r in zip(values, results))
    return f"CASE {whens} ELSE NULL END"


def nearest_from_columns(distance_columns: Sequence[str], segment_ids: Sequence[int]) -> tuple[str, str]:
    """(segment_id expression, distance expression) over already computed squared-distance columns."""
    return (_first_smallest(distance_columns, [str(int(sid)) for sid in segment_ids]),
            f"sqrt(least({', '.join(distance_columns)}))")


PLACE_COLUMNS = tuple(column for column, _ in LABEL_PLACE_COLUMNS)  # as the labels tables store them


def _place_layers(inner: str, cols: Sequence[str], segment_ids: Sequence[int], carried: str) -> str:
    """The labelling SELECT over ``inner`` (a subquery aliased segdb_scored with segdb_key, the
    squared-distance ``cols`` and the carried columns), in three layers so each expression is
    computed once per row: the label and the smallest squared distance, then the runner-up's squared
    distance (the smallest of the others), then the runner-up id (the first other segment at that
    distance) and the confidence. PostgreSQL fences each layer (segdb.engines.translate)."""
    ids = [str(int(sid)) for sid in segment_ids]
    label = _first_smallest(cols, ids)
    listed = ", ".join(cols)
    nearest = (f"SELECT segdb_key, {listed}{carried}, {label} AS segment_id, least({listed}) AS segdb_m\n"
               f"FROM {inner}")
    if len(cols) < 2:  # one segment: no runner-up
        return (f"SELECT segdb_key, segment_id, sqrt(segdb_m) AS distance, CAST(NULL AS INTEGER) AS "
                f"runner_up_id, CAST(NULL AS DOUBLE) AS runner_up_distance, CAST(NULL AS DOUBLE) AS "
                f"confidence{carried}\nFROM ({nearest}) AS segdb_nearest")
    others = ", ".join(f"CASE WHEN segment_id <> {i} THEN {c} END" for c, i in zip(cols, ids))
    second = (f"SELECT segdb_key, {listed}{carried}, segment_id, segdb_m, least({others}) AS segdb_r\n"
              f"FROM ({nearest}) AS segdb_nearest")
    runner_up = " ".join(f"WHEN segment_id <> {i} AND {c} = segdb_r THEN {i}" for c, i in zip(cols, ids))
    # sqrt(r) = sqrt(m) exactly on a tie (r = m), so the confidence is exactly 0 there
    confidence = ("CASE WHEN segdb_r > 0 THEN (sqrt(segdb_r) - sqrt(segdb_m)) / sqrt(segdb_r) "
                  "WHEN segdb_r = 0 THEN CAST(0 AS DOUBLE) END")
    return (f"SELECT segdb_key, segment_id, sqrt(segdb_m) AS distance, CASE {runner_up} ELSE NULL END "
            f"AS runner_up_id, sqrt(segdb_r) AS runner_up_distance, {confidence} AS confidence{carried}\n"
            f"FROM ({second}) AS segdb_second")


def labelling_query(key_sql: str, feature_sql: Sequence[str], relation: str, *, centers, scales,
                    centroids, segment_ids, where: str | None = None,
                    carry: Sequence[tuple[str, str]] = ()) -> str:
    """SELECT key, segment_id, distance, runner_up_id, runner_up_distance, confidence for every row
    of ``relation`` (and ``carry``: further (expression over the source, alias) pairs, passed
    through as columns).

    The squared distances are computed once in a subquery, then compared. DuckDB keeps the subquery's
    columns computed once (13.5M rows/s at k=6, d=8 on the 2-core dev machine); PostgreSQL would
    inline them into every CASE branch, so its dialect must fence the subquery (OFFSET 0).
    Do not filter on this query's segment_id or distance (e.g. ``WHERE segment_id IS NOT NULL``):
    DuckDB pushes such a filter below the projection and computes every distance once per segment
    (4.6 s instead of 0.3 s for 1M rows at k=6, d=6); restrict the rows with ``where`` instead.
    """
    terms = scaled_terms(feature_sql, centers, scales)
    dists = squared_distances(terms, centroids)
    cols = [f"segdb_d{i}" for i in range(1, len(dists) + 1)]
    inner = ",\n           ".join([f"{expr} AS {col}" for expr, col in zip(dists, cols)]
                                   + [f"{expr} AS {alias}" for expr, alias in carry])
    carried = "".join(f", {alias}" for _, alias in carry)
    scored = (f"(SELECT {key_sql} AS segdb_key,\n           {inner}\n"
              f"      FROM {relation} AS segdb_source"
              + (f"\n      WHERE {where}" if where else "")
              + ") AS segdb_scored")
    return _place_layers(scored, cols, segment_ids, carried)


def macro_bodies(params: Sequence[str], *, centers, scales, centroids, segment_ids,
                 nearest_helper: str | None = None) -> tuple[str, str]:
    """(assign body, distance body) for scalar macros/functions taking one argument per feature.

    With ``nearest_helper`` (the name of :func:`nearest_helper_body`'s macro, DuckDB) the assign
    body passes the k distances to it once instead of writing each of them k + 1 times: the same
    expression once the macros are expanded, but a body k times shorter to parse (75 KB took
    0.1 s to create at k=6, d=8)."""
    terms = scaled_terms(params, centers, scales)
    dists = squared_distances(terms, centroids)
    assign, distance = nearest_from_columns(dists, segment_ids)
    if nearest_helper is not None:
        ids = ", ".join(str(int(sid)) for sid in segment_ids)
        assign = f"{nearest_helper}({', '.join(dists)}, {ids})"
    return assign, distance


def distances_body(params: Sequence[str], *, centers, scales, centroids) -> str:
    """The body of ``<name>_distances``: the Euclidean distance to every centroid, as a list in
    the order given (ascending segment id), in DuckDB SQL (``[a, b]``; translated to an ARRAY on
    PostgreSQL and Spark)."""
    terms = scaled_terms(params, centers, scales)
    return "[" + ", ".join(f"sqrt({d})" for d in squared_distances(terms, centroids)) + "]"


def nearest_helper_body(k: int) -> tuple[list[str], str]:
    """(parameters, body) of a macro taking k squared distances then k segment ids and returning the
    id of the smallest distance (the first on a tie; NULL when the distances are NULL), the CASE of
    :func:`nearest_from_columns` over parameters instead of expressions."""
    dists = [f"d{i}" for i in range(1, k + 1)]
    ids = [f"id{i}" for i in range(1, k + 1)]
    return dists + ids, _first_smallest(dists, ids)
