"""Choosing k: the stored scan against scikit-learn, the knee rule by hand, known-answer data,
stability on structured versus structureless data, and k='auto' definitions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from conftest import WHOLESALE_COLUMNS, load_wholesale, run_cli, wholesale_matrix
from segdb.quality import kselect
from segdb.errors import DefinitionError
from segdb.quality.kselect import ScanRow

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest


SYN_FEATURES = ["premium_savings", "agent_contact", "online_usage", "claims", "noise_a", "noise_b"]
SYN_SIZES = [400, 300, 200, 100]


def load_table(db, name: str, table: pa.Table) -> None:
    db.con.register("segdb_test_arrow", table)
    db.con.execute(f"CREATE TABLE {name} AS SELECT * FROM segdb_test_arrow")
    db.con.unregister("segdb_test_arrow")


def four_groups(seed: int = 7) -> pa.Table:
    """Group g is 8 sd above the others on feature g (g = 0..3); the last two features are noise."""
    rng = np.random.default_rng(seed)
    cols = {f: [] for f in SYN_FEATURES}
    group = []
    for g, n in enumerate(SYN_SIZES):
        for i, f in enumerate(SYN_FEATURES):
            cols[f].append(rng.normal(8.0 if i == g else 0.0, 1.0, n))
        group += [g] * n
    order = rng.permutation(len(group))
    return pa.table({"id": np.arange(len(group)), "true_group": np.array(group)[order],
                     **{f: np.concatenate(v)[order] for f, v in cols.items()}})


def structureless(n: int = 1000, seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"id": np.arange(n), **{f: rng.normal(size=n) for f in SYN_FEATURES}})


def test_wholesale_scan_matches_best_of_100_restarts(db):
    load_wholesale(db.con)
    db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k="auto",
              k_range=(2, 8))
    run = db.refresh("ws")
    scan = db.quality("ws").k_scan
    assert [r["k"] for r in scan] == list(range(1, 9))
    Z = StandardScaler().fit_transform(wholesale_matrix())
    assert scan[0]["inertia"] == pytest.approx(440 * 6, rel=1e-7)  # k=1: n*d for z-scores, by hand
    for row in scan[1:]:
        with threadpool_limits(1):  # the same answer, much faster than oversubscribed threads
            best = KMeans(row["k"], n_init=100, random_state=0).fit(Z).inertia_
        assert row["inertia"] <= best * 1.01, row["k"]
        assert row["scan_rows"] == 440 and row["silhouette_sample_size"] == 440
    inertias = [r["inertia"] for r in scan]
    assert all(a > b for a, b in zip(inertias, inertias[1:]))
    q = db.quality("ws").run
    assert run.k == q["k"] and q["k_min"] == 2 and q["k_max"] == 8
    assert q["k_rule"] in ("knee+silhouette", "knee", "silhouette") and f"k={run.k}" in q["k_reason"]


def rows_from(inertia, silhouette) -> list[ScanRow]:
    return [ScanRow(k, i, s, None, None, 0.0, 100, 100)
            for k, (i, s) in enumerate(zip(inertia, silhouette), start=1)]


def test_knee_by_hand():
    # Normalised: x = (k-1)/4, y = (inertia - 10)/90. Gaps below the chord 1 - x - y:
    # k=2: 0.75 - 40/90 = 0.306; k=3: 0.5 - 10/90 = 0.389; k=4: 0.25 - 5/90 = 0.194 -> knee 3.
    rows = rows_from([100, 50, 20, 15, 10], [None, 0.4, 0.6, 0.5, 0.45])
    assert kselect.knee(rows, 2, 5) == 3
    assert kselect.knee(rows, 4, 5) == 4      # restricted to the range
    choice = kselect.choose_k(rows, 2, 5)
    assert (choice.k, choice.rule) == (3, "knee+silhouette")


def test_choice_rules_when_knee_and_silhouette_disagree():
    # Knee at 3 (as above); silhouette best at 2.
    close = kselect.choose_k(rows_from([100, 50, 20, 15, 10], [None, 0.62, 0.60, 0.5, 0.4]), 2, 5)
    assert (close.k, close.rule) == (3, "knee")            # 0.60 is within 0.05 of 0.62
    assert "within 0.05 of the best (k=2, 0.620)" in close.reason
    far = kselect.choose_k(rows_from([100, 50, 20, 15, 10], [None, 0.70, 0.30, 0.5, 0.4]), 2, 5)
    assert (far.k, far.rule) == (2, "silhouette")
    assert far.reason == ("k=2 has the highest silhouette (0.700); the knee of the inertia curve, k=3, "
                          "scores 0.300, more than 0.05 lower")


def test_known_answer_four_groups(db):
    load_table(db, "survey", four_groups())
    db.create("syn", source="survey", key="id", features=SYN_FEATURES, k="auto")
    run = db.refresh("syn")
    assert run.k == 4
    q = db.quality("syn")
    assert q.run["k_rule"] == "knee+silhouette"
    # The two noise features keep the z-scored silhouette near 0.45 ("weakly separated"), but the
    # partition is reproduced exactly by every bootstrap refit.
    assert q.run["stability_ari"] > 0.95
    assert q.run["verdict"].startswith(("strong: ", "reasonable: ")) and " stable (" in q.run["verdict"]
    assert all(s["stability"] > 0.95 for s in q.segments)
    truth = db.sql("SELECT s.segment_id, t.true_group FROM syn_segments s JOIN survey t USING (id) "
                   "ORDER BY id").to_pydict()
    segments = db.show("syn").segments
    for seg in segments:
        groups = [g for s, g in zip(truth["segment_id"], truth["true_group"]) if s == seg["segment_id"]]
        g = max(set(groups), key=groups.count)
        assert groups.count(g) / len(groups) > 0.98
        first = seg["description"].split(";")[0]
        # The group's own feature leads its description, upwards; noise is never mentioned.
        assert first.startswith(("high " + SYN_FEATURES[g], "very high " + SYN_FEATURES[g])), seg
        assert "noise" not in seg["description"]
        top = [p for p in db.profiles("syn") if p["segment_id"] == seg["segment_id"]][0]
        assert top["rank"] == 1 and top["feature"] == SYN_FEATURES[g] and top["effect_size"] > 3


def test_structureless_data_is_judged_unstable(db):
    load_table(db, "survey", four_groups())
    load_table(db, "noise", structureless())
    db.create("syn", source="survey", key="id", features=SYN_FEATURES, k=4)
    db.create("flat", source="noise", key="id", features=SYN_FEATURES, k=4)
    db.refresh("syn")
    db.refresh("flat")
    good, flat = db.quality("syn").run, db.quality("flat").run
    assert flat["stability_ari"] < 0.6 < 0.95 < good["stability_ari"]
    assert flat["stability_bootstraps"] == 20 and flat["stability_sample_size"] == 1000
    assert flat["verdict"].startswith("weak: the segments are unstable")
    assert flat["silhouette"] < 0.25


def test_fixed_k_with_scan_stores_the_scan_and_what_it_would_choose(db):
    load_table(db, "survey", four_groups())
    db.create("syn", source="survey", key="id", features=SYN_FEATURES, k=3)
    db.refresh("syn")
    assert db.quality("syn").k_scan == []
    run = db.refresh("syn", scan=True)
    q = db.quality("syn")
    assert run.k == 3 and q.run["k_rule"] == "fixed"
    assert [r["k"] for r in q.k_scan] == list(range(1, 11))
    assert q.run["k_reason"].startswith("k=3 is fixed by the definition; the scan of 2..10 would "
                                        "choose k=4 by the knee+silhouette rule")
    # Each run keeps its own scan: the first run still has none.
    assert db.quality("syn", run.run_id - 1).k_scan == []


def test_auto_definition_is_stored_with_its_range(db):
    load_table(db, "noise", structureless(50))
    d = db.create("a", source="noise", key="id", features=SYN_FEATURES[:2], k="auto", k_range="3..5")
    assert (d.k, d.k_min, d.k_max) == (None, 3, 5)
    stored = db.sql("SELECT k, k_min, k_max FROM segdb.definitions WHERE segmentation = 'a'").to_pylist()
    assert stored == [{"k": None, "k_min": 3, "k_max": 5}]
    d2 = db.create("b", source="noise", key="id", features=SYN_FEATURES[:2], k="auto")
    assert (d2.k_min, d2.k_max) == (2, 10)


@pytest.mark.parametrize("k, k_range, message", [
    ("auto", "10..2", "k range 10..2 is empty; give the smallest k first, e.g. 2..10"),
    ("auto", "2-10", "k range '2-10' should look like 2..10 (smallest..largest k)"),
    ("auto", "1..4", "the smallest k of the range=1 should be >= 2"),
    ("auto", "2..80", "k range 2..80 goes above 50; scan at most up to k=50"),
    (3, "2..5", "a k range applies only with k='auto', not k=3; use k='auto' with k_range=(LO, HI), "
                "or drop the range"),
])
def test_bad_k_settings_are_refused(db, k, k_range, message):
    load_table(db, "noise", structureless(50))
    with pytest.raises(DefinitionError) as err:
        db.create("a", source="noise", key="id", features=SYN_FEATURES[:2], k=k, k_range=k_range)
    assert err.value.message == message


def test_cli_create_auto_and_refresh_scan(db_path):
    import segdb
    with segdb.connect(db_path) as db:
        load_table(db, "survey", four_groups())
    args = ["create", "syn", "--source", "survey", "--key", "id", "--k", "auto", "--k-range", "2..6"]
    for f in SYN_FEATURES:
        args += ["--feature", f]
    result = run_cli(args, db_path)
    assert result.exit_code == 0
    assert result.output == ("defined syn (version 1): 6 features, k=auto (2..6), key id, source survey\n")
    result = run_cli(["refresh", "syn"], db_path)
    assert result.exit_code == 0 and result.output.startswith("syn: run 1 (its 1st run), k=4, 1000 rows used")
    bad = run_cli(["create", "x", "--source", "survey", "--key", "id", "--feature", "claims",
                   "--k", "auto", "--k-range", "5..3"], db_path)
    assert bad.exit_code == 1
    assert bad.output == "Error: k range 5..3 is empty; give the smallest k first, e.g. 3..5\n"
