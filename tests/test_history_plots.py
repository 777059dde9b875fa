"""History in pictures (issue 17, item 4): customers' moves since the previous run as an alluvial
plot, and segment sizes across runs, in `segdb plot` and the report; segment names on both.
Checked against the labels tables themselves (an independent count with numpy) and by hand."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import segdb
from segdb.cli import cli
from segdb.present import history_plots, plots


@pytest.fixture
def two_runs(tmp_path):
    """Run 1 on 120 customers; then 40 of them leave, 30 arrive and some change their answers;
    run 2 on that. Segment 2 is named."""
    path = str(tmp_path / "h.duckdb")
    with segdb.connect(path) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, (i % 3) * 10.0 + (i % 7) * 0.1 AS x, "
               "(i % 3) * 5.0 + (i % 5) * 0.1 AS y FROM range(120) r(i)")
        db.create("h", source="t", key="id", features=["x", "y"], k=3)
        db.refresh("h")
        db.name_segment("h", 2, "Big spenders")
        db.sql("DELETE FROM t WHERE id < 40")
        db.sql("INSERT INTO t SELECT i, (i % 3) * 10.0, (i % 3) * 5.0 + 1 FROM range(1000, 1030) r(i)")
        db.sql("UPDATE t SET x = 20.0, y = 10.0 WHERE id BETWEEN 40 AND 49")  # they move to the top segment
        db.refresh("h")
    return path


def test_flows_count_every_customer_of_either_run_once(two_runs):
    with segdb.connect(two_runs, read_only=True) as db:
        previous, counts = history_plots.flows(db.con, 2)
        before = dict(db.con.execute("SELECT segdb_key, segment_id FROM segdb.h_labels WHERE run_id = 1").fetchall())
        after = dict(db.con.execute("SELECT segdb_key, segment_id FROM segdb.h_labels WHERE run_id = 2").fetchall())
    expected: dict = {}
    for key in set(before) | set(after):  # the oracle: the two label sets, joined in Python
        pair = (before.get(key), after.get(key))
        expected[pair] = expected.get(pair, 0) + 1
    assert previous == 1
    assert counts == expected
    assert sum(counts.values()) == 150  # 120 + 30 new
    assert sum(n for (f, _), n in counts.items() if f is None) == 30
    assert sum(n for (_, t), n in counts.items() if t is None) == 40


def test_blocks_stack_top_down_with_gaps_by_hand():
    blocks = history_plots._blocks({1: 30, 2: 10, "gone": 0}, [1, 2, "gone"], scale=0.02)
    g = history_plots.GAP
    assert blocks[1] == pytest.approx((1 - 0.6, 1.0))
    assert blocks[2] == pytest.approx((1 - 0.6 - g - 0.2, 1 - 0.6 - g))
    assert blocks["gone"][1] - blocks["gone"][0] == pytest.approx(0.0)


def test_pictures_name_the_segments_and_show_the_new_definition(two_runs, tmp_path, monkeypatch):
    captured: dict = {}
    real_save = plots._save

    def save(fig, path):
        ax = fig.axes[0]
        texts = [t.get_text() for t in ax.texts]
        if ax.get_legend():
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
        captured[path.name] = texts
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", save)
    with segdb.connect(two_runs) as db:
        db.create("h", source="t", key="id", features=["x", "y"], k=2, replace=True)
        db.refresh("h")
        paths = db.plot("h", tmp_path / "png")
        sizes = db.sql("SELECT run_id, segment_id, size FROM segdb.segments ORDER BY 1, 2").to_pylist()
        drawn = history_plots.sizes_history(db.con, "h")
    assert paths["flows"].name == "h_run3_flows.png" and paths["history"].name == "h_run3_history.png"
    for key in ("flows", "history"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    flows = captured["h_run3_flows.png"]
    # each block says its segment (with its name) and its customers; run 2 -> run 3 has no new or gone
    assert any(t.startswith("segment 2: Big spenders\n") for t in flows), flows
    left = {t for t in flows if t.startswith("segment")}
    assert len(left) >= 4 and "new customers" not in " ".join(flows)
    history = captured["h_run3_history.png"]
    assert "segment 2: Big spenders" in history
    assert "definition v2, k=2" in history  # where the definition changed
    # the sizes drawn are the stored ones: every (run, segment) of the three runs
    assert [(r["run_id"], r["segment_id"], r["size"]) for r in sizes] == [
        (r["run_id"], r["segment_id"], r["size"]) for r in drawn]


def test_first_run_says_why_the_history_pictures_are_skipped(tmp_path):
    """(With one feature: its customers picture is a strip per segment; it used to end in a
    traceback, since a scatter needs two axes.)"""
    db_path = str(tmp_path / "f.duckdb")
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, (i % 2) * 10.0 + (i % 5) * 0.1 AS x FROM range(40) r(i)")
        db.create("f", source="t", key="id", features=["x"], k=2)
        db.refresh("f")
    result = CliRunner().invoke(cli, ["--db", db_path, "plot", "f", "--out", str(tmp_path / "png")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "flows: skipped (the segmentation's first run: no previous run to compare with)" in lines
    assert "history: skipped (one run so far: sizes across runs need two)" in lines
    assert f"segments: {tmp_path / 'png' / 'f_run1_segments.png'}" in lines


def test_report_shows_both_history_pictures(two_runs, tmp_path):
    out = tmp_path / "r.html"
    with segdb.connect(two_runs, read_only=True) as db:
        db.report("h", out)
    page = out.read_text(encoding="utf-8")
    assert '<img alt="customers moving between segments since the previous run" src="data:image/png;base64,' in page
    assert '<img alt="segment sizes across runs" src="data:image/png;base64,' in page
    assert page.index("What changed since the previous run") < page.index("Segment sizes across runs")
