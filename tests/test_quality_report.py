"""`segdb show` with quality, `segdb profile`, `segdb plot`, `segdb report`: real files, real PNGs."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

import segdb
from conftest import WHOLESALE_COLUMNS, load_wholesale, run_cli

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def ws_db(tmp_path_factory):
    """One refreshed database shared by the read-only tests of this module."""
    db_path = str(tmp_path_factory.mktemp("ws") / "ws.duckdb")
    with segdb.connect(db_path) as db:
        load_wholesale(db.con)
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k="auto",
                  k_range=(2, 6))
        db.refresh("ws")
    return db_path


def test_show_prints_quality_and_verdict(ws_db):
    result = run_cli(["show", "ws"], ws_db)
    assert result.exit_code == 0
    with segdb.connect(ws_db, read_only=True) as db:
        q = db.quality("ws").run
    out = result.output
    assert f"k={q['k']} ({q['k_rule']}): {q['k_reason']}\n" in out
    assert f"silhouette {q['silhouette']:.3f} (on all 440 rows); Calinski-Harabasz {q['calinski_harabasz']:.1f}" in out
    assert (f"stability {q['stability_ari']:.3f} mean adjusted Rand index (min {q['stability_ari_min']:.3f}) "
            f"over 20 bootstrap refits on 440 rows\n") in out
    assert f"verdict: {q['verdict']}\n" in out
    assert "segment  size  share  rms_radius  silhouette  stability" in out
    assert "k scan (on 440 rows)" in out


def test_profile_command(ws_db):
    result = run_cli(["profile", "ws", "--top", "2"], ws_db)
    assert result.exit_code == 0
    with segdb.connect(ws_db, read_only=True) as db:
        rows = db.profiles("ws")
        summary = db.show("ws")
        segments = summary.segments
    places = {b.segment_id: b for b in summary.borderline}
    for s in segments:
        b = places[s["segment_id"]]  # the share of borderline customers, and where most would go
        note = (f"{100 * b.share:.1f}% borderline" if not b.borderline else
                f"{100 * b.share:.1f}% borderline, mostly next to {b.main_runner_up}")
        assert (f"segment {s['segment_id']} ({s['size']} customers, {100 * s['share']:.1f}%; {note}): "
                f"{s['description']}") in result.output
    top = [r for r in rows if r["rank"] <= 2]
    lines = [ln for ln in result.output.splitlines() if re.match(r"\s+[12]\s{2}", ln)]
    assert len(lines) == len(top)
    csv_out = run_cli(["profile", "ws", "--format", "csv"], ws_db).output.splitlines()
    assert csv_out[0] == "segment,rank,feature,mean_raw,z_diff,effect_size"
    assert len(csv_out) == 1 + len(rows)


def test_plot_writes_four_readable_pngs(ws_db, tmp_path):
    out = tmp_path / "plots"
    result = run_cli(["plot", "ws", "--out", str(out)], ws_db)
    assert result.exit_code == 0
    files = sorted(p.name for p in out.iterdir())
    run_id = 1
    assert files == sorted(f"ws_run{run_id}_{n}.png" for n in ("elbow", "segments", "profile_heatmap", "sizes"))
    for name in files:
        w, h = png_size((out / name).read_bytes())
        assert w >= 600 and h >= 250
    assert result.output.splitlines()[0] == f"elbow: {out / f'ws_run{run_id}_elbow.png'}"


def test_plot_without_scan_skips_the_elbow(db_path, tmp_path):
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE two AS SELECT range AS id, (range * 7919) % 101 AS spend, "
               "(range * 104729) % 37 AS visits FROM range(300)")
        db.create("two", source="two", key="id", features=["spend", "visits"], k=3)
        db.refresh("two")
        paths = db.plot("two", tmp_path / "p")
    assert paths["elbow"] is None
    assert png_size(paths["segments"].read_bytes())[0] > 0   # two features: drawn in source units
    result = run_cli(["plot", "two", "--out", str(tmp_path / "q")], db_path)
    assert result.output.splitlines()[0] == "elbow: skipped (no k scan stored for this run; refresh with --scan)"


def test_scatter_sample_is_bounded_and_repeatable(ws_db):
    from segdb.present import plots
    from segdb.present.insights import load_run
    with segdb.connect(ws_db, read_only=True) as db:
        view = load_run(db.con, "ws")
        args = (db.con, view.definition, view.relation, view.summary.feature_stats, view.run_id)
        sample = plots.customer_sample(*args, max_points=100)
        again = plots.customer_sample(*args, max_points=100)
        full = plots.customer_sample(*args)
    assert sample.raw.shape == (100, 6) and sample.total == 440
    assert np.array_equal(sample.raw, again.raw) and np.array_equal(sample.segment_ids, again.segment_ids)
    assert full.raw.shape == (440, 6)
    # Every sampled row is a real customer with its own segment.
    rows = {tuple(r) for r in np.column_stack([full.segment_ids, full.raw]).tolist()}
    assert all(tuple(r) in rows for r in np.column_stack([sample.segment_ids, sample.raw]).tolist())


def test_report_is_self_contained(ws_db, tmp_path):
    out = tmp_path / "report.html"
    result = run_cli(["report", "ws", "--out", str(out)], ws_db)
    assert result.exit_code == 0 and result.output == f"wrote {out}\n"
    import html
    raw = out.read_text(encoding="utf-8")
    text = html.unescape(raw)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 4
    for data in images:
        png_size(base64.b64decode(data))
    assert not re.search(r'(src|href)="(?!data:)', text)          # nothing fetched from outside
    assert 'JOIN "ws_segments" AS s ON s."customer_id" = c."customer_id";' in text
    assert 'JOIN segdb."ws_labels" AS l ON l.segdb_key = c."customer_id" AND l.run_id = 1;' in text
    with segdb.connect(ws_db, read_only=True) as db:
        q = db.quality("ws").run
        # Both join statements in the report run as printed.
        for sql in re.findall(r"(SELECT c\.\*, .*?;)", text, re.S):
            assert len(db.sql(sql.rstrip(";"))) == 440
    assert q["verdict"] in text and q["k_reason"] in text
    # the borderline customers per segment: counted from the labels, independently of the report
    with segdb.connect(ws_db, read_only=True) as db:
        counts = db.sql("SELECT segment_id, count(*) AS n, count(*) FILTER (WHERE confidence < 0.1) AS b "
                        "FROM segdb.ws_labels WHERE run_id = 1 GROUP BY ALL ORDER BY ALL").to_pylist()
    assert "<h3>Borderline customers</h3>" in raw
    for c in counts:
        assert (f'<tr><td>{c["segment_id"]}</td><td class="num">{c["n"]}</td><td class="num">{c["b"]}</td>'
                f'<td>{100 * c["b"] / c["n"]:.1f}%</td>') in raw


@pytest.mark.parametrize("args, message", [
    (["profile", "nope"], "Error: no segmentation named 'nope'; known: ws\n"),
    (["report", "ws", "--run", "99", "--out", "x.html"],
     "Error: segmentation 'ws' has no run 99; see `segdb runs ws`\n"),
])
def test_errors_are_one_line(ws_db, args, message):
    result = run_cli(args, ws_db)
    assert result.exit_code == 1 and result.output == message


def test_report_into_a_missing_folder(ws_db, tmp_path):
    target = tmp_path / "nowhere" / "r.html"
    result = run_cli(["report", "ws", "--out", str(target)], ws_db)
    assert result.exit_code == 1
    assert result.output == f"Error: cannot write {target}: folder {target.parent} does not exist\n"


def test_show_of_a_run_without_stored_quality(db):
    db.sql("CREATE TABLE t AS SELECT range AS id, (range % 5)::DOUBLE AS x FROM range(30)")
    db.create("t", source="t", key="id", features=["x"], k=2)
    run = db.refresh("t")
    db.sql("DELETE FROM segdb.run_quality WHERE run_id = ?", [run.run_id])  # as a pre-0002 run
    assert db.quality("t") is None
    db.close()
    result = run_cli(["show", "t"], db.path)
    assert "quality: not stored for this run (written before segdb stored quality); refresh to compute it\n" \
        in result.output
