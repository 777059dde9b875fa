"""k and its range against the data: a k auto choice at the edge of its range says so (issue 13
item 7a); a k above the source's rows is refused at create, apply and refresh in segdb's words
(item 7b)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import silhouette_score

import segdb
from conftest import run_cli
from segdb.quality import kselect
from segdb.errors import DataError, DefinitionError
from segdb.quality.kselect import ScanRow

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest


def twelve_blobs() -> tuple[pa.Table, np.ndarray]:
    """12 blobs on a 4 x 3 grid, 10 apart; each blob is the same 5 x 4 patch of points 0.2 apart
    (no randomness): 240 rows whose best k is 12."""
    rows, blob = [], []
    for b in range(12):
        for i in range(5):
            for j in range(4):
                rows.append((10.0 * (b % 4) + 0.2 * i, 10.0 * (b // 4) + 0.2 * j))
                blob.append(b)
    X = np.array(rows)
    return pa.table({"id": np.arange(1, 241), "x": X[:, 0], "y": X[:, 1]}), np.array(blob)


def load(db, name: str, table: pa.Table) -> None:
    db.con.register("segdb_test_arrow", table)
    db.con.execute(f"CREATE TABLE {name} AS SELECT * FROM segdb_test_arrow")
    db.con.unregister("segdb_test_arrow")


def rows_from(inertia, silhouette) -> list[ScanRow]:
    return [ScanRow(k, i, s, None, None, 0.0, 100, 100)
            for k, (i, s) in enumerate(zip(inertia, silhouette), start=1)]


# -- 7a: the edge of the range ------------------------------------------------------------------

def test_edge_rule_by_hand():
    inertia = [100, 60, 40, 30, 25]          # k = 1..5
    rising = kselect.choose_k(rows_from(inertia, [None, 0.3, 0.4, 0.5, 0.6]), 2, 5)
    assert (rising.k, rising.rule) == (5, "silhouette")
    assert rising.edge == ("k=5 is the largest k of the range 2..5 and the silhouette still rises toward "
                           "it (0.500 at k=4, 0.600 at k=5): the best k may lie above 5; widen the k "
                           "range, e.g. to 2..10")
    assert rising.reason.endswith("; " + rising.edge)
    # The top of the range, but the silhouette no better than at k=4: the lower k wins the tie.
    flat = kselect.choose_k(rows_from(inertia, [None, 0.3, 0.4, 0.6, 0.6]), 2, 5)
    assert (flat.k, flat.edge) == (4, None)
    # An inner best: no note.
    inner = kselect.choose_k(rows_from(inertia, [None, 0.3, 0.7, 0.5, 0.4]), 2, 5)
    assert (inner.k, inner.edge) == (3, None) and "widen" not in inner.reason
    # k=2 at the bottom of 2..5: there is no smaller k to try.
    bottom = kselect.choose_k(rows_from(inertia, [None, 0.9, 0.4, 0.3, 0.2]), 2, 5)
    assert (bottom.k, bottom.edge) == (2, None)
    # The bottom of 3..5, silhouette falling away from it: the best k may lie below.
    low = kselect.choose_k(rows_from(inertia, [None, None, 0.8, 0.5, 0.4]), 3, 5)
    assert low.k == 3 and low.edge == (
        "k=3 is the smallest k of the range 3..5 and the silhouette still rises toward it (0.500 at k=4, "
        "0.800 at k=3): the best k may lie below 3; widen the k range, e.g. to 2..5")
    # A range of one k has no neighbour to compare with.
    assert kselect.choose_k(rows_from(inertia, [None, 0.3, 0.4, 0.5, 0.6]), 5, 5).edge is None
    # At the ceiling of what segdb scans: nothing wider to suggest.
    top = kselect.edge_note(rows_from([100] + [90 - k for k in range(2, 51)], [None] + [k / 100 for k in
                                                                                     range(2, 51)]),
                            kselect.KChoice(50, "silhouette", "", 2, 50))
    assert top == ("k=50 is the largest k of the range 2..50 and the silhouette still rises toward it "
                   "(0.490 at k=49, 0.500 at k=50): the best k may lie above 50, beyond the largest k "
                   "segdb scans (50)")


def test_largest_k_capped_by_distinct_rows_is_not_an_edge():
    # k=4 and 5 could not be fitted (too few distinct rows): k=3 is the best fitted, not the edge.
    rows = rows_from([100, 60, 40], [None, 0.3, 0.4])
    choice = kselect.choose_k(rows, 2, 5)
    assert choice.k == 3 and choice.edge is None


EDGE = ("k=5 is the largest k of the range 2..5 and the silhouette still rises toward it (0.496 at k=4, "
        "0.564 at k=5): the best k may lie above 5; widen the k range, e.g. to 2..10")


def test_twelve_blobs_in_2_to_5_say_the_range_is_too_narrow(db_path, tmp_path):
    table, blob = twelve_blobs()
    with segdb.connect(db_path) as db:
        load(db, "blobs", table)
        db.create("narrow", source="blobs", key="id", features=["x", "y"], k="auto", k_range=(2, 5))
        db.create("wide", source="blobs", key="id", features=["x", "y"], k="auto", k_range=(2, 15))
        run = db.refresh("narrow")
        assert (run.k, run.k_edge) == (5, EDGE)
        q = db.quality("narrow").run
        assert q["k_reason"] == ("k=5 has the highest silhouette (0.564); the knee of the inertia curve, "
                                 "k=3, scores 0.464, more than 0.05 lower; " + EDGE)
        sil = {r["k"]: r["silhouette"] for r in db.quality("narrow").k_scan}
        assert sil[5] > sil[4] > sil[3]  # still rising at the top of the range
        # Widened as suggested and more: the 12 blobs, and nothing to say about the range.
        wide = db.refresh("wide")
        assert (wide.k, wide.k_edge) == (12, None)
        X = np.column_stack([table["x"].to_numpy(), table["y"].to_numpy()])
        Z = (X - X.mean(axis=0)) / X.std(axis=0)
        assert {r["k"]: r["silhouette"] for r in db.quality("wide").k_scan}[12] == pytest.approx(
            silhouette_score(Z, blob), rel=1e-9)  # the scan's k=12 is the blobs themselves
    # The CLI: refresh prints the note on its own line; show and the report carry the reason.
    out = run_cli(["refresh", "narrow"], db_path)
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert re.fullmatch(r"narrow: run 3 \(its 2nd run\), k=5, 240 rows used, 0 skipped, inertia "
                        r"\d+\.\d{4} \(\d+\.\d\ds\)", lines[0])
    assert lines[1:] == ["narrow: " + EDGE]
    shown = run_cli(["show", "narrow"], db_path).output.splitlines()
    assert "k=5 (silhouette): k=5 has the highest silhouette (0.564); the knee of the inertia curve, k=3, " \
           "scores 0.464, more than 0.05 lower; " + EDGE in shown
    wide_out = run_cli(["refresh", "wide"], db_path).output.splitlines()
    assert len(wide_out) == 1 and wide_out[0].startswith("wide: run 4 (its 2nd run), k=12, ")
    report = tmp_path / "narrow.html"
    assert run_cli(["report", "narrow", "--out", str(report)], db_path).exit_code == 0
    assert "the best k may lie above 5; widen the k range, e.g. to 2..10" in report.read_text()


# -- 7b: k above the rows ------------------------------------------------------------------------

@pytest.fixture
def survey_db(db_path):
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE survey_responses AS SELECT i AS customer_id, (i % 7)::DOUBLE AS savings, "
               "(i % 5)::DOUBLE AS agent FROM range(1, 241) t(i)")
        db.sql("CREATE TABLE later AS SELECT * FROM survey_responses LIMIT 0")
    return db_path


FEATS = ["--feature", "savings", "--feature", "agent"]


def test_create_refuses_k_above_the_rows(survey_db):
    with segdb.connect(survey_db) as db:
        with pytest.raises(DefinitionError) as err:
            db.create("s", source="survey_responses", key="customer_id", features=["savings", "agent"],
                      k=500)
        assert err.value.message == ("k=500 is more than the 240 rows of table survey_responses; lower k "
                                     "to at most 240")
        with pytest.raises(DefinitionError) as err:
            db.create("s", source="SELECT * FROM survey_responses WHERE customer_id <= 30",
                      key="customer_id", features=["savings", "agent"], k="auto", k_range=(2, 31))
        assert err.value.message == ("k range 2..31 goes above the 30 rows of the source SELECT; "
                                     "scan at most up to k=30")
        # As many segments as rows is allowed; an empty source is data to come (refresh says so).
        assert db.create("s", source="survey_responses", key="customer_id",
                         features=["savings", "agent"], k=240).k == 240
        assert db.create("e", source="later", key="customer_id", features=["savings"], k=5).k == 5
        assert db.names() == ["e", "s"]
    result = run_cli(["create", "big", "--source", "survey_responses", "--key", "customer_id", *FEATS,
                      "--k", "500"], survey_db)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("Error: k=500 is more than the 240 rows of table survey_responses; "
                             "lower k to at most 240\n")
    result = run_cli(["create", "big", "--source", "survey_responses", "--key", "customer_id", *FEATS,
                      "--k", "auto", "--k-range", "2..5"], survey_db)
    assert result.exit_code == 0


def test_apply_refuses_k_above_the_rows(survey_db, tmp_path):
    path = tmp_path / "segdb.toml"
    path.write_text('[segmentation.s]\nsource = "survey_responses"\nkey = "customer_id"\nk = 500\n'
                    'features = ["savings", "agent"]\n', encoding="utf-8")
    result = run_cli(["apply", str(path)], survey_db)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"Error: {path}, line 4, key segmentation.s.k: k=500 is more than the 240 rows "
                             "of table survey_responses; lower k to at most 240\n")
    path.write_text('[segmentation.s]\nsource = "SELECT * FROM survey_responses LIMIT 20"\n'
                    'key = "customer_id"\nk = "auto"\nk_range = [2, 25]\nfeatures = ["savings", "agent"]\n',
                    encoding="utf-8")
    result = run_cli(["apply", str(path)], survey_db)
    assert result.stderr == (f"Error: {path}, line 4, key segmentation.s.k: k range 2..25 goes above the 20 "
                             "rows of the source SELECT; scan at most up to k=20\n")
    with segdb.connect(survey_db) as db:
        assert db.names() == []


def test_refresh_after_rows_were_deleted_says_so_in_segdb_terms(survey_db):
    with segdb.connect(survey_db) as db:
        db.create("s", source="survey_responses", key="customer_id", features=["savings", "agent"], k=30)
        db.sql("DELETE FROM survey_responses WHERE customer_id > 25")
        with pytest.raises(DataError) as err:
            db.refresh("s")
        assert err.value.message == ("k=30 is more than the 25 usable rows of the source of s (table "
                                     "survey_responses); lower k to at most 25 by redefining the "
                                     "segmentation, or add rows")
        # Rows skipped for a NULL feature are counted apart.
        db.sql("UPDATE survey_responses SET agent = NULL WHERE customer_id <= 5")
        with pytest.raises(DataError) as err:
            db.refresh("s")
        assert err.value.message == ("k=30 is more than the 20 usable rows of the source of s (table "
                                     "survey_responses), after 5 rows with a NULL feature are skipped; "
                                     "lower k to at most 20 by redefining the segmentation, or add rows")
    result = run_cli(["refresh", "s"], survey_db)
    assert (result.exit_code, result.stdout) == (1, "")
    assert "n_samples" not in result.stderr and result.stderr.startswith("Error: k=30 is more than the 20 ")
