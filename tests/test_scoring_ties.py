"""segdb.living.scoring.labelling_query on hand-worked ties and NULLs, and against numpy on random rows.

The label is the segment with the smallest squared distance computed as sum((z - c)^2) feature by
feature; on an exact tie the first centroid listed wins (CASE tests them in order), which is
the lowest segment id because callers list centroids by ascending id. The
algebraic expansion |z|^2 - 2 z.c + |c|^2 is not used: it rounds differently, so it would move
ties and near-ties away from what the macros and numpy give, and it loses the distance's precision
near a centroid (cancellation).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from segdb.living.scoring import labelling_query

CENTROIDS = [[-2.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]


def label_rows(rows, *, centers=(0.0, 0.0, 0.0), scales=(1.0, 1.0, 1.0), centroids=CENTROIDS,
               segment_ids=(1, 2, 3)):
    con = duckdb.connect()
    con.execute("CREATE TABLE pts (id INTEGER, a DOUBLE, b DOUBLE, c DOUBLE)")
    con.executemany("INSERT INTO pts VALUES (?, ?, ?, ?)", [[i, *r] for i, r in enumerate(rows)])
    q = labelling_query("id", ["a", "b", "c"], "pts", centers=list(centers), scales=list(scales),
                        centroids=centroids, segment_ids=list(segment_ids))
    out = con.execute(f"SELECT segdb_key, segment_id, distance FROM ({q}) ORDER BY segdb_key").fetchall()
    con.close()
    return [(s, d) for _, s, d in out]


@pytest.mark.parametrize("point, segment, distance", [
    ((0.0, 0.0, 0.0), 1, 2.0),           # 4 = 4 = 4: three-way tie, lowest id
    ((1.0, 1.0, 0.0), 2, np.sqrt(2)),    # ids 2 and 3 tie at 2, id 1 at 10
    ((-1.0, 1.0, 7.0), 1, np.sqrt(51)),  # ids 1 and 3 tie at 2 + 49
    ((2.0, 0.1, 0.0), 2, 0.1),           # no tie
])
def test_exact_ties_go_to_the_lowest_segment_id(point, segment, distance):
    [(got_segment, got_distance)] = label_rows([point])
    assert got_segment == segment
    assert got_distance == pytest.approx(distance, rel=1e-15)


def test_a_tie_goes_to_the_first_centroid_listed():
    # CASE tests the centroids in the order given; every caller (segdb.living.runmodel) lists them by
    # ascending segment id, which makes "first listed" the lowest id.
    [(segment, _)] = label_rows([(0.0, 0.0, 0.0)], centroids=CENTROIDS[::-1], segment_ids=(3, 2, 1))
    assert segment == 3


def test_null_feature_gives_null_label_and_distance():
    assert label_rows([(None, 0.0, 0.0), (0.0, None, 1.0)]) == [(None, None), (None, None)]


def test_equals_numpy_nearest_centroid_on_random_rows():
    rng = np.random.default_rng(5)
    centers, scales = rng.normal(size=3), rng.uniform(0.5, 3.0, size=3)
    centroids = rng.normal(size=(5, 3))
    X = rng.normal(size=(20_000, 3)) * 2
    got = label_rows(X.tolist(), centers=centers.tolist(), scales=scales.tolist(),
                     centroids=centroids.tolist(), segment_ids=(1, 2, 3, 4, 5))
    Z = (X - centers) / scales
    D = ((Z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    best = np.argmin(D, axis=1)
    assert [s for s, _ in got] == (best + 1).tolist()
    np.testing.assert_allclose([d for _, d in got], np.sqrt(D[np.arange(len(best)), best]), rtol=1e-7, atol=1e-9)
