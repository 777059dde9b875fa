"""`segdb drift`: figures against numpy on the same data, the rule, the exit code, the stored checks."""

from __future__ import annotations

import numpy as np
import pytest

import segdb
from conftest import run_cli
from living_helpers import FEATURES, blobs, write_table
from test_living_macros import python_nearest, stored_model


def _setup(db, seed=12):
    rng = np.random.default_rng(seed)
    X, _ = blobs(rng, [400, 300, 300], sd=1.5)
    keys = np.arange(1, 1001)
    write_table(db.con, "survey", keys, X)
    db.create("ins", source="survey", key="customer_id", features=FEATURES, k=3)
    db.refresh("ins")
    return rng, keys, X


def test_unchanged_source_needs_no_refresh(db, db_path):
    _setup(db)
    report = db.drift("ins")
    assert (report.customers_now, report.customers_run) == (1000, 1000)
    assert (report.customers_new, report.customers_gone, report.customers_changed) == (0, 0, 0)
    assert report.inertia_ratio == pytest.approx(1.0, rel=1e-7)
    assert report.max_mean_shift == pytest.approx(0.0, abs=1e-9)
    assert report.max_sd_change == pytest.approx(0.0, abs=1e-9)
    assert not report.refresh_advised and report.reasons == ()
    stored = db.sql("SELECT refresh_advised, reasons, customers_now FROM segdb.drift_checks "
                    "WHERE check_id = ?", [report.check_id]).to_pylist()
    assert stored == [{"refresh_advised": False, "reasons": None, "customers_now": 1000}]
    db.close()
    r = run_cli(["drift", "ins"], db_path)
    assert r.exit_code == 0
    assert r.output.splitlines()[-1] == "no refresh needed: every figure is within its limit"


def test_drifted_source_figures_match_numpy_and_exit_3(db, db_path):
    rng, keys, X = _setup(db)
    centers, scales, centroids, ids = stored_model(db, "ins")
    got = db.sql("SELECT customer_id, segment_id FROM ins_segments").to_pydict()
    run_labels = dict(zip(got["customer_id"], got["segment_id"]))
    # Drift: feature 1 moves by +1.2 for everyone, 150 new customers, 50 gone.
    X2 = X.copy()
    X2[:, 0] += 1.2
    Xn, _ = blobs(rng, [50, 50, 50], sd=1.5)
    keep = np.arange(50, 1000)
    now_keys = np.concatenate([keys[keep], np.arange(5001, 5151)])
    now_X = np.vstack([X2[keep], Xn])
    write_table(db.con, "survey", now_keys, now_X)
    report = db.drift("ins")

    run_X = X
    for i, f in enumerate(report.features):
        mean_run, sd_run = run_X[:, i].mean(), run_X[:, i].std()
        assert f.mean_shift == pytest.approx((now_X[:, i].mean() - mean_run) / sd_run, rel=1e-7, abs=1e-9)
        assert f.sd_change == pytest.approx((now_X[:, i].std() - sd_run) / sd_run, rel=1e-7, abs=1e-9)
    assert (report.customers_now, report.customers_new, report.customers_gone) == (1100, 150, 50)
    assert report.new_share == pytest.approx(150 / 1100)
    assert report.gone_share == pytest.approx(50 / 1000)
    near, dist = python_nearest(now_X, centers, scales, centroids, ids)
    changed = sum(1 for k, s in zip(now_keys[:950], near[:950]) if run_labels[k] != s)
    assert report.customers_changed == changed > 0
    assert report.changed_share == pytest.approx(changed / 950)
    assert report.inertia_per_customer_now == pytest.approx(np.mean(dist ** 2), rel=1e-7)
    run_row = db.runs("ins")[0]
    assert report.inertia_per_customer_fit == pytest.approx(run_row["inertia"] / 1000, rel=1e-12)
    assert report.refresh_advised
    assert report.reasons[0] == f"max_mean_shift {report.max_mean_shift:.4g} > 0.25"
    assert "new_share 0.1364 > 0.1" in report.reasons

    db.close()
    r = run_cli(["drift", "ins", "--no-record"], db_path)
    assert r.exit_code == 3
    assert r.output.splitlines()[-1] == "refresh advisable: " + "; ".join(report.reasons)
    assert "(not recorded)" in r.output.splitlines()[0]
    loose = ["--limit", "max_mean_shift=5", "--limit", "changed_share=1", "--limit", "new_share=1",
             "--limit", "inertia_ratio=9"]
    r = run_cli(["drift", "ins", *loose], db_path)
    assert r.exit_code == 0, r.output
    with segdb.connect(db_path, read_only=True) as db2:
        rows = db2.sql("SELECT refresh_advised, thresholds FROM segdb.drift_checks "
                       "ORDER BY check_id").to_pylist()
        assert [r["refresh_advised"] for r in rows] == [True, False]
        assert '"max_mean_shift": 5.0' in rows[1]["thresholds"]
        assert db2.sql("SELECT count(*) AS n FROM segdb.drift_features").to_pylist() == [{"n": 6}]


def test_drift_errors(db, db_path):
    _setup(db)
    db.close()
    r = run_cli(["drift", "ins", "--limit", "foo=1"], db_path)
    assert (r.exit_code, r.output) == (1, "Error: unknown drift limit 'foo'; use one of max_mean_shift, "
                                          "max_sd_change, changed_share, inertia_ratio, new_share, "
                                          "gone_share\n")
    r = run_cli(["drift", "ins", "--limit", "changed_share"], db_path)
    assert r.output == ("Error: --limit 'changed_share' is not KEY=VALUE, e.g. --limit "
                        "changed_share=0.1\n")
    r = run_cli(["drift", "ins", "--limit", "changed_share=-1"], db_path)
    assert r.output == "Error: drift limit changed_share=-1.0 should be >= 0\n"
    run_cli(["sql", "INSERT INTO survey SELECT * FROM survey WHERE customer_id < 3"], db_path)
    r = run_cli(["drift", "ins"], db_path)
    assert r.output == ("Error: key 'customer_id' is not unique in the source of ins (table survey): 2 duplicate "
                        "rows; deduplicate the source before checking drift\n")
