"""Property-based tests (hypothesis) on random small datasets, each in a real DuckDB file.

- every stored label is the nearest stored centroid under the stored statistics, and the stored
  distance is the distance to it;
- segment sizes add up to the rows used, and rows used + skipped to the rows of the source;
- the SQL statistics equal numpy's;
- data that cannot be fitted (too few rows or distinct rows, a feature whose max - min is 0 or
  below 1e-140, see segdb.refresh.stats._scaling and tests/test_stats_degenerate.py) is refused, exactly
  when numpy says so;
- rerunning with the same seed reproduces the run exactly; shuffling the rows does not change it.

Hypothesis runs under the "segdb" profile of tests/conftest.py: derandomized (the same examples on
every run) and without an example database (nothing carried between runs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings, strategies as st

import segdb
from segdb.errors import DataError

# segdb.refresh.stats.MIN_SPREAD, written out: a feature whose max - min is below it is refused (pinned by
# tests/test_stats_degenerate.py).
MIN_SPREAD = 1e-140


@st.composite
def datasets(draw, with_nulls=True):
    n = draw(st.integers(4, 40))
    d = draw(st.integers(1, 3))
    k = draw(st.integers(2, 4))
    small_ints = st.integers(-4, 4).map(float)  # many ties and duplicate rows
    spread = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
    values = small_ints if draw(st.booleans()) else spread
    cell = st.one_of(st.none(), values) if with_nulls and draw(st.booleans()) else values
    columns = [draw(st.lists(cell, min_size=n, max_size=n)) for _ in range(d)]
    scale = draw(st.sampled_from(["zscore", "minmax", "none"]))
    return columns, k, scale


def write_source(db, name: str, columns, order=None) -> list[str]:
    n = len(columns[0])
    order = list(range(n)) if order is None else order
    features = [f"f{i}" for i in range(len(columns))]
    table = pa.table({"id": pa.array([i + 1 for i in order], pa.int64()),
                      **{f: pa.array([col[i] for i in order], pa.float64())
                         for f, col in zip(features, columns)}})
    db.con.register("segdb_test_source", table)
    db.sql(f"CREATE TABLE {name} AS SELECT * FROM segdb_test_source")
    db.con.unregister("segdb_test_source")
    return features


def reference(columns, scale):
    """numpy: the complete rows (nulls=skip) and each feature's center and scale."""
    X = np.array([[np.nan if v is None else v for v in col] for col in columns], dtype=float).T
    keep = ~np.isnan(X).any(axis=1)
    used = X[keep]
    if len(used) == 0:  # nothing to fit: refused, whatever the scaling
        return X, keep, np.zeros(X.shape[1]), np.ones(X.shape[1])
    if scale == "zscore":
        center, spread = used.mean(axis=0), used.std(axis=0)
    elif scale == "minmax":
        center, spread = used.min(axis=0), used.max(axis=0) - used.min(axis=0)
    else:
        center, spread = np.zeros(X.shape[1]), np.ones(X.shape[1])
    return X, keep, center, spread


def fittable(X, keep, k, center, spread) -> bool:
    """Enough rows, every feature's max - min at least MIN_SPREAD (segdb's rule: 0 is constant,
    below it too little variation to standardise; min and max are exact, so this agrees with segdb
    bit for bit, unlike a computed stddev: [0, 0, 0, 1.1e-284] has stddev 0 but is not constant),
    and at least k distinct rows once standardised (values that differ by less than a double's
    resolution of the spread become one)."""
    used = X[keep]
    if len(used) < k or not (used.max(axis=0) - used.min(axis=0) >= MIN_SPREAD).all():
        return False
    return len({tuple(r) for r in (used - center) / spread}) >= k


