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


def places(X: np.ndarray, centers: np.ndarray, labels: np.ndarray, segment_ids: np.ndarray,
           chunk: int = 1 << 17) -> Places | None:
    """The place of every row of ``X`` labelled ``labels`` (segment ids; row r of ``centers`` is
    segment ``segment_ids[r]``, ascending); None with fewer than two segments (no runner-up)."""
    k = centers.shape[0]
    if k < 2:
        return None
    n = X.shape[0]
    ids = np.asarray(segment_ids, dtype=np.int64)
    own = np.searchsorted(ids, np.asarray(labels, dtype=np.int64))
    runner_up = np.empty(n, dtype=np.int32)
    d2 = np.empty(n, dtype=np.float64)
    confidence = np.empty(n, dtype=np.float64)
    squared = np.empty((min(chunk, n), k), dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block, D = X[start:stop], squared[:stop - start]
        for j in range(k):  # sum((z - c)^2) per row, as the SQL does: no |z|^2 - 2 z.c + |c|^2 expansion
            diff = block - centers[j]
            np.einsum("ij,ij->i", diff, diff, out=D[:, j])
        rows = np.arange(stop - start)
        mine = own[start:stop]
        d1 = np.sqrt(D[rows, mine])
        D[rows, mine] = np.inf
        second = np.argmin(D, axis=1)  # the first of equals: the lowest id
        runner_up[start:stop] = ids[second]
        r = np.sqrt(D[rows, second])
        d2[start:stop] = r
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(r > 0, (r - d1) / r, 0.0)
        confidence[start:stop] = np.maximum(c, 0.0)
    return Places(runner_up, d2, confidence)
