"""Silhouette, Calinski-Harabasz and Davies-Bouldin against sklearn.metrics, in memory and as stored."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import (calinski_harabasz_score, davies_bouldin_score, silhouette_samples,
                             silhouette_score)
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from conftest import WHOLESALE_COLUMNS, load_wholesale, wholesale_matrix
from segdb.quality import metrics


@pytest.fixture(scope="module")
def wholesale_z():
    return StandardScaler().fit_transform(wholesale_matrix())


@pytest.mark.parametrize("k", [2, 3, 5])
def test_metrics_equal_sklearn_on_wholesale(wholesale_z, k):
    labels = KMeans(k, n_init=4, random_state=1).fit(wholesale_z).labels_
    assert metrics.calinski_harabasz(wholesale_z, labels) == pytest.approx(
        calinski_harabasz_score(wholesale_z, labels), rel=1e-7)
    assert metrics.davies_bouldin(wholesale_z, labels) == pytest.approx(
        davies_bouldin_score(wholesale_z, labels), rel=1e-7)
    # Tiny blocks force many chunks of the distance matrix; the result must not depend on them.
    ours = metrics.silhouette_samples_many(wholesale_z, [labels], chunk_bytes=8 * 440 * 7)[0]
    np.testing.assert_allclose(ours, silhouette_samples(wholesale_z, labels), rtol=1e-7, atol=1e-9)


def test_one_distance_pass_serves_several_labelings(wholesale_z):
    labelings = [KMeans(k, n_init=2, random_state=0).fit(wholesale_z).labels_ for k in (2, 4, 7)]
    for ours, labels in zip(metrics.silhouette_samples_many(wholesale_z, labelings), labelings):
        np.testing.assert_allclose(ours, silhouette_samples(wholesale_z, labels), rtol=1e-7, atol=1e-9)


def test_hand_worked_silhouette_and_singleton():
    # Points 0, 1 (cluster a) and 4 (cluster b, alone). Row 0: a = 1, b = 4 -> 1 - 1/4 = 0.75;
    # row 1: a = 1, b = 3 -> 1 - 1/3; row 2 is alone in its cluster -> 0 (scikit-learn's convention).
    X = np.array([[0.0], [1.0], [4.0]])
    ours = metrics.silhouette_samples_many(X, [np.array([7, 7, 9])])[0]
    assert ours.tolist() == pytest.approx([0.75, 2 / 3, 0.0], rel=1e-12)
    np.testing.assert_allclose(ours, silhouette_samples(X, [7, 7, 9]), rtol=1e-12)


def test_silhouette_samples_beyond_the_cap_with_a_seeded_sample():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 1, (1_300, 3)), rng.normal(4, 1, (1_300, 3))])
    labels = (X.sum(axis=1) > 6).astype(int)
    mean, values, idx = metrics.silhouette(X, labels, max_rows=2_000, seed=5)
    assert len(idx) == len(values) == 2_000 and len(set(idx.tolist())) == 2_000
    assert mean == pytest.approx(silhouette_score(X[idx], labels[idx]), rel=1e-7)
    assert np.array_equal(idx, metrics.sample_indices(2_600, 2_000, 5))  # seeded: same sample each time
    assert metrics.silhouette(X[:500], labels[:500], max_rows=2_000)[2] is None  # exact below the cap
    assert metrics.SILHOUETTE_MAX_ROWS == 10_000


def test_stored_quality_equals_sklearn_on_the_stored_labels(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=4)
    run = db.refresh("ws")
    Z = StandardScaler().fit_transform(wholesale_matrix())
    labels = np.array(db.sql("SELECT segment_id FROM ws_segments ORDER BY customer_id")
                      .column("segment_id").to_pylist())
    q = db.quality("ws")
    assert q.run["run_id"] == run.run_id and q.run["k"] == 4 and q.run["k_rule"] == "fixed"
    assert q.run["silhouette_sample_size"] == 440
    assert q.run["silhouette"] == pytest.approx(silhouette_score(Z, labels), rel=1e-7)
    assert q.run["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(Z, labels), rel=1e-7)
    assert q.run["davies_bouldin"] == pytest.approx(davies_bouldin_score(Z, labels), rel=1e-7)
    per_row = silhouette_samples(Z, labels)
    for seg in q.segments:
        member = labels == seg["segment_id"]
        assert seg["silhouette_rows"] == member.sum() == seg["size"]
        assert seg["silhouette"] == pytest.approx(per_row[member].mean(), rel=1e-7)
        assert 0.0 <= seg["stability"] <= 1.0
    assert q.k_scan == []  # a fixed k stores no scan unless asked


def stab(ari, jaccard=None):
    from segdb.quality.stability import Stability
    return Stability(ari, ari, 20, 500, jaccard or {1: 0.9, 2: 0.9})


@pytest.mark.parametrize("sil, ari, start", [
    (0.7, 0.95, "strong: the segments are well separated and stable (silhouette 0.70, stability 0.95 "),
    (0.3, 0.7, "reasonable: the segments are weakly separated and moderately stable ("),
    (0.1, 0.9, "arbitrary: the segments are stable but not separated; k-means cuts a continuum"),
    (0.7, 0.4, "weak: the segments are unstable, they change when the data is resampled"),
    (None, None, "not judged: too few rows"),
])
def test_verdict_readings(sil, ari, start):
    from segdb.quality.job import verdict
    assert verdict(sil, stab(ari)).startswith(start)


def test_verdict_names_unstable_segments():
    from segdb.quality.job import verdict
    text = verdict(0.6, stab(0.9, {1: 0.95, 2: 0.55, 3: 0.4}))
    assert text.endswith("; segments 2, 3 are unstable (Jaccard below 0.6)")


def test_bootstrap_stability_by_construction():
    from segdb.quality.stability import best_match_jaccard, bootstrap_stability
    # Jaccard by hand: segment 1 = rows {0,1,2}, best other cluster {0,1} -> 2/3; segment 2 = {3,4} vs {2,3,4} -> 2/3.
    got = best_match_jaccard(np.array([1, 1, 1, 2, 2]), np.array([0, 0, 5, 5, 5]), [1, 2])
    assert got == pytest.approx({1: 2 / 3, 2: 2 / 3})
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (60, 2)), rng.normal(10, 0.1, (40, 2))])
    labels = np.array([1] * 60 + [2] * 40)
    s = bootstrap_stability(X, labels, 2, seed=0, bootstraps=5)
    assert s.mean_ari == 1.0 and s.bootstraps == 5 and s.sample_size == 100
    assert s.segment_jaccard == {1: 1.0, 2: 1.0}


def test_stored_silhouette_beyond_10000_rows_is_on_the_seeded_sample(db):
    db.sql("CREATE TABLE big AS SELECT range AS id, (range * 7919) % 1000 / 10.0 AS a, "
           "((range * 104729) % 997) / 10.0 + CASE WHEN range % 3 = 0 THEN 200 ELSE 0 END AS b "
           "FROM range(10200)")
    db.create("big", source="big", key="id", features=["a", "b"], k=2)
    with threadpool_limits(1):  # only for speed: OpenMP threads make small fits 10-80x slower here
        db.refresh("big")
    q = db.quality("big").run
    assert q["silhouette_sample_size"] == 10_000
    rows = db.sql("SELECT b.a, b.b, s.segment_id FROM big b JOIN big_segments s USING (id) ORDER BY id").to_pydict()
    Z = StandardScaler().fit_transform(np.column_stack([rows["a"], rows["b"]]))
    labels = np.array(rows["segment_id"])
    idx = metrics.sample_indices(10_200, 10_000, 0)   # the definition's seed
    with threadpool_limits(1):
        assert q["silhouette"] == pytest.approx(silhouette_score(Z[idx], labels[idx]), rel=1e-7)
    assert q["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(Z, labels), rel=1e-7)  # all rows


def test_the_largest_seed_refreshes_with_its_stability_refits(tmp_path):
    """The bootstrap refits derive their seeds from the definition's (seed + 1000 + b): at the top
    of scikit-learn's range they wrap around instead of ending the refresh in a traceback."""
    import segdb
    from segdb.define.definitions import SEED_MAX
    with segdb.connect(str(tmp_path / "seed.duckdb")) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, (i % 2) * 10.0 + (i % 7) / 7.0 AS x, "
               "(i % 3) / 3.0 AS y FROM range(60) r(i)")
        db.create("s", source="t", key="id", features=["x", "y"], k=2, seed=SEED_MAX)
        run = db.refresh("s")
        assert run.k == 2 and run.rows_used == 60
        assert db.quality("s").run["stability_bootstraps"] == 20


