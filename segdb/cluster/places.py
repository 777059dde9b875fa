"""Each customer's place among the segments, in memory: the runner-up segment, the distance to it
and the confidence of the label (the rows a refresh labels in Python; SQL computes the same for
the rows it labels, segdb.living.scoring, and the docs give the formula).

The runner-up is the nearest centroid but the customer's own, the lowest segment id among equals
(so on a tie for the nearest, the second of the tied ids); the confidence is the simplified
silhouette (d2 - d1) / max(d1, d2) = (d2 - d1) / d2, with d1 and d2 the Euclidean distances to
the own and the runner-up centroid: exactly 0 on a tie and when both are 0. It is floored at 0:
a Python fit's label is its last assignment, which can be a hair farther than another centroid
when the fit stopped at its tolerance; SQL labels are always the nearest.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .fastfit import distances_to_own_centroid


@dataclasses.dataclass(frozen=True)
class Places:
    runner_up_id: np.ndarray        # int32 segment ids
    runner_up_distance: np.ndarray  # float64
    confidence: np.ndarray          # float64 in [0, 1]


# Rows whose two nearest other centroids are this close (relative to |x|^2 + max |c|^2) in the
# expanded form are decided again with sum((x - c)^2): far above the expansion's rounding error
# (a few ulps of those magnitudes), so every other row's runner-up is the one the exact form gives.
NEAR_TIE = 1e-9


def places(X: np.ndarray, centers: np.ndarray, labels: np.ndarray, segment_ids: np.ndarray,
           distances: np.ndarray | None = None, chunk: int = 1 << 14) -> Places | None:
    """The place of every row of ``X`` labelled ``labels`` (segment ids; row r of ``centers`` is
    segment ``segment_ids[r]``, ascending); None with fewer than two segments (no runner-up).
    ``distances``: each row's distance to its own centroid (sqrt of sum((x - c)^2), a fit's
    distances); computed with segdb.cluster.fastfit.distances_to_own_centroid when None.

    The runner-up is found with the expanded form |c|^2 - 2 x.c (one matrix product: a third of
    the time of k subtractions at k=6, d=8), rows with a near tie among the other centroids being
    decided with the exact sum((x - c)^2) as SQL does; both distances are then computed in that
    exact form, so a tie with the own centroid gives equal distances and a confidence of 0.

    The expanded distances are held centroid by centroid (k rows of a chunk's length), so every
    step is an elementwise pass along a contiguous row: a row-wise argmin over k=6 values costs a
    call per customer (0.55 s of 1.15 s at 10M rows, measured). The runner-up then needs no argmin
    at all: a row with one centroid within the near-tie threshold of its minimum has that centroid
    as its runner-up, and a row with more is a near tie, decided in the exact form."""
    k = centers.shape[0]
    if k < 2:
        return None
    n, width = X.shape
    ids = np.asarray(segment_ids, dtype=np.int64)
    labels = np.asarray(labels)
    consecutive = bool(np.array_equal(ids, np.arange(1, k + 1)))

    def positions(segment: np.ndarray) -> np.ndarray:
        """Row r of ``centers`` for each label; per chunk: for every row at once they would be
        two int64 copies of the labels (160 MB at 10M rows, the refresh's peak)."""
        return segment.astype(np.int64) - 1 if consecutive else np.searchsorted(ids, segment)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    norms = np.einsum("ij,ij->i", centers, centers)
    minus_twice = -2.0 * centers
    largest_norm = norms.max()
    if distances is None:
        distances = distances_to_own_centroid(X, centers, positions(labels))
    runner_up = np.empty(n, dtype=np.int32)
    d2 = np.empty(n, dtype=np.float64)
    confidence = np.empty(n, dtype=np.float64)
    # One set of buffers for every chunk: no pages touched afresh per chunk.
    size = max(min(chunk, n), 1)
    expanded = np.empty(k * size, dtype=np.float64)
    offsets = np.arange(size, dtype=np.int64)
    threshold = np.empty(size, dtype=np.float64)
    within = np.empty(size, dtype=bool)
    count = np.empty(size, dtype=np.int16)
    second = np.empty(size, dtype=np.int16)  # segment positions (k is far below 2^15)
    term = np.empty(size, dtype=np.int16)
    picked = np.empty((size, width), dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = stop - start
        block = X[start:stop]
        mine = positions(labels[start:stop])
        E = expanded[: k * m].reshape(k, m)  # E[j, i] = |x_i - c_j|^2 - |x_i|^2
        np.matmul(minus_twice, block.T, out=E)
        E += norms[:, None]
        expanded[mine * m + offsets[:m]] = np.inf  # never the own centroid
        best = threshold[:m]
        np.min(E, axis=0, out=best)
        tol = np.einsum("ij,ij->i", block, block)
        tol += largest_norm
        tol *= NEAR_TIE
        best += tol  # now the threshold: every centroid within it is a candidate runner-up
        chosen, inside, close = second[:m], count[:m], within[:m]
        inside.fill(0)
        chosen.fill(0)
        for j in range(k):
            np.less_equal(E[j], best, out=close)
            np.add(inside, close, out=inside)
            # Summed, not copied where close: a masked copy branches on every customer (7x
            # slower measured). Where inside ends at 1 the sum is that one position.
            np.multiply(close, np.int16(j), out=term[:m])
            np.add(chosen, term[:m], out=chosen)
        near = np.flatnonzero(inside > 1)
        if near.size:  # near ties: the exact form, lowest id among equals
            D = np.stack([np.einsum("ij,ij->i", block[near] - c, block[near] - c) for c in centers], axis=1)
            D[np.arange(near.size), mine[near]] = np.inf
            chosen[near] = np.argmin(D, axis=1)
        diff = picked[:m]
        d1 = distances[start:stop]
        np.take(centers, chosen, axis=0, out=diff, mode="clip")  # "raise" buffers out
        np.subtract(block, diff, out=diff)
        r = d2[start:stop]
        np.einsum("ij,ij->i", diff, diff, out=r)
        np.sqrt(r, out=r)
        np.take(ids, chosen, out=runner_up[start:stop], mode="clip")  # chosen is always in range
        c = confidence[start:stop]
        with np.errstate(divide="ignore", invalid="ignore"):
            np.subtract(r, d1, out=c)
            np.divide(c, r, out=c)
        c[r <= 0] = 0.0  # both distances 0
        np.maximum(c, 0.0, out=c)
    return Places(runner_up, d2, confidence)
