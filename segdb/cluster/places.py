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
           distances: np.ndarray | None = None, chunk: int = 1 << 16) -> Places | None:
    """The place of every row of ``X`` labelled ``labels`` (segment ids; row r of ``centers`` is
    segment ``segment_ids[r]``, ascending); None with fewer than two segments (no runner-up).
    ``distances``: each row's distance to its own centroid when known, computed as here
    (sqrt of sum((x - c)^2): segdb.cluster.kmeans.distances_to_own_centroid, a fit's distances).

    The runner-up is found with the expanded form |c|^2 - 2 x.c (one matrix product: a third of
    the time of k subtractions at k=6, d=8), rows with a near tie among the other centroids being
    decided with the exact sum((x - c)^2) as SQL does; both distances are then computed in that
    exact form, so a tie with the own centroid gives equal distances and a confidence of 0."""
    k = centers.shape[0]
    if k < 2:
        return None
    n = X.shape[0]
    ids = np.asarray(segment_ids, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    own = labels - 1 if np.array_equal(ids, np.arange(1, k + 1)) else np.searchsorted(ids, labels)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    norms = np.einsum("ij,ij->i", centers, centers)
    runner_up = np.empty(n, dtype=np.int32)
    d2 = np.empty(n, dtype=np.float64)
    confidence = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = X[start:stop]
        rows = np.arange(stop - start)
        mine = own[start:stop]
        E = block @ centers.T  # |x - c|^2 - |x|^2 = |c|^2 - 2 x.c
        E *= -2.0
        E += norms
        E[rows, mine] = np.inf
        second = np.argmin(E, axis=1)
        best = E[rows, second]
        tol = NEAR_TIE * (np.einsum("ij,ij->i", block, block) + norms.max())
        near = np.flatnonzero(np.count_nonzero(E <= (best + tol)[:, None], axis=1) > 1)
        if near.size:  # near ties: the exact form, lowest id among equals
            D = np.stack([np.einsum("ij,ij->i", block[near] - c, block[near] - c) for c in centers], axis=1)
            D[np.arange(near.size), mine[near]] = np.inf
            second[near] = np.argmin(D, axis=1)
        if distances is None:
            diff = block - centers[mine]
            d1 = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        else:
            d1 = distances[start:stop]
        diff = block - centers[second]
        r = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        runner_up[start:stop] = ids[second]
        d2[start:stop] = r
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(r > 0, (r - d1) / r, 0.0)
        confidence[start:stop] = np.maximum(c, 0.0)
    return Places(runner_up, d2, confidence)
