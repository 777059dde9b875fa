"""segdb against an independent reference: numpy statistics, scikit-learn StandardScaler + KMeans,
and a case worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from conftest import WHOLESALE_COLUMNS, load_wholesale, wholesale_matrix


def labels_of(db, name, key="customer_id"):
    rows = db.sql(f"SELECT {key}, segment_id FROM {name}_segments ORDER BY {key}")
    return np.array(rows.column("segment_id").to_pylist())


def same_partition(a, b) -> bool:
    """Equal up to renumbering: a one-to-one map between the two labelings."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_hand_worked_toy_case(db):
    # Two tight triangles; scale=none keeps the arithmetic by hand:
    # centroids (1/3, 1/3) and (31/3, 31/3); each triangle's SSE is 2/9 + 5/9 + 5/9 = 4/3.
    db.sql("CREATE TABLE pts AS SELECT * FROM (VALUES (1, 0, 0), (2, 0, 1), (3, 1, 0), "
           "(4, 10, 10), (5, 10, 11), (6, 11, 10)) v(id, x, y)")
    db.create("toy", source="pts", key="id", features=["x", "y"], k=2, scale="none")
    run = db.refresh("toy")
    assert run.inertia == pytest.approx(8 / 3, rel=1e-12)
    summary = db.show("toy")
    # Equal sizes: segment 1 is the one whose centroid comes first coordinate-wise.
    assert summary.centroid_matrix("value_raw") == {
        1: pytest.approx([1 / 3, 1 / 3], rel=1e-12), 2: pytest.approx([31 / 3, 31 / 3], rel=1e-12)}
    assert [s["size"] for s in summary.segments] == [3, 3]
    assert [s["sse"] for s in summary.segments] == pytest.approx([4 / 3, 4 / 3], rel=1e-12)
    got = db.sql("SELECT id, segment_id, distance FROM toy_segments ORDER BY id").to_pylist()
    assert [r["segment_id"] for r in got] == [1, 1, 1, 2, 2, 2]
    assert [r["distance"] for r in got] == pytest.approx(
        [np.sqrt(2) / 3, np.sqrt(5) / 3, np.sqrt(5) / 3] * 2, rel=1e-12)


def test_hand_worked_zscore_statistics(db):
    # x = 1, 2, 3: mean 2, population sd sqrt(2/3); y = 10, 10, 40: mean 20, sd sqrt(200).
    db.sql("CREATE TABLE t AS SELECT * FROM (VALUES (1, 1, 10), (2, 2, 10), (3, 3, 40)) v(id, x, y)")
    db.create("z", source="t", key="id", features=["x", "y"], k=2)
    db.refresh("z")
    stats = db.show("z").feature_stats
    assert [s["mean"] for s in stats] == pytest.approx([2.0, 20.0], rel=1e-15)
    assert [s["stddev"] for s in stats] == pytest.approx([np.sqrt(2 / 3), np.sqrt(200)], rel=1e-15)
    assert [(s["min"], s["max"]) for s in stats] == [(1.0, 3.0), (10.0, 40.0)]


def reference_fit(X, k, seed=0, n_init=10):
    Z = StandardScaler().fit_transform(X)
    model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(Z)
    return model.labels_, model.inertia_


@pytest.mark.parametrize("k", [2, 3, 5])
def test_wholesale_matches_scikit_learn(db, k):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=k)
    run = db.refresh("ws")
    ref_labels, ref_inertia = reference_fit(wholesale_matrix(), k)
    assert run.inertia == pytest.approx(ref_inertia, rel=1e-7)
    assert same_partition(labels_of(db, "ws"), ref_labels)
    assert run.rows_used == 440 and run.rows_skipped == 0


