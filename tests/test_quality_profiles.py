"""Profiles computed in SQL against a hand-worked case and numpy; descriptions from profiles."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import WHOLESALE_COLUMNS, load_wholesale, wholesale_matrix
from segdb.quality.describe import describe_profile


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    pooled = np.sqrt((((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / (len(a) + len(b) - 2))
    return (a.mean() - b.mean()) / pooled


def test_hand_worked_profile(db):
    # Segment 1 = x 0, 2, 4 / y 1, 1, 2 ; segment 2 = x 10, 12 / y 1, 2 (scale none keeps it by hand).
    db.sql("CREATE TABLE pts AS SELECT * FROM (VALUES (1, 0, 1), (2, 2, 1), (3, 4, 2), (4, 10, 1), "
           "(5, 12, 2)) v(id, x, y)")
    db.create("toy", source="pts", key="id", features=["x", "y"], k=2, scale="none")
    db.refresh("toy")
    p = {(r["segment_id"], r["feature"]): r for r in db.profiles("toy")}
    # x: population mean 5.6, population sd sqrt(264/5 - 5.6^2) = sqrt(21.44).
    assert p[1, "x"]["mean_raw"] == pytest.approx(2.0, rel=1e-12)
    assert p[1, "x"]["z_diff"] == pytest.approx((2 - 5.6) / np.sqrt(21.44), rel=1e-12)
    # Cohen's d: M2 = 8 and 2, pooled variance (8 + 2) / (5 - 2).
    assert p[1, "x"]["effect_size"] == pytest.approx((2 - 11) / np.sqrt(10 / 3), rel=1e-12)
    assert p[2, "x"]["effect_size"] == pytest.approx((11 - 2) / np.sqrt(10 / 3), rel=1e-12)
    # y: means 4/3 and 3/2, M2 = 2/3 and 1/2 -> d = (-1/6) / sqrt((7/6) / 3).
    assert p[1, "y"]["effect_size"] == pytest.approx((-1 / 6) / np.sqrt(7 / 18), rel=1e-12)
    assert [p[1, "x"]["rank"], p[1, "y"]["rank"]] == [1, 2]
    assert p[1, "x"]["label"] == "x" and p[1, "x"]["n_values"] == 3


def test_profiles_equal_numpy_on_wholesale(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    run = db.refresh("ws")
    X = wholesale_matrix()
    labels = np.array(db.sql("SELECT segment_id FROM ws_segments ORDER BY customer_id")
                      .column("segment_id").to_pylist())
    rows = db.profiles("ws")
    assert len(rows) == 3 * 6
    for r in rows:
        j, member = r["feature_no"] - 1, labels == r["segment_id"]
        seg, rest = X[member, j], X[~member, j]
        assert r["mean_raw"] == pytest.approx(seg.mean(), rel=1e-7)
        assert r["z_diff"] == pytest.approx((seg.mean() - X[:, j].mean()) / X[:, j].std(), rel=1e-7)
        assert r["effect_size"] == pytest.approx(cohens_d(seg, rest), rel=1e-7)
    for s in (1, 2, 3):
        mine = [r for r in rows if r["segment_id"] == s]
        assert [r["rank"] for r in mine] == [1, 2, 3, 4, 5, 6]
        assert [abs(r["effect_size"]) for r in mine] == sorted((abs(r["effect_size"]) for r in mine), reverse=True)
    # Queryable by run id, joined to the segments:
    got = db.sql("SELECT count(*) AS n FROM segdb.profiles p JOIN segdb.segments s USING (run_id, segment_id) "
                 "WHERE run_id = ?", [run.run_id]).to_pylist()
    assert got == [{"n": 18}]


def test_large_values_keep_their_precision(db):
    # Adding 1e9 to every value changes means by 1e9 and nothing else.
    load_wholesale(db.con)
    db.sql("CREATE TABLE shifted AS SELECT customer_id, " + ", ".join(
        f"{c} + 1e9 AS {c}" for c in WHOLESALE_COLUMNS) + " FROM wholesale")
    db.create("a", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    db.create("b", source="shifted", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    db.refresh("a")
    db.refresh("b")
    for ra, rb in zip(db.profiles("a"), db.profiles("b")):
        assert (ra["segment_id"], ra["feature_no"], ra["rank"]) == (rb["segment_id"], rb["feature_no"], rb["rank"])
        assert rb["mean_raw"] - 1e9 == pytest.approx(ra["mean_raw"], rel=1e-6)
        assert rb["z_diff"] == pytest.approx(ra["z_diff"], rel=1e-6, abs=1e-9)
        assert rb["effect_size"] == pytest.approx(ra["effect_size"], rel=1e-6, abs=1e-9)


def test_nulls_mean_profiles_use_the_observed_values(db):
    db.sql("CREATE TABLE t AS SELECT * FROM (VALUES (1, 0.0, 1.0), (2, 1.0, NULL), (3, 0.5, 1.5), "
           "(4, 10.0, 9.0), (5, 11.0, 10.0), (6, 10.5, NULL)) v(id, x, y)")
    db.create("n", source="t", key="id", features=["x", "y"], k=2, nulls="mean")
    db.refresh("n")
    p = {(r["segment_id"], r["feature"]): r for r in db.profiles("n")}
    low = 1 if p[1, "x"]["mean_raw"] < 5 else 2
    assert p[low, "y"]["n_values"] == 2 and p[low, "y"]["mean_raw"] == pytest.approx(1.25)


def test_descriptions_come_from_the_profiles(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
    db.refresh("ws")
    rows = db.profiles("ws")
    for seg in db.show("ws").segments:
        mine = [r for r in rows if r["segment_id"] == seg["segment_id"]]
        assert seg["description"] == describe_profile(mine)


def test_describe_profile_wording():
    rows = [
        {"label": "cares about premium savings", "z_diff": 0.84},
        {"label": "agent not important", "z_diff": 1.62},
        {"label": "age", "z_diff": -0.1},
        {"label": "tenure", "z_diff": -0.5},
        {"label": "spend", "z_diff": -2.0},
    ]
    assert describe_profile(rows) == ("high cares about premium savings (+0.8 sd); very high agent not "
                                      "important (+1.6 sd); low tenure (-0.5 sd)")
    assert describe_profile([{"label": "a", "z_diff": 0.1}]) == "close to the average on every feature"
    assert describe_profile([{"label": "a", "z_diff": None}]) == "close to the average on every feature"


def test_feature_labels_name_the_profiles_and_descriptions(db):
    db.sql("CREATE TABLE s AS SELECT * FROM (VALUES (1, 1, 2), (2, 2, 1), (3, 1, 1), (4, 7, 6), (5, 6, 7), "
           "(6, 7, 7)) v(id, prem, agent)")
    db.create("ins", source="s", key="id", k=2, features=[
        {"name": "prem", "label": "cares about premium savings"}, "agent"])
    db.refresh("ins")
    labels = {(r["feature"], r["label"]) for r in db.profiles("ins")}
    assert labels == {("prem", "cares about premium savings"), ("agent", "agent")}
    descriptions = sorted(s["description"] for s in db.show("ins").segments)
    # Both features separate equally (same values, mirrored), so the tie keeps definition order.
    assert descriptions == ["high cares about premium savings (+1.0 sd); high agent (+1.0 sd)",
                            "low cares about premium savings (-1.0 sd); low agent (-1.0 sd)"]
