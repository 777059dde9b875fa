"""Nearest-centroid scoring in plain SQL, from a run's stored statistics and centroids.

The same expressions serve every place that labels rows without Python: the `<name>_assign` /
`<name>_distance` macros, assigning new customers, labelling every row when the fit ran on a sample,
and drift checks. They are portable SQL (arithmetic, LEAST, CASE): no engine-specific functions.

Distances are squared Euclidean distances in the run's scaled units, summed as (z - c)^2 feature by
feature; the label is the segment with the smallest one, and on a tie the lowest segment id (CASE
tests the centroids in the order given, and every caller lists them by ascending id). A NULL in any
feature makes every distance NULL, and so the label and the distance NULL.

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


def labelling_query(key_sql: str, feature_sql: Sequence[str], relation: str, *, centers, scales,
                    centroids, segment_ids, where: str | None = None,
                    carry: Sequence[tuple[str, str]] = ()) -> str:
    """SELECT key, segment_id, distance for every row of ``relation`` (and ``carry``: further
    (expression over the source, alias) pairs, passed through as columns).

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
    label, distance = nearest_from_columns(cols, segment_ids)
    inner = ",\n           ".join([f"{expr} AS {col}" for expr, col in zip(dists, cols)]
                                   + [f"{expr} AS {alias}" for expr, alias in carry])
    carried = "".join(f", {alias}" for _, alias in carry)
    return (
        f"SELECT segdb_key, {label} AS segment_id, {distance} AS distance{carried}\n"
        f"FROM (SELECT {key_sql} AS segdb_key,\n           {inner}\n"
        f"      FROM {relation} AS segdb_source"
        + (f"\n      WHERE {where}" if where else "")
        + ") AS segdb_scored"
    )


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


def nearest_helper_body(k: int) -> tuple[list[str], str]:
    """(parameters, body) of a macro taking k squared distances then k segment ids and returning the
    id of the smallest distance (the first on a tie; NULL when the distances are NULL), the CASE of
    :func:`nearest_from_columns` over parameters instead of expressions."""
    dists = [f"d{i}" for i in range(1, k + 1)]
    ids = [f"id{i}" for i in range(1, k + 1)]
    return dists + ids, _first_smallest(dists, ids)
