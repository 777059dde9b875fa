"""The report as a person sees it: opened in headless Chromium (Debian's package, which .ci/run
installs), every section rendered and every picture decoded by the browser.

The report is one self-contained HTML file without scripts. To ask the browser what it rendered,
the test opens a copy with one probe script appended, which writes each image's decoded size into
the DOM that `chromium --dump-dom` prints (the shipped file is not changed)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

import segdb
from conftest import run_cli
from engines import wholesale_table

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = """<script>window.addEventListener("load", function () {
  var seen = Array.prototype.map.call(document.images, function (i) {
    return [i.alt, i.naturalWidth, i.naturalHeight]; });
  var headings = Array.prototype.map.call(document.querySelectorAll("h1, h2, h3"), function (h) {
    return h.textContent.trim(); });
  document.body.setAttribute("data-probe", JSON.stringify({images: seen, headings: headings,
    text: document.body.innerText}));
});</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium not found: .ci/run installs Debian's chromium", pytrace=False)
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


def rendered(path, tmp_path) -> dict:
    """What Chromium rendered of the HTML file at ``path``: images (alt, width, height), headings, text."""
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    out = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert found, f"Chromium rendered no probe (exit {out.returncode}): {out.stderr[-500:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The demo database refreshed once more (so it has a history), and its report."""
    folder = tmp_path_factory.mktemp("report_browser")
    db = str(folder / "demo.duckdb")
    assert run_cli(["demo"], db).exit_code == 0
    # five new customers between the two groups
    added = run_cli(["sql", "INSERT INTO survey_responses VALUES (3001, 4, 4), (3002, 5, 3), (3003, 3, 5), "
                         "(3004, 4, 5), (3005, 5, 4)"], db)
    assert added.exit_code == 0, added.output
    # the demo's two groups are far apart (no customer is borderline): a wholesale segmentation beside it
    with segdb.connect(db) as database:
        database.con.register("wholesale_rows", wholesale_table())
        database.con.execute("CREATE TABLE wholesale AS SELECT * FROM wholesale_rows")
        database.create("ws", source="wholesale", key="customer_id", features=["Fresh", "Milk", "Grocery"], k=4)
        database.refresh("ws")
    assert run_cli(["report", "ws", "--out", str(folder / "ws.html")], db).exit_code == 0
    assert run_cli(["refresh", "insurance"], db).exit_code == 0
    out = folder / "report.html"
    result = run_cli(["report", "insurance", "--out", str(out)], db)
    assert result.exit_code == 0, result.output
    return out


def test_report_renders_every_section_and_picture_in_chromium(demo_report, tmp_path):
    seen = rendered(demo_report, tmp_path)
    headings = seen["headings"]
    for expected in ("Run", "How many segments", "Are they any good", "What makes each one different",
                     "What changed since the previous run", "Segment sizes across runs", "Pictures",
                     "Use the segments"):
        assert expected in headings, headings
    images = {alt: (w, h) for alt, w, h in seen["images"]}
    # the two history pictures (issue 17, item 4) and the profile heatmap, decoded by the browser
    for alt in ("customers moving between segments since the previous run", "segment sizes across runs",
                "profile heatmap"):
        assert alt in images, sorted(images)
    assert all(w > 100 and h > 100 for w, h in images.values()), images
    assert "Since run 1: 100% kept their segment; 5 new customers" in seen["text"]


def test_report_shows_each_segments_rules_in_chromium(demo_report, tmp_path):
    """Every stored rule of the run (segdb.segment_rules) is on the rendered page, beside its
    segment's profile, and the pasteable CASE under "Use the segments"."""
    with segdb.connect(str(demo_report.parent / "demo.duckdb"), read_only=True) as db:
        table = db.sql("SELECT r.segment_id, r.rule_no, r.condition_sql FROM segdb.segment_rules AS r "
                       "JOIN segdb.current_runs AS c ON c.run_id = r.run_id WHERE c.segmentation = 'insurance' "
                       "ORDER BY 1, 2")
    stored = list(zip(*(c.to_pylist() for c in table.columns)))
    assert stored, "the demo's run has no rules"
    text = rendered(demo_report, tmp_path)["text"]
    for segment_id, rule_no, condition in stored:
        assert condition in text, (segment_id, rule_no, condition)
        assert f"WHEN {condition} THEN {segment_id}" in text
    assert "fidelity" in text


def test_report_shows_the_borderline_customers_in_chromium(demo_report, tmp_path):
    """The borderline table, per segment, as counted from the current labels (confidence < 0.1),
    with the segment those customers would otherwise join."""
    with segdb.connect(str(demo_report.parent / "demo.duckdb"), read_only=True) as db:
        table = db.sql("SELECT segment_id, count(*), count(*) FILTER (WHERE confidence < 0.1), "
                       "mode(runner_up_id) FILTER (WHERE confidence < 0.1) "
                       "FROM ws_segments GROUP BY 1 ORDER BY 1")
    counts = list(zip(*(c.to_pylist() for c in table.columns)))
    assert sum(c[2] for c in counts) > 0, counts
    text = " ".join(rendered(demo_report.parent / "ws.html", tmp_path)["text"].split())
    assert "Borderline customers" in text
    for segment_id, customers, borderline, joins in counts:
        row = f"{segment_id} {customers} {borderline} {borderline / customers:.1%}"
        assert row in text, (row, counts)
        if borderline:
            assert f"{row} {joins}" in text
