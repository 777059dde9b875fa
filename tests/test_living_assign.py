"""`segdb assign`: new customers labelled in SQL with the current run, marked as not fitted."""

from __future__ import annotations

import numpy as np

from conftest import run_cli
from living_helpers import FEATURES, blobs, small_segmentation, write_table
from test_living_macros import python_nearest, stored_model

COLS = ", ".join('"' + f.replace('"', '""') + '"' for f in FEATURES)


def _append(db, table, keys, X):
    write_table(db.con, "segdb_test_new", keys, X)
    db.sql(f'INSERT INTO "{table}" SELECT * FROM segdb_test_new')
    db.sql("DROP TABLE segdb_test_new")


def test_assign_labels_new_customers_like_python_and_marks_them(db, db_path):
    rng = np.random.default_rng(8)
    X, _ = blobs(rng, [200, 150, 100])
    write_table(db.con, "survey", np.arange(1, 451), X)
    db.create("ins", source="survey", key="customer_id", features=FEATURES, k=3)
    run = db.refresh("ins")
    before = db.sql("SELECT * FROM ins_segments ORDER BY customer_id").to_pylist()

    Xn = rng.uniform(-3, 13, size=(120, 3))
    new_keys = np.arange(1001, 1121)
    _append(db, "survey", new_keys, Xn)
    db.sql('UPDATE survey SET "Agent ""not"" important" = NULL WHERE customer_id IN (1001, 1002, 1003)')
    db.close()
    r = run_cli(["assign", "ins"], db_path)
    assert (r.exit_code, r.output) == (0, f"ins: assigned 117 new customers to run {run.run_id}; 3 left "
                                          "unlabelled (NULL or non-finite features)\n")
    import segdb
    with segdb.connect(db_path) as db2:
        rows = db2.sql("SELECT customer_id, segment_id, distance, fitted, run_id FROM ins_segments "
                       "WHERE NOT fitted ORDER BY customer_id").to_pydict()
        assert rows["customer_id"] == list(range(1004, 1121))
        assert set(rows["run_id"]) == {run.run_id}
        want_ids, want_d = python_nearest(Xn[3:], *stored_model(db2, "ins"))
        assert rows["segment_id"] == want_ids.tolist()
        np.testing.assert_allclose(rows["distance"], want_d, rtol=1e-7, atol=1e-9)
        # the fitted rows did not change; the run's own figures stay those of the fit
        assert db2.sql("SELECT * FROM ins_segments WHERE fitted ORDER BY customer_id").to_pylist() == before
        assert sum(s["size"] for s in db2.show("ins").segments) == 450
        # a second assign finds nothing new but the three incomplete rows
        again = db2.assign("ins")
        assert (again.candidates, again.assigned, again.unlabelled) == (3, 0, 3)
        # the next refresh counts assigned customers as known, not as new
        db2.refresh("ins")
        summary = db2.show("ins").transitions
        assert (summary.new, summary.gone, summary.kept + summary.moved) == (0, 0, 567)


def test_assign_under_nulls_mean_uses_the_runs_mean(db):
    rng = np.random.default_rng(9)
    X, _ = blobs(rng, [60, 40])
    write_table(db.con, "t", np.arange(1, 101), X)
    db.create("m", source="t", key="customer_id", features=FEATURES, k=2, nulls="mean")
    db.refresh("m")
    db.sql('INSERT INTO t VALUES (500, 9.0, NULL, 0.5), (501, NULL, NULL, NULL)')
    result = db.assign("m")
    assert (result.assigned, result.unlabelled) == (2, 0)
    stats = db.show("m").feature_stats
    means = [s["mean"] for s in stats]
    P = np.array([[9.0, means[1], 0.5], means])
    want_ids, want_d = python_nearest(P, *stored_model(db, "m"))
    got = db.sql("SELECT segment_id, distance FROM m_segments WHERE customer_id >= 500 "
                 "ORDER BY customer_id").to_pydict()
    assert got["segment_id"] == want_ids.tolist()
    np.testing.assert_allclose(got["distance"], want_d, rtol=1e-7, atol=1e-9)


def test_assign_errors(db, db_path):
    small_segmentation(db, 10)
    db.close()
    r = run_cli(["assign", "s"], db_path)
    assert r.output == "Error: segmentation 's' has no run yet; run `segdb refresh s`\n"
    run_cli(["refresh", "s"], db_path)
    run_cli(["sql", "INSERT INTO t VALUES (77, 1, 1, 1), (77, 2, 2, 2)"], db_path)
    r = run_cli(["assign", "s"], db_path)
    assert (r.exit_code, r.output) == (1, "Error: key 'customer_id' is not unique among the new rows of "
                                          "the source of s (table t): 1 duplicate rows; deduplicate the source\n")
    run_cli(["sql", "ALTER TABLE t DROP COLUMN price"], db_path)
    r = run_cli(["assign", "s"], db_path)
    assert r.output.startswith("Error: the source changed since 's' was defined: feature column "
                               "'price' not found in table t")
