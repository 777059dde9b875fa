"""Survey weights: an optional numeric column whose values weight every row.

With a weight column the statistics are weighted (mean and population standard deviation with
weights w: sum(w x) / sum(w) and sqrt(sum(w (x - mean)^2) / sum(w)), computed in SQL), the fit
gets ``sample_weight`` (scikit-learn's weighted k-means), and every segment gets a weighted size
(the sum of its members' weights) and a weighted share (that sum over the total weight), stored in
``segdb.segments.weighted_size`` / ``weighted_share``. Unweighted ``size`` and ``share`` stay counts.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, DefinitionError
from ..engines.quoting import quote_identifier as q


def weight_column(d) -> str | None:
    """The definition's weight column, or None (stored in the definition's options)."""
    return (d.options or {}).get("weight")


def check_weight_column(columns: dict[str, str], weight: str, src, key: str) -> str:
    from .source import find_column, is_numeric_type

    if not isinstance(weight, str) or not weight:
        raise DefinitionError(f"the weight must be a column name, not {weight!r}")
    col = find_column(columns, weight, src, "weight")
    if col == key:
        raise DefinitionError(f"column {key!r} is the key; it cannot also be the weight")
    if not is_numeric_type(columns[col]):
        raise DefinitionError(f"weight column {col!r} in {src.describe()} has type {columns[col]}, "
                              "not a number; cast it in a source SELECT or choose another column")
    return col


def weight_sql(d) -> str:
    return f"CAST({q(weight_column(d))} AS DOUBLE)"


def check_query(d, relation: str, used: str) -> str:
    """Rows used whose weight is NULL, negative or not finite, and the total weight."""
    w = weight_sql(d)
    return (f"SELECT count(*) FILTER (WHERE {w} IS NULL), "
            f"count(*) FILTER (WHERE {w} < 0 OR NOT isfinite({w})), sum({w}) FILTER (WHERE {w} >= 0) "
            f"FROM {relation} AS segdb_source WHERE {used}")


def check(con, d, relation: str, used: str, where: str) -> None:
    column = weight_column(d)
    missing, bad, total = con.execute(check_query(d, relation, used)).fetchall()[0]
    if missing:
        raise DataError(f"weight column {column!r} is NULL on {missing} rows used of {where}; "
                        "fill the weights or filter those rows in a source SELECT")
    if bad:
        raise DataError(f"weight column {column!r} is negative, NaN or infinite on {bad} rows of "
                        f"{where}; weights must be finite numbers >= 0")
    if not total or total <= 0:
        raise DataError(f"the weights in column {column!r} of {where} sum to 0; "
                        "at least one row needs a positive weight")


def weighted_sizes(labels: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum of weights per segment, share of the total weight per segment); labels are 1-based."""
    sizes = np.bincount(labels.astype(np.int64) - 1, weights=weights, minlength=k)
    return sizes, sizes / sizes.sum()


def segment_weighted_sizes(labels: np.ndarray, weights: np.ndarray, k: int) -> dict:
    """The segments' weighted_size and weighted_share columns, segment id -> value, for the
    write-back to store with the segments rows (written once, complete: no UPDATE afterwards)."""
    sizes, shares = weighted_sizes(labels, weights, k)
    return {"weighted_size": {j + 1: float(sizes[j]) for j in range(k)},
            "weighted_share": {j + 1: float(shares[j]) for j in range(k)}}