def test_wholesale_statistics_equal_numpy(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    db.refresh("ws")
    X = wholesale_matrix()
    stats = db.show("ws").feature_stats
    np.testing.assert_allclose([s["mean"] for s in stats], X.mean(axis=0), rtol=1e-7)
    np.testing.assert_allclose([s["stddev"] for s in stats], X.std(axis=0), rtol=1e-7)
    np.testing.assert_array_equal([s["min"] for s in stats], X.min(axis=0))
    np.testing.assert_array_equal([s["max"] for s in stats], X.max(axis=0))


def synthetic(n=3000, d=5, k=4, seed=7):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(k, d)) * np.linspace(1, 50, d)
    sizes = rng.multinomial(n, np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    X = np.vstack([c + rng.normal(0, 1, size=(s, d)) * np.linspace(1, 50, d) for c, s in zip(centers, sizes)])
    return X[rng.permutation(n)]


def load_matrix(db, X, table="syn"):
    import pyarrow as pa
    cols = {"id": pa.array(np.arange(1, len(X) + 1))}
    cols.update({f"f{i}": pa.array(X[:, i]) for i in range(X.shape[1])})
    db.con.register("tmp_syn", pa.table(cols))
    db.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM tmp_syn")
    db.con.unregister("tmp_syn")


def test_synthetic_matches_scikit_learn(db):
    X = synthetic()
    load_matrix(db, X)
    db.create("syn", source="syn", key="id", features=[f"f{i}" for i in range(5)], k=4, seed=3)
    run = db.refresh("syn")
    ref_labels, ref_inertia = reference_fit(X, 4, seed=3)
    assert run.inertia == pytest.approx(ref_inertia, rel=1e-7)
    assert adjusted_rand_score(labels_of(db, "syn", "id"), ref_labels) == 1.0


def test_minmax_scaling_matches_numpy(db):
    X = synthetic(n=500, d=3, k=3)
    load_matrix(db, X)
    db.create("mm", source="syn", key="id", features=["f0", "f1", "f2"], k=3, scale="minmax")
    run = db.refresh("mm")
    Z = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    ref = KMeans(n_clusters=3, n_init=10, random_state=0).fit(Z)
    assert run.inertia == pytest.approx(ref.inertia_, rel=1e-7)
    assert same_partition(labels_of(db, "mm", "id"), ref.labels_)


def test_same_seed_reproduces_the_run_exactly(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=4)
    first = db.refresh("ws")
    second = db.refresh("ws")
    a = db.segments("ws", run_id=first.run_id).to_arrow_table().drop_columns(["run_id"])
    b = db.segments("ws", run_id=second.run_id).to_arrow_table().drop_columns(["run_id"])
    assert a.sort_by("customer_id").equals(b.sort_by("customer_id"))
    assert first.inertia == second.inertia


def test_row_order_does_not_change_the_partition(db):
    load_wholesale(db.con)
    db.sql("CREATE TABLE shuffled AS SELECT * FROM wholesale ORDER BY hash(customer_id * 7919)")
    db.create("a", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    db.create("b", source="shuffled", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    ra, rb = db.refresh("a"), db.refresh("b")
    # SQL sums in storage order, so the statistics may differ in the last bit; the partition may not.
    assert ra.inertia == pytest.approx(rb.inertia, rel=1e-7)
    np.testing.assert_array_equal(labels_of(db, "a"), labels_of(db, "b"))


def test_stored_labels_are_the_nearest_stored_centroid(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=5)
    db.refresh("ws")
    s = db.show("ws")
    centers = np.array(list(s.centroid_matrix("value_scaled").values()))
    center = np.array([f["center"] for f in s.feature_stats])
    scale = np.array([f["scale"] for f in s.feature_stats])
    Z = (wholesale_matrix() - center) / scale
    d2 = ((Z[:, None, :] - centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels_of(db, "ws"), d2.argmin(axis=1) + 1)
    dist = db.sql("SELECT distance FROM ws_segments ORDER BY customer_id").column(0).to_numpy()
    np.testing.assert_allclose(dist, np.sqrt(d2.min(axis=1)), rtol=1e-7, atol=1e-9)
    sizes = [seg["size"] for seg in s.segments]
    assert sum(sizes) == 440
    assert sizes == sorted(sizes, reverse=True)  # segment 1 is the largest
