"""The fast paths of segdb.quality.metrics (issue 6b) give scikit-learn's numbers on the inputs that take them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_samples

from segdb.quality import metrics


def test_duplicate_rows_take_the_clipped_path_and_match_sklearn():
    # Exact duplicates of rows with large norms: |x|^2 - 2 x.y + |y|^2 rounds to a small negative
    # number for some pairs, whose square root is NaN; those rows are redone with the clip at 0.
    rng = np.random.default_rng(11)
    base = rng.normal(1e4, 3.0, size=(60, 3))
    X = np.vstack([base, base, base + 0.5])
    labels = np.repeat([0, 1, 2], 60)
    rng.shuffle(labels)
    left, right = metrics._augmented(X)
    raw = left @ right
    np.fill_diagonal(raw, 1.0)  # the diagonal is set to 0 anyway
    assert (raw < 0).any()  # the case this test is about does occur between distinct rows
    ours = metrics.silhouette_samples_many(X, [labels], chunk_bytes=8 * 180 * 7)[0]
    np.testing.assert_allclose(ours, silhouette_samples(X, labels), rtol=1e-6, atol=1e-9)
    assert np.isfinite(ours).all()


@pytest.mark.parametrize("labels", [
    np.array([5, 5, 9, 9, 9, 12, 12, 5]),                    # small integer ids: the counting path
    np.array([-3, 7, 7, -3, 10**9, 10**9, 7, 7]),           # a wide range: np.unique
    np.array(["b", "a", "a", "c", "b", "c", "a", "b"]),      # not integers: np.unique
])
def test_encode_and_distinct_values_are_np_unique(labels):
    codes, k = metrics._encode(labels)
    uniques, expected = np.unique(labels, return_inverse=True)
    assert k == len(uniques) and codes.tolist() == expected.tolist()
    assert metrics.distinct_values(labels).tolist() == uniques.tolist()


def test_calinski_harabasz_and_davies_bouldin_together_equal_sklearn():
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(c, 1.0, (300, 4)) for c in (0, 3, 6)])
    labels = np.repeat([4, 2, 9], 300)
    ch, db = metrics.calinski_harabasz_and_davies_bouldin(X, labels)
    assert ch == pytest.approx(calinski_harabasz_score(X, labels), rel=1e-7)
    assert db == pytest.approx(davies_bouldin_score(X, labels), rel=1e-7)
    assert all(np.isnan(v) for v in metrics.calinski_harabasz_and_davies_bouldin(X, np.zeros(900, int)))
