"""The run's quality computed on a worker thread beside the fit and the write-back (segdb.quality.QualityJob):
the same figures as on one thread, an error in it rolls the whole run back, and nothing outlives a refresh."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from conftest import load_wholesale, wholesale_matrix
from segdb.quality import job as quality, stability
from segdb.quality.kselect import KChoice
from segdb.errors import SegdbError

FEATURES = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]


def _choice(k):
    return KChoice(k=k, rule="fixed", reason="given", k_min=None, k_max=None)


def _z():
    X = wholesale_matrix()
    return (X - X.mean(axis=0)) / X.std(axis=0)


def test_background_job_equals_the_same_work_on_one_thread():
    X = np.vstack([_z()] * 30)  # 13,200 rows: both samples are drawn (silhouette 10,000, stability 5,000)
    labels = np.random.default_rng(3).integers(1, 4, size=X.shape[0])
    one = quality.evaluate(X, labels, 3, seed=7, choice=_choice(3))
    job = quality.QualityJob(X, labels, 3, seed=7, choice=_choice(3))
    two = job.result()
    assert dataclasses.replace(two, seconds=0) == dataclasses.replace(one, seconds=0)
    assert one.silhouette_sample_size == 10_000 and one.stability.sample_size == 5_000
    # and the refits split from their comparison give what bootstrap_stability gives in one call
    assert stability.bootstrap_stability(X, labels, 3, seed=7) == one.stability


def test_a_resample_with_fewer_than_k_distinct_rows_is_skipped_not_fitted():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), [1, 1, 40], axis=0)
    refits = stability.bootstrap_refits(X, 3, seed=0, bootstraps=30)
    rng = np.random.default_rng(0 + 3)  # the resamples bootstrap_refits draws for seed=0
    distinct = [len({tuple(r) for r in X[rng.integers(0, 42, size=42)]}) for _ in range(30)]
    assert [r is None for r in refits] == [n < 3 for n in distinct]
    assert any(r is None for r in refits) and any(r is not None for r in refits)


def test_an_error_on_the_quality_thread_rolls_the_run_back(db, monkeypatch):
    load_wholesale(db.con)
    db.create("w", source="wholesale", key="customer_id", features=FEATURES, k=3)
    first = db.refresh("w")

    def broken(*args, **kwargs):
        raise MemoryError("no room for the bootstrap refits")

    monkeypatch.setattr(quality, "bootstrap_refits", broken)
    before = db.con.execute("SELECT count(*) FROM segdb.runs").fetchall()
    with pytest.raises(MemoryError, match="bootstrap refits"):
        db.refresh("w")
    assert db.con.execute("SELECT count(*) FROM segdb.runs").fetchall() == before
    assert db.con.execute("SELECT run_id FROM segdb.current_runs WHERE segmentation = 'w'").fetchall() == [(first.run_id,)]
    assert not [t for t in threading.enumerate() if t.name == "segdb-quality"]


@pytest.mark.parametrize("where", ["fit", "write"])
def test_a_failed_refresh_ends_the_quality_thread_and_restores_thread_limits(db, monkeypatch, where):
    load_wholesale(db.con)
    db.create("w", source="wholesale", key="customer_id", features=FEATURES, k=3)
    limits_before = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    from segdb.quality import profiles
    from segdb.refresh import fit as refresh_mod

    def failing(*args, **kwargs):
        raise SegdbError(f"the {where} failed on purpose")

    if where == "fit":
        monkeypatch.setattr(refresh_mod, "fit_kmeans", failing)
    else:  # inside the write transaction, while the quality worker runs
        monkeypatch.setattr(profiles, "write_profiles", failing)
    with pytest.raises(SegdbError, match="on purpose"):
        db.refresh("w")
    assert not [t for t in threading.enumerate() if t.name == "segdb-quality"]
    assert [(i["internal_api"], i["num_threads"]) for i in threadpool_info()] == limits_before
    assert db.con.execute("SELECT count(*) FROM segdb.runs").fetchall() == [(0,)]


def test_stored_quality_of_a_refresh_is_the_evaluation_of_its_labels(db):
    load_wholesale(db.con)
    db.create("w", source="wholesale", key="customer_id", features=FEATURES, k=4, seed=2)
    run = db.refresh("w")
    labels = np.array([r[0] for r in db.con.execute(
        "SELECT segment_id FROM w_segments ORDER BY customer_id").fetchall()])
    expected = quality.evaluate(_z(), labels, 4, seed=2, choice=_choice(4))
    stored = db.con.execute("SELECT silhouette, calinski_harabasz, davies_bouldin, stability_ari "
                    "FROM segdb.run_quality WHERE run_id = ?", [run.run_id]).fetchall()[0]
    assert stored == pytest.approx((expected.silhouette, expected.calinski_harabasz,
                                    expected.davies_bouldin, expected.stability.mean_ari), rel=1e-7)
