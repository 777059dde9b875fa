"""segdb.cluster.identity: matching new segments to the previous run's ids, worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from segdb.cluster.kmeans import FitResult
from segdb.cluster.identity import apply_ids, fit_segment_ids, match_segments


def test_first_run_numbers_in_fit_order():
    m = match_segments(np.empty((0, 2)), [], np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]]), 0)
    assert m.ids == (1, 2, 3)
    assert m.matched_from == (None, None, None)
    assert m.costs == (None, None, None)
    assert m.retired == ()


def test_permuted_segments_keep_their_ids():
    # Previous: id 1 at (0,0), id 2 at (10,0), id 3 at (0,10). The new fit lists them in another order,
    # each moved a little: (0,9) is id 3 (cost 1), (1,0) is id 1 (cost 1), (9,1) is id 2 (cost sqrt 2).
    prev = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    new = np.array([[0.0, 9.0], [1.0, 0.0], [9.0, 1.0]])
    m = match_segments(prev, [1, 2, 3], new, 3)
    assert m.ids == (3, 1, 2)
    assert m.matched_from == (3, 1, 2)
    assert m.costs == pytest.approx([1.0, 1.0, np.sqrt(2)], rel=1e-15)
    assert m.retired == ()


def test_optimal_assignment_not_greedy():
    # Greedy nearest-pair-first would give new (4,0) to id 1 (cost 1), then new (0,0) to id 2
    # (cost 6): total 7. The optimum gives (0,0) to id 1 and (4,0) to id 2: 3 + 2 = 5.
    prev = np.array([[3.0, 0.0], [6.0, 0.0]])
    new = np.array([[0.0, 0.0], [4.0, 0.0]])
    m = match_segments(prev, [1, 2], new, 2)
    assert m.ids == (1, 2)
    assert sum(m.costs) == pytest.approx(5.0)
    # brute force over every assignment agrees
    cost = lambda perm: sum(abs(new[j, 0] - prev[p, 0]) for j, p in enumerate(perm))  # noqa: E731
    best = min(itertools.permutations(range(2)), key=cost)
    assert tuple(1 + p for p in best) == m.ids


def test_k_grows_fresh_id_after_the_largest_ever_used():
    # ids 1..5 were used over time (4 and 5 retired since); the current run has 1, 2, 3.
    prev = np.array([[0.0], [10.0], [20.0]])
    new = np.array([[10.5], [50.0], [0.2], [19.0]])
    m = match_segments(prev, [1, 2, 3], new, 5)
    assert m.ids == (2, 6, 1, 3)
    assert m.matched_from == (2, None, 1, 3)
    assert m.costs[1] is None
    assert m.costs[0] == pytest.approx(0.5)


def test_several_fresh_ids_follow_the_fit_order():
    m = match_segments(np.array([[0.0]]), [4], np.array([[100.0], [1.0], [-100.0]]), 4)
    assert m.ids == (5, 4, 6)


def test_k_shrinks_retires_the_unmatched():
    prev = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 11.0], [50.0, 50.0]])
    new = np.array([[10.0, 10.5], [0.5, 0.0], [49.0, 50.0]])
    m = match_segments(prev, [2, 3, 7, 9], new, 9)
    # (10,10.5) is 0.5 from both id 3 and id 7; the optimum total is the same either way, and
    # only one of them can be kept: the other one is retired.
    assert m.ids[1] == 2 and m.ids[2] == 9
    assert m.ids[0] in (3, 7)
    assert m.retired == tuple(sorted({3, 7} - {m.ids[0]}))


def test_match_is_on_raw_units_euclidean():
    prev = np.array([[0.0, 0.0], [3.0, 4.0]])
    m = match_segments(prev, [1, 2], np.array([[3.0, 4.0], [0.0, 0.0]]) + 0.0, 2)
    assert m.ids == (2, 1) and m.costs == (0.0, 0.0)
    m = match_segments(prev, [1, 2], np.array([[0.0, 0.0], [6.0, 8.0]]), 2)
    assert m.costs == pytest.approx([0.0, 5.0])


def _fit(labels, centers):
    centers = np.asarray(centers, dtype=float)
    labels = np.asarray(labels, dtype=np.int32)
    return FitResult(labels=labels, centers=centers, distances=np.arange(len(labels), dtype=float),
                     inertia=1.0, n_iter=3)


def test_apply_ids_relabels_rows_and_orders_centroids_by_id():
    fit = _fit([1, 2, 3, 1, 3], [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    out = apply_ids(fit, [7, 2, 4])
    assert out.labels.tolist() == [7, 2, 4, 7, 4]
    assert out.labels.dtype == np.int32
    assert out.segment_ids.tolist() == [2, 4, 7]
    assert out.centers.tolist() == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]
    assert out.distances.tolist() == fit.distances.tolist()
    assert fit_segment_ids(out).tolist() == [2, 4, 7]
    assert fit_segment_ids(fit).tolist() == [1, 2, 3]