def test_bootstrap_refits_are_scikit_learns_kmeans_warm_started_on_the_resample_head():
    """Each refit, rebuilt from public scikit-learn: KMeans(n_init=3) on the first REFIT_INIT_ROWS
    rows of the resample, then KMeans from those centres on the whole resample, predicting the
    sample; resamples no longer than that: KMeans(n_init=3) on the resample itself."""
    from segdb.quality.stability import REFIT_INIT_ROWS, REFIT_N_INIT, bootstrap_refits
    rng = np.random.default_rng(11)
    k, seed = 4, 5
    big = np.vstack([rng.normal(c, 1.0, (700, 3)) for c in (0.0, 3.0, 6.0, 9.0)])  # 2,800 rows
    small = big[rng.choice(big.shape[0], 300, replace=False)]
    for Xs in (big, small):
        with threadpool_limits(1):
            got = bootstrap_refits(Xs, k, seed=seed, bootstraps=4)
            draws = np.random.default_rng(seed + 3)
            for b, labels in enumerate(got):
                boot = Xs[draws.integers(0, Xs.shape[0], size=Xs.shape[0])]
                model = KMeans(n_clusters=k, n_init=REFIT_N_INIT, random_state=seed + 1000 + b)
                if boot.shape[0] > REFIT_INIT_ROWS:
                    start = model.fit(boot[:REFIT_INIT_ROWS]).cluster_centers_
                    model = KMeans(n_clusters=k, init=start, n_init=1)
                want = model.fit(boot).predict(Xs)
                assert np.array_equal(labels, want), b


def test_bootstrap_refit_kernels_equal_the_kmeans_estimator():
    from segdb.quality.stability import _kmeans_refitter
    rng = np.random.default_rng(2)
    refit = _kmeans_refitter()
    for _ in range(10):
        n, k, d = int(rng.integers(50, 2000)), int(rng.integers(2, 8)), int(rng.integers(1, 6))
        X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + rng.normal(size=d) * 5
        Y = rng.normal(size=(100, d)) * 3
        state = int(rng.integers(0, 2 ** 32))
        with threadpool_limits(1):
            model = KMeans(n_clusters=k, n_init=3, random_state=state).fit(X)
            assert np.array_equal(refit(X.copy(), None, k, n_init=3, random_state=state), model.cluster_centers_)
            assert np.array_equal(refit(X.copy(), Y, k, n_init=3, random_state=state), model.predict(Y))
            warm = KMeans(n_clusters=k, init=model.cluster_centers_[::-1], n_init=1).fit(X[::-1])
            assert np.array_equal(refit(X[::-1].copy(), Y, k, init=model.cluster_centers_[::-1]), warm.predict(Y))
