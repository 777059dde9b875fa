"""Run ids are shared by every segmentation; wherever a run is shown to a person it also carries its
ordinal within its own segmentation: 'run 2 (its 1st run)' (issue 13 item 13)."""

from __future__ import annotations

import re

import pytest

import segdb
from conftest import run_cli
from segdb.store.runs import ordinal_word, run_label

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest


def test_ordinal_words():
    assert [ordinal_word(n) for n in (1, 2, 3, 4, 10, 11, 12, 13, 14, 21, 22, 23, 101, 111, 112, 113)] == [
        "1st", "2nd", "3rd", "4th", "10th", "11th", "12th", "13th", "14th", "21st", "22nd", "23rd",
        "101st", "111th", "112th", "113th"]
    assert run_label(7, 2) == "run 7 (its 2nd run)" and run_label(7) == "run 7"


@pytest.fixture
def two_db(db_path):
    """Runs interleaved: a -> run 1, b -> run 2, a -> run 3, b -> run 4, b -> run 5."""
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE customers AS SELECT i AS customer_id, (i % 7)::DOUBLE AS spend, "
               "(i % 5)::DOUBLE AS visits FROM range(1, 101) t(i)")
        db.create("a", source="customers", key="customer_id", features=["spend", "visits"], k=2)
        db.create("b", source="customers", key="customer_id", features=["spend", "visits"], k=3)
        results = [db.refresh(n) for n in ("a", "b", "a", "b")]
        assert [(r.segmentation, r.run_id, r.ordinal) for r in results] == [
            ("a", 1, 1), ("b", 2, 1), ("a", 3, 2), ("b", 4, 2)]
    return db_path


def test_api_results_carry_the_ordinal(two_db):
    with segdb.connect(two_db) as db:
        assert [(r["run_id"], r["ordinal"]) for r in db.runs("b")] == [(4, 2), (2, 1)]
        assert [(r["run_id"], r["ordinal"]) for r in db.runs("a")] == [(3, 2), (1, 1)]
        assert (db.show("b").run["run_id"], db.show("b").run["ordinal"]) == (4, 2)
        assert db.show("b", 2).run["ordinal"] == 1
        t = db.show("b").transitions
        assert (t.previous_run_id, t.previous_ordinal) == (2, 1)
        assert t.sentence() == "since run 2 (its 1st run): 100% kept their segment; 0 new customers, 0 gone"


def test_cli_prints_the_ordinal_wherever_it_names_a_run(two_db, tmp_path):
    out = run_cli(["refresh", "b"], two_db).output
    assert re.fullmatch(r"b: run 5 \(its 3rd run\), k=3, 100 rows used, 0 skipped, inertia \d+\.\d{4} "
                        r"\(\d+\.\d\ds\)\n", out)
    shown = run_cli(["show", "b", "--run", "4"], two_db).output.splitlines()
    assert re.fullmatch(r"b: run 4 \(its 2nd run\), definition version 1, refreshed \S+ \S+ \(.*\)", shown[0])
    assert shown[3] == "since run 2 (its 1st run): 100% kept their segment; 0 new customers, 0 gone"
    moved = run_cli(["transitions", "b"], two_db).output.splitlines()
    assert moved[0] == ("run 5 (its 3rd run), since run 4 (its 2nd run): 100% kept their segment; "
                        "0 new customers, 0 gone")
    # After a rollback the transitions of the next run count from the run made current again.
    assert run_cli(["rollback", "b", "2"], two_db).exit_code == 0
    run_cli(["refresh", "b"], two_db)
    moved = run_cli(["transitions", "b"], two_db).output.splitlines()
    assert moved[0].startswith("run 6 (its 4th run), since run 2 (its 1st run): ")
    listing = run_cli(["runs", "b"], two_db).output.splitlines()
    assert listing[0].split()[:4] == ["run_id", "n", "current", "status"]
    assert [line.split()[:2] for line in listing[2:]] == [["6", "4"], ["5", "3"], ["4", "2"], ["2", "1"]]
    # Pruning keeps every run's number: the ordinal counts every recorded run of the segmentation.
    assert run_cli(["prune", "b", "--keep", "1"], two_db).exit_code == 0
    listing = run_cli(["runs", "b"], two_db).output.splitlines()
    assert [line.split()[:2] for line in listing[2:]] == [["6", "4"], ["5", "3"], ["4", "2"], ["2", "1"]]
    profile = run_cli(["profile", "a"], two_db).output.splitlines()
    assert profile[0].startswith("a, run 3 (its 2nd run): z_diff = ")
    report = tmp_path / "a.html"
    assert run_cli(["report", "a", "--out", str(report), "--run", "1"], two_db).exit_code == 0
    assert "<h1>Segmentation a, run 1 (its 1st run)</h1>" in report.read_text()
