"""The issues together: typed features (Likert codes, reversed items, categories) through scoring
macros, assignment, drift, profiles, plots and the report."""

from __future__ import annotations

import numpy as np

import segdb
from segdb.define.features import Feature


def make_survey(db, n=400, seed=5):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    q1 = np.clip(np.rint(rng.normal(np.where(group, 6, 2), 0.8)), 1, 7).astype(int)
    q2 = np.clip(np.rint(rng.normal(np.where(group, 2, 6), 0.8)), 1, 7).astype(int)
    q1[rng.choice(n, 15, replace=False)] = 9          # "don't know"
    region = np.where(group, "North", "South")
    flip = rng.choice(n, 40, replace=False)
    region[flip] = np.where(region[flip] == "North", "South", "North")
    rows = ", ".join(f"({i + 1}, {a}, {b}, '{r}')" for i, (a, b, r) in enumerate(zip(q1, q2, region)))
    db.sql(f"CREATE OR REPLACE TABLE survey AS SELECT * FROM (VALUES {rows}) v(id, q1, q2, region)")


FEATURES = [Feature("q1", kind="likert", scale_min=1, scale_max=7, codes=(9,)),
            Feature("q2", kind="likert", scale_min=1, scale_max=7, reverse=True),
            Feature("region", kind="category")]


def test_macros_assign_and_explain_typed_features(tmp_path):
    with segdb.connect(str(tmp_path / "t.duckdb")) as db:
        make_survey(db)
        db.create("typed", source="survey", key="id", features=FEATURES, k=2)
        run = db.refresh("typed")
        assert run.rows_used == 385 and run.rows_skipped == 15
        # The macros take the raw answers and apply codes, reversal and one-hot like the fit.
        agree = db.sql("SELECT count(*) FILTER (WHERE typed_assign(s.q1, s.q2, s.region) = l.segment_id) AS same, "
                       "count(*) AS n FROM survey s JOIN typed_segments l ON l.id = s.id").to_pylist()[0]
        assert agree == {"same": 385, "n": 385}
        dist = db.sql("SELECT max(abs(typed_distance(s.q1, s.q2, s.region) - l.distance)) AS d "
                      "FROM survey s JOIN typed_segments l ON l.id = s.id").to_pylist()[0]["d"]
        assert dist < 1e-9
        # A "don't know" answer is NULL, so the macro says NULL.
        assert db.sql("SELECT typed_assign(9, 3, 'North') AS s").to_pylist() == [{"s": None}]
        # New customers are assigned in SQL exactly as the macro scores them.
        db.sql("INSERT INTO survey VALUES (1001, 6, 2, 'North'), (1002, 2, 6, 'South')")
        assigned = db.assign("typed")
        got = db.sql("SELECT l.segment_id = typed_assign(s.q1, s.q2, s.region) AS ok, l.fitted "
                     "FROM typed_segments l JOIN survey s ON s.id = l.id WHERE l.id > 1000").to_pylist()
        assert got == [{"ok": True, "fitted": False}] * 2, assigned
        report = db.drift("typed", record=False)
        assert report.customers_new == 2 and report.customers_changed == 0
        # Profiles are computed on the transformed values, one row per segment and matrix column.
        profiles = db.profiles("typed")
        assert len(profiles) == 2 * 4          # q1, q2, region=North, region=South
        means = {(p["segment_id"], p["feature"]): p["mean_raw"] for p in profiles}
        north = means[(1, "region=North")], means[(2, "region=North")]
        assert sorted(north)[0] < 0.3 < 0.7 < sorted(north)[1]
        # q2 is reversed: the group answering q2 high has a LOW reversed mean.
        q1_high = 1 if means[(1, "q1")] > means[(2, "q1")] else 2
        assert means[(q1_high, "q2")] > 4
        paths = db.plot("typed", tmp_path / "png")
        assert all(p is None or p.stat().st_size > 1000 for p in paths.values())
        html = db.report("typed", tmp_path / "r.html").read_text()
        assert "data:image/png;base64," in html


def test_bounded_fit_with_typed_features_keeps_ids_and_matches_macros(tmp_path):
    """A bounded refresh (fit on a sample, every row labelled in SQL) of typed features, twice:
    the second run keeps the first run's ids, and the stored labels equal the macros."""
    with segdb.connect(str(tmp_path / "b.duckdb")) as db:
        make_survey(db, n=3000, seed=11)
        db.create("big", source="survey", key="id", features=FEATURES, k=2, max_fit_rows=1000)
        first = db.refresh("big")
        assert db.sql("SELECT fit_rows FROM segdb.runs WHERE run_id = ?", [first.run_id]).to_pylist() \
            == [{"fit_rows": db.sql("SELECT count(*) AS n FROM segdb.big_labels WHERE fitted").to_pylist()[0]["n"]}]
        before = {r["id"]: r["segment_id"] for r in db.sql("SELECT id, segment_id FROM big_segments").to_pylist()}
        db.sql("UPDATE survey SET q2 = 8 - q2 WHERE id % 50 = 0")   # a few answers change
        second = db.refresh("big")
        after = {r["id"]: r["segment_id"] for r in db.sql("SELECT id, segment_id FROM big_segments").to_pylist()}
        kept = sum(before[i] == after[i] for i in before) / len(before)
        assert kept > 0.95, kept          # ids follow the groups, not the fit's arbitrary order
        assert second.rows_used == first.rows_used == len(after)
        agree = db.sql("SELECT count(*) FILTER (WHERE big_assign(s.q1, s.q2, s.region) = l.segment_id) AS same, "
                       "count(*) AS n FROM survey s JOIN big_segments l ON l.id = s.id").to_pylist()[0]
        assert agree["same"] == agree["n"] == len(after)
        # Sizes and inertia are read back from every labelled row.
        sizes = db.sql("SELECT sum(size) AS n, sum(sse) AS sse FROM segdb.segments WHERE run_id = ?",
                       [second.run_id]).to_pylist()[0]
        assert sizes["n"] == len(after) and sizes["sse"] == __import__("pytest").approx(second.inertia)
