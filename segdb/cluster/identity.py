"""Stable segment ids: match a new fit's segments to the current run's segments.

A refresh re-fits k-means from scratch, so the fit numbers its segments afresh (largest first).
Campaigns are keyed to segment ids, so a segment must keep its id while it describes the same group:
the new segments are matched to the current run's segments by optimal assignment
(:func:`scipy.optimize.linear_sum_assignment`) on the Euclidean distance between centroids in source
units (raw units stay comparable across runs; each run's scaled units depend on its own statistics).

- a matched new segment takes the id of its previous segment; the distance is its match cost;
- an unmatched new segment (k grew) takes a fresh id: one more than the largest id the segmentation
  ever used, so an id never comes back with another meaning; fresh ids follow the fit's order;
- an unmatched previous segment (k shrank) is retired.
The first run has no previous segments: its ids are 1..k in the fit's order (largest first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Matching:
    ids: tuple[int, ...]                    # new segment at fit position j -> its segment id
    matched_from: tuple[int | None, ...]    # position j -> the previous id it continues, or None
    costs: tuple[float | None, ...]         # position j -> centroid distance (raw units), or None
    retired: tuple[int, ...]                # previous ids no new segment continues, ascending


def match_segments(previous_centroids: np.ndarray, previous_ids: Sequence[int],
                   new_centroids: np.ndarray, max_used_id: int) -> Matching:
    """Map the new segments (rows of ``new_centroids``, in fit order) to segment ids.

    ``previous_centroids`` has one row per previous segment (``previous_ids`` in the same order),
    with the same columns as ``new_centroids``, in raw units; it may have zero rows. ``max_used_id``
    is the largest id the segmentation ever used (0 if none).
    """
    new = np.asarray(new_centroids, dtype=np.float64)
    prev = np.asarray(previous_centroids, dtype=np.float64).reshape(len(previous_ids), new.shape[1])
    k_new = new.shape[0]
    ids: list[int | None] = [None] * k_new
    matched_from: list[int | None] = [None] * k_new
    costs: list[float | None] = [None] * k_new
    if prev.shape[0]:
        cost = np.sqrt(((new[:, None, :] - prev[None, :, :]) ** 2).sum(axis=2))
        from scipy.optimize import linear_sum_assignment  # here: `segdb --help` / `list` stay light
        rows, cols = linear_sum_assignment(cost)
        for j, p in zip(rows, cols):
            ids[j] = int(previous_ids[p])
            matched_from[j] = int(previous_ids[p])
            costs[j] = float(cost[j, p])
    next_id = max(int(max_used_id), max((int(i) for i in previous_ids), default=0)) + 1
    for j in range(k_new):
        if ids[j] is None:
            ids[j] = next_id
            next_id += 1
    kept = {i for i in matched_from if i is not None}
    retired = tuple(sorted(int(i) for i in previous_ids if int(i) not in kept))
    return Matching(tuple(int(i) for i in ids), tuple(matched_from), tuple(costs), retired)


def apply_ids(fit, ids: Sequence[int]):
    """The fit with segment ``ids[j]`` for fit position j: labels carry the ids, centroid rows are
    ordered by ascending id, and ``segment_ids`` lists those ids (row r of centers is ids_sorted[r])."""
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    labels = ids[fit.labels.astype(np.int64) - 1].astype(np.int32)
    return dataclasses.replace(fit, labels=labels, centers=np.ascontiguousarray(fit.centers[order]),
                               segment_ids=ids[order])


def fit_segment_ids(fit) -> np.ndarray:
    """The segment id of each row of ``fit.centers`` (1..k unless :func:`apply_ids` renumbered)."""
    ids = getattr(fit, "segment_ids", None)
    if ids is None:
        return np.arange(1, fit.centers.shape[0] + 1, dtype=np.int64)
    return np.asarray(ids, dtype=np.int64)
