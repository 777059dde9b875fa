"""Stable segment ids across refreshes: perturbed sources, reordered rows, k changes, names,
transitions; checked against the known membership of generated blobs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conftest import WHOLESALE_COLUMNS, load_wholesale, run_cli
from living_helpers import FEATURES, blobs, labels, small_segmentation, write_table


def _blob_ids(lab: dict, keys, blob) -> dict:
    """blob -> the one segment id its members have (asserting there is one)."""
    out = {}
    for b in np.unique(blob):
        ids = {lab[k] for k, bb in zip(keys, blob) if bb == b and k in lab}
        assert len(ids) == 1, f"blob {b} is split over segments {ids}"
        out[int(b)] = ids.pop()
    return out


def test_perturbed_source_keeps_ids_names_and_transitions_add_up(db):
    rng = np.random.default_rng(7)
    X, blob = blobs(rng, [500, 300, 200])
    keys = np.arange(1, 1001)
    write_table(db.con, "survey", keys, X)
    db.create("ins", source="survey", key="customer_id", features=FEATURES, k=3)
    run1 = db.refresh("ins")
    lab1 = labels(db, "ins")
    ids1 = _blob_ids(lab1, keys, blob)
    assert sorted(ids1.values()) == [1, 2, 3]
    assert ids1[0] == 1  # first run: largest segment first
    db.name_segment("ins", ids1[1], "Budget seekers")

    # Perturb: 10% new customers, 5% change their answers (move to another blob), 3% leave.
    Xn, blob_new = blobs(rng, [40, 30, 30])
    keys_new = np.arange(5001, 5101)
    moved = rng.choice(np.arange(1000), size=50, replace=False)
    X2, blob2 = X.copy(), blob.copy()
    for i in moved:
        target = (blob[i] + 1 + rng.integers(0, 2)) % 3
        X2[i] = blobs(rng, [1], centers=np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0],
                                                  [0.0, 10.0, 0.0]])[[target]])[0][0]
        blob2[i] = target
    gone = rng.choice(np.setdiff1d(np.arange(1000), moved), size=30, replace=False)
    keep = np.setdiff1d(np.arange(1000), gone)
    all_keys = np.concatenate([keys[keep], keys_new])
    all_X = np.vstack([X2[keep], Xn])
    all_blob = np.concatenate([blob2[keep], blob_new])
    write_table(db.con, "survey", all_keys, all_X)
    run2 = db.refresh("ins")

    lab2 = labels(db, "ins")
    assert _blob_ids(lab2, all_keys, all_blob) == ids1  # each group keeps its id
    unchanged = [k for k in keys[keep] if k - 1 not in set(moved)]
    assert all(lab2[k] == lab1[k] for k in unchanged)
    names = {r["segment_id"]: r["segment_name"] for r in db.sql(
        "SELECT DISTINCT segment_id, segment_name FROM ins_segments").to_pylist()}
    assert names[ids1[1]] == "Budget seekers"
    assert [n for s, n in names.items() if s != ids1[1]] == [None, None]
    centroid_names = db.sql("SELECT segment_id, segment_name FROM ins_centroids").to_pylist()
    assert {r["segment_id"]: r["segment_name"] for r in centroid_names} == names

    # Transitions, against the bookkeeping of the perturbation.
    got = {(r["from_segment_id"], r["to_segment_id"]): r["customers"] for r in db.transitions("ins")}
    expected = Counter()
    for i in keep:
        expected[(ids1[int(blob[i])], ids1[int(blob2[i])])] += 1
    for i in gone:
        expected[(ids1[int(blob[i])], None)] += 1
    for b in blob_new:
        expected[(None, ids1[int(b)])] += 1
    assert got == dict(expected)
    assert sum(v for (f, _), v in got.items() if f is not None) == 1000 == run1.rows_used
    assert sum(v for (_, t), v in got.items() if t is not None) == 1070 == run2.rows_used
    assert all(r["previous_run_id"] == run1.run_id for r in db.transitions("ins"))

    summary = db.show("ins").transitions
    assert (summary.new, summary.gone, summary.kept + summary.moved) == (100, 30, 970)
    assert summary.kept == 970 - len(moved)
    assert summary.sentence() == (f"since run {run1.run_id} (its 1st run): {100 * 920 / 970:.0f}% kept their segment; "
                                  "100 new customers, 30 gone")

    matches = db.sql("SELECT segment_id, matched_from_segment_id, match_cost, previous_run_id "
                     "FROM segdb.segment_matches WHERE run_id = ? ORDER BY segment_id",
                     [run2.run_id]).to_pylist()
    assert [(m["segment_id"], m["matched_from_segment_id"]) for m in matches] == [(1, 1), (2, 2), (3, 3)]
    assert all(0 <= m["match_cost"] < 0.5 for m in matches)

    db.close()
    shown = run_cli(["show", "ins"], db.path)
    assert summary.sentence() in shown.output
    assert "Budget seekers" in shown.output


def test_first_run_transitions_are_all_new(db):
    small_segmentation(db, 1)
    run = db.refresh("s")
    rows = db.transitions("s")
    assert [(r["from_segment_id"], r["to_segment_id"], r["customers"]) for r in rows] == [
        (None, 1, 30), (None, 2, 20)]
    assert db.show("s").transitions.sentence() == "first run: 50 new customers"
    assert db.sql("SELECT count(*) AS n FROM segdb.segment_matches WHERE run_id = ? "
                  "AND matched_from_segment_id IS NULL", [run.run_id]).to_pylist() == [{"n": 2}]


def test_rows_in_another_order_get_identical_ids(db):
    load_wholesale(db.con)
    db.create("w", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=4)
    db.refresh("w")
    before = db.sql("SELECT customer_id, segment_id, distance FROM w_segments ORDER BY 1").to_pylist()
    cents = db.sql("SELECT * FROM w_centroids ORDER BY segment_id").to_pylist()
    db.sql("CREATE OR REPLACE TABLE wholesale AS SELECT * FROM wholesale ORDER BY hash(customer_id * 7919)")
    assert db.sql("SELECT customer_id FROM wholesale LIMIT 3").column(0).to_pylist() != [1, 2, 3]
    run2 = db.refresh("w")

    # Same ids for every customer; distances and centroids equal up to the last bits of the
    # statistics (the database sums in whatever order it reads the rows).
    def same(view):
        after = db.sql(f"SELECT customer_id, segment_id, distance FROM {view} ORDER BY 1").to_pylist()
        assert [(r["customer_id"], r["segment_id"]) for r in after] == [
            (r["customer_id"], r["segment_id"]) for r in before]
        assert [r["distance"] for r in after] == pytest.approx([r["distance"] for r in before], rel=1e-7, abs=1e-9)
    same("w_segments")
    after = db.sql("SELECT * FROM w_centroids ORDER BY segment_id").to_pylist()
    assert [r["segment_id"] for r in after] == [r["segment_id"] for r in cents] == [1, 2, 3, 4]
    for a, b in zip(after, cents):
        assert [a[f] for f in WHOLESALE_COLUMNS] == pytest.approx(
            [b[f] for f in WHOLESALE_COLUMNS], rel=1e-7)
    costs = db.sql("SELECT matched_from_segment_id = segment_id AS same, match_cost "
                   "FROM segdb.segment_matches WHERE run_id = ?", [run2.run_id]).to_pylist()
    assert all(c["same"] and c["match_cost"] < 1e-6 for c in costs) and len(costs) == 4
    # A second segmentation over the reordered rows numbers its segments the same way.
    db.create("w2", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=4)
    db.refresh("w2")
    same("w2_segments")


def test_k3_to_k4_keeps_the_three_ids_and_adds_one_never_reused(db):
    rng = np.random.default_rng(3)
    # Four well separated blobs: k=3 merges two of them, k=4 finds all four.
    centers = np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 10.0, 5.0]])
    X, blob = blobs(rng, [400, 300, 150, 100], centers=centers)
    keys = np.arange(1, 951)
    write_table(db.con, "t", keys, X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3)
    db.refresh("s")
    lab3 = labels(db, "s")
    ids3 = {b: {lab3[k] for k, bb in zip(keys, blob) if bb == b} for b in range(4)}
    assert all(len(v) == 1 for v in ids3.values())
    ids3 = {b: v.pop() for b, v in ids3.items()}
    assert sorted(set(ids3.values())) == [1, 2, 3]
    merged = [b for b in range(4) if list(ids3.values()).count(ids3[b]) == 2]
    alone = [b for b in range(4) if b not in merged]
    db.name_segment("s", ids3[alone[0]], "Blob alone")

    db.create("s", source="t", key="customer_id", features=FEATURES, k=4, replace=True)
    run4 = db.refresh("s")
    lab4 = labels(db, "s")
    ids4 = _blob_ids(lab4, keys, blob)
    assert sorted(ids4.values()) == [1, 2, 3, 4]
    assert all(ids4[b] == ids3[b] for b in alone)           # untouched groups keep their ids
    assert sorted(ids4[b] for b in merged) == sorted([ids3[merged[0]], 4])  # one half keeps the id
    matches = db.sql("SELECT segment_id, matched_from_segment_id FROM segdb.segment_matches "
                     "WHERE run_id = ? ORDER BY segment_id", [run4.run_id]).to_pylist()
    assert [(m["segment_id"], m["matched_from_segment_id"]) for m in matches] == [
        (1, 1), (2, 2), (3, 3), (4, None)]
    assert db.sql("SELECT DISTINCT segment_name FROM s_segments WHERE segment_id = ?",
                  [ids4[alone[0]]]).column(0).to_pylist() == ["Blob alone"]

    # Back to k=3: one id retires; then k=4 again: the new segment gets 5, never the retired id.
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3, replace=True)
    run3b = db.refresh("s")
    ledger = {r["segment_id"]: r for r in db.segment_ids("s")}
    retired = [i for i, r in ledger.items() if r["retired_run_id"] is not None]
    assert len(retired) == 1 and ledger[retired[0]]["retired_run_id"] == run3b.run_id
    db.create("s", source="t", key="customer_id", features=FEATURES, k=4, replace=True)
    run4b = db.refresh("s")
    fresh = db.sql("SELECT segment_id FROM segdb.segment_matches WHERE run_id = ? "
                   "AND matched_from_segment_id IS NULL", [run4b.run_id]).column(0).to_pylist()
    assert fresh == [5]
    assert ledger[retired[0]]["first_run_id"] < run3b.run_id
    assert db.sql("SELECT first_run_id FROM segdb.segment_ids WHERE segmentation = 's' "
                  "AND segment_id = 5").column(0).to_pylist() == [run4b.run_id]


def test_views_keep_their_columns_and_add_name_fitted_and_place(db):
    small_segmentation(db, 2)
    db.refresh("s")
    seg_cols = db.sql("SELECT * FROM s_segments LIMIT 0").column_names
    assert seg_cols == ["customer_id", "segment_id", "distance", "run_id", "segment_name", "fitted",
                        "runner_up_id", "confidence"]
    cen_cols = db.sql("SELECT * FROM s_centroids LIMIT 0").column_names
    assert cen_cols == ["segment_id", "size", "share", *FEATURES, "segment_name"]
    assert db.sql("SELECT bool_and(fitted) AS f FROM s_segments").to_pylist() == [{"f": True}]


def test_name_cli_and_errors(db, db_path):
    small_segmentation(db, 4)
    db.close()
    r = run_cli(["name", "s", "1", "Budget seekers"], db_path)
    assert r.exit_code == 1
    assert r.output == ("Error: segmentation 's' has no run yet, so no segment to name; "
                        "run `segdb refresh s` first\n")
    run_cli(["refresh", "s"], db_path)
    r = run_cli(["name", "s", "2", "Budget  seekers "], db_path)
    assert (r.exit_code, r.output) == (0, "s: segment 2 is named 'Budget  seekers '\n")
    r = run_cli(["name", "s", "7", "x"], db_path)
    assert r.output == ("Error: segmentation 's' has no segment 7; its current segments are 1, 2 "
                        "(see `segdb show s`)\n")
    r = run_cli(["name", "s", "1", "Budget seekers"], db_path)
    assert r.output == ("Error: segment 2 of 's' is already named 'Budget seekers'; choose another "
                        "name or rename that segment first\n")
    r = run_cli(["name", "s", "1"], db_path)
    assert r.output == "Error: give either a name or --clear, e.g. `segdb name s 1 \"Budget seekers\"`\n"
    r = run_cli(["ids", "s"], db_path)
    assert r.output.splitlines()[2].split() == ["1", "1"]
    assert r.output.splitlines()[3].split() == ["2", "Budget", "seekers", "1"]
    run_cli(["name", "s", "2", "--clear"], db_path)
    r = run_cli(["sql", "SELECT count(segment_name) AS n FROM s_segments"], db_path)
    assert r.output.splitlines()[-1].strip() == "0"


@pytest.mark.parametrize("change", ["features", "none"])
def test_definition_changes_match_on_shared_features(db, change):
    rng = np.random.default_rng(5)
    X, blob = blobs(rng, [60, 40, 20])
    write_table(db.con, "t", np.arange(1, 121), X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3)
    db.refresh("s")
    lab1 = labels(db, "s")
    feats = FEATURES[:2] if change == "features" else FEATURES
    db.create("s", source="t", key="customer_id", features=feats, k=3, replace=True, seed=11)
    db.refresh("s")
    lab2 = labels(db, "s")
    assert lab2 == lab1


def test_runs_written_before_the_ledger_are_backfilled(db):
    # A database upgraded to migration 0003 has runs but an empty ledger: the ids of those runs
    # still count as used, and the ledger learns them on the next refresh.
    rng = np.random.default_rng(6)
    X, _ = blobs(rng, [60, 40, 20])
    write_table(db.con, "t", np.arange(1, 121), X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3)
    first = db.refresh("s").run_id
    db.sql("DELETE FROM segdb.segment_ids")
    db.create("s", source="t", key="customer_id", features=FEATURES, k=2, replace=True)
    second = db.refresh("s").run_id
    ledger = db.segment_ids("s")
    assert [(r["segment_id"], r["first_run_id"]) for r in ledger] == [(1, first), (2, first), (3, first)]
    assert [r["retired_run_id"] for r in ledger].count(second) == 1
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3, replace=True)
    third = db.refresh("s").run_id
    fresh = db.sql("SELECT segment_id FROM segdb.segment_matches WHERE run_id = ? AND "
                   "matched_from_segment_id IS NULL", [third]).column(0).to_pylist()
    assert fresh == [4]