@settings(max_examples=25)
@given(datasets())
# a feature that varies (min != max) by less than floating point can standardise: stddev 0 in SQL
# and numpy, refused under every scale mode (minmax used to fit it)
@example(([[0.0, 0.0, 0.0, 1.1e-284], [1.0, 2.0, 3.0, 4.0]], 2, "minmax"))
@example(([[0.0, 0.0, 0.0, 1.1e-284], [1.0, 2.0, 3.0, 4.0]], 2, "zscore"))
def test_labels_are_nearest_stored_centroids(data):
    columns, k, scale = data
    X, keep, center, spread = reference(columns, scale)
    with tempfile.TemporaryDirectory() as folder, segdb.connect(Path(folder) / "p.duckdb") as db:
        features = write_source(db, "src", columns)
        db.create("p", source="src", key="id", features=features, k=k, scale=scale)
        if not fittable(X, keep, k, center, spread):
            with pytest.raises(DataError):
                db.refresh("p")
            return
        run = db.refresh("p")
        summary = db.show("p")

        # Rows used / skipped, and segment sizes.
        assert (run.rows_used, run.rows_skipped) == (int(keep.sum()), int((~keep).sum()))
        sizes = [s["size"] for s in summary.segments]
        assert sum(sizes) == run.rows_used and len(sizes) == k

        # SQL statistics equal numpy's (over the rows used).
        used = X[keep]
        stats = summary.feature_stats
        # Different summation orders (DuckDB's streaming aggregates vs numpy's pairwise sums) over at
        # most 40 values: a few n*eps of the largest magnitude, far below these bounds.
        tol = dict(rel=1e-7, abs=1e-12 * max(1.0, float(np.abs(used).max())))
        assert [s["mean"] for s in stats] == pytest.approx(used.mean(axis=0), **tol)
        assert [s["stddev"] for s in stats] == pytest.approx(used.std(axis=0), **tol)
        assert [s["min"] for s in stats] == list(used.min(axis=0))
        assert [s["max"] for s in stats] == list(used.max(axis=0))
        assert [s["center"] for s in stats] == pytest.approx(center, **tol)
        assert [s["scale"] for s in stats] == pytest.approx(spread, **tol)

        # Each stored label is the nearest stored centroid, under the stored statistics.
        centroids = np.array(list(summary.centroid_matrix("value_scaled").values()))
        s_center = np.array([s["center"] for s in stats])
        s_scale = np.array([s["scale"] for s in stats])
        rows = db.sql("SELECT id, segment_id, distance FROM p_segments ORDER BY id").to_pydict()
        ids = np.array(rows["id"]) - 1
        assert sorted(ids.tolist()) == np.flatnonzero(keep).tolist()
        Z = (X[ids] - s_center) / s_scale
        dist = np.sqrt(((Z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2))
        labels = np.array(rows["segment_id"])
        own = dist[np.arange(len(ids)), labels - 1]
        scale_of = np.maximum(1.0, dist.min(axis=1))
        assert (own <= dist.min(axis=1) + 1e-9 * scale_of).all()  # ties may go either way
        assert np.array(rows["distance"]) == pytest.approx(own, rel=1e-7, abs=1e-9)
        assert np.bincount(labels, minlength=k + 1)[1:].tolist() == sizes
        assert run.inertia == pytest.approx(float((own ** 2).sum()), rel=1e-7, abs=1e-9)


@settings(max_examples=12)
@given(datasets(with_nulls=False), st.randoms(use_true_random=False))
def test_same_seed_and_shuffled_rows_reproduce_the_run(data, rnd):
    columns, k, scale = data
    X, keep, center, spread = reference(columns, scale)
    if not fittable(X, keep, k, center, spread):
        return  # covered by the test above
    order = list(range(len(columns[0])))
    rnd.shuffle(order)
    with tempfile.TemporaryDirectory() as folder, segdb.connect(Path(folder) / "p.duckdb") as db:
        features = write_source(db, "src", columns)
        write_source(db, "shuffled", columns, order)
        db.create("a", source="src", key="id", features=features, k=k, scale=scale)
        db.create("b", source="shuffled", key="id", features=features, k=k, scale=scale)
        first, again, shuffled = db.refresh("a"), db.refresh("a"), db.refresh("b")

        def run_rows(name, run_id):
            rows = db.segments(name, run_id=run_id).order("1").fetchall()
            summary = db.show(name, run_id)
            strip = lambda rows: [{k: v for k, v in r.items() if k != "run_id"} for r in rows]
            return {"keys": [r[0] for r in rows], "labels": [r[1] for r in rows],
                    "distances": [r[2] for r in rows], "centroids": strip(summary.centroids),
                    "segments": strip(summary.segments), "stats": strip(summary.feature_stats)}
        one = run_rows("a", first.run_id)
        # Same data, same seed: the same run, bit for bit.
        assert run_rows("a", again.run_id) == one and again.inertia == first.inertia
        # Shuffled rows: the same partition with the same numbering. The statistics are sums in
        # another order, so distances agree to rounding only.
        other = run_rows("b", shuffled.run_id)
        assert (other["keys"], other["labels"]) == (one["keys"], one["labels"])
        assert other["distances"] == pytest.approx(one["distances"], rel=1e-7, abs=1e-9)
        assert shuffled.inertia == pytest.approx(first.inertia, rel=1e-7, abs=1e-9)


def test_hypothesis_is_reproducible_and_keeps_no_state():
    """The conftest profile is active: no example database (no .hypothesis/ folder is read or
    written, so a second run cannot depend on the first) and derandomized examples."""
    current = settings()
    assert current.database is None
    assert current.derandomize is True
    assert current.deadline is None
    assert settings.get_profile("segdb").database is None
    from hypothesis.configuration import storage_directory
    storage = storage_directory("constants", intent_to_write=False).path.resolve()
    checkout = Path(__file__).resolve().parents[1]
    assert checkout not in storage.parents and Path.home().resolve() not in storage.parents, storage
