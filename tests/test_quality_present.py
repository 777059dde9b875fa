"""What a person reads: no floating-point noise in show / profile / report, categories described
by their level shares, segment names and transitions in the report, PCA loadings on the scatter's
axes, the elbow legend off the data, and no 1e6 offset on the sizes axis."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest

import segdb
from conftest import run_cli
from segdb.present import plots
from segdb.quality.describe import LevelShare, category_term, describe_profile
from segdb.quality.describe import NOISE, magnitudes, percent, shown

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest

NOISY = re.compile(r"\d[eE][-+]?\d")  # 1.11e-16, -3.33e-16, 2e-17


def make_people(db, moved: bool = False):
    """100 customers. Ids 0..49 spend 10..14 and visit 1..2 times, ids 50..99 spend 100..104 and
    visit 8..9 times, so k=2 splits at id 50. Gender: ids 0..35 and 50..57 are Female, so the low
    segment is 36/50 = 72% Female and the high one 42/50 = 84% Male; overall 44% Female, 56% Male.

    ``moved``: the second run's data: ids 0..4 become high spenders, ids 95..99 leave, and three
    new low spenders 200..202 arrive."""
    db.sql("""CREATE OR REPLACE TABLE people AS SELECT i AS id,
       CASE WHEN i < 50 THEN 10 + i % 5 ELSE 100 + i % 5 END AS spend,
       CASE WHEN i < 50 THEN 1 + i % 2 ELSE 8 + i % 2 END AS visits,
       CASE WHEN i < 36 OR i BETWEEN 50 AND 57 THEN 'Female' ELSE 'Male' END AS gender
       FROM range(100) r(i)""")
    if moved:
        db.sql("UPDATE people SET spend = 101, visits = 9 WHERE id < 5")
        db.sql("DELETE FROM people WHERE id >= 95")
        db.sql("INSERT INTO people VALUES (200, 11, 1, 'Male'), (201, 12, 2, 'Female'), (202, 13, 1, 'Male')")


@pytest.fixture(scope="module")
def people_db(tmp_path_factory):
    """Two runs of `people`: run 1 on the data above, run 2 after the moves; segment 2 named."""
    path = str(tmp_path_factory.mktemp("people") / "people.duckdb")
    with segdb.connect(path) as db:
        make_people(db)
        db.create("people", source="people", key="id",
                  features=["spend", "visits", {"name": "gender", "kind": "category", "label": "Gender"}], k=2)
        db.refresh("people")
        db.name_segment("people", 2, "Big spenders")
        make_people(db, moved=True)
        db.refresh("people")
    return path


# --- descriptions ---------------------------------------------------------------------------------

def test_category_described_once_by_its_level_shares(people_db):
    with segdb.connect(people_db, read_only=True) as db:
        first = {s["segment_id"]: s["description"] for s in db.show("people", 1).segments}
        sizes = {s["segment_id"]: s["size"] for s in db.show("people", 1).segments}
    assert sizes == {1: 50, 2: 50}
    # spend: means 12 / 102 around 57, population sd sqrt(45^2 + 2) = 45.02, so -/+1.0 sd;
    # visits: means 1.5 / 8.5 around 5, sd sqrt(3.5^2 + 0.25) = 3.54, so -/+1.0 sd
    assert first == {1: "low spend (-1.0 sd); low visits (-1.0 sd); Gender: 72% Female vs 44% overall",
                     2: "high spend (+1.0 sd); high visits (+1.0 sd); Gender: 84% Male vs 56% overall"}


def test_category_term_picks_the_most_over_represented_level():
    # overall A 60%, B 10%, C 30%; in the segment A 70% (+10 points, 0.10 / sqrt(.6 * .4) = 0.20 sd),
    # B 20% (+10 points, 0.10 / sqrt(.1 * .9) = 0.33 sd), C 10% (-20 points): B stands out most
    levels = [LevelShare("A", 0.7, 0.6), LevelShare("B", 0.2, 0.1), LevelShare("C", 0.1, 0.3)]
    assert levels[1].departure == pytest.approx(0.1 / 0.3)
    assert category_term("Region", levels) == "Region: 20% B vs 10% overall"
    # nothing departs 0.25 sd: 52% vs 50% is 0.04 sd
    assert category_term("Region", [LevelShare("x", 0.52, 0.5), LevelShare("y", 0.48, 0.5)]) is None
    rows = [{"feature": "spend", "label": "spend", "z_diff": 1.2},
            {"feature": "g=F", "label": "Gender=F", "z_diff": -0.9},
            {"feature": "g=M", "label": "Gender=M", "z_diff": 0.9},
            {"feature": "age", "label": "age", "z_diff": -0.3}]
    shares = [LevelShare("F", 0.0, 0.45), LevelShare("M", 1.0, 0.55)]
    categories = {"g=F": ("g", "Gender", shares), "g=M": ("g", "Gender", shares)}
    assert describe_profile(rows, categories=categories) == \
        "high spend (+1.2 sd); Gender: 100% M vs 55% overall; low age (-0.3 sd)"
    # numeric features keep their wording
    assert describe_profile(rows[:1] + rows[3:]) == "high spend (+1.2 sd); low age (-0.3 sd)"


# --- floating-point noise -------------------------------------------------------------------------

def test_shown_clamps_noise_relative_to_magnitude():
    assert shown(-1.67e-16) == 0.0 and shown(3.3e-16, 1.0) == 0.0
    assert shown(1e-7, 1e-6) == 1e-7            # a small feature keeps its digits
    assert shown(5e-8, 100.0) == 0.0 and shown(2e-7, 100.0) == 2e-7   # NOISE * 100 = 1e-7
    assert NOISE == 1e-9
    assert shown(None) is None and shown(7) == 7 and np.isnan(shown(float("nan")))
    m = magnitudes({"mean": 0.44, "stddev": 0.5, "scale": 0.25})
    assert m == pytest.approx({"raw": 0.94, "scaled": 0.94 / 0.25, "sd": 0.94 / 0.5})
    assert [percent(x) for x in (0.72, 0.4167, -1e-16, 1 - 1e-16, 0.004, 0.9996)] == \
        ["72%", "42%", "0%", "100%", "0.4%", "99.96%"]


def test_no_noise_in_show_profile_report(tmp_path):
    """A segment with no Female customer (its share is 0 in exact arithmetic; the database computes
    it as -3.3e-16 or so) and `visits`, equal in both segments (difference exactly 0)."""
    path = str(tmp_path / "noise.duckdb")
    with segdb.connect(path) as db:
        db.sql("""CREATE TABLE people AS SELECT i AS id,
               CASE WHEN i < 50 THEN 10 + i % 5 ELSE 100 + i % 5 END AS spend, 1 + i % 4 AS visits,
               CASE WHEN (i < 50 AND i < 36) OR (i >= 50 AND i < 58) THEN 'Female' ELSE 'Male' END AS gender
               FROM range(100) r(i)""")
        db.create("n", source="people", key="id",
                  features=["spend", "visits", {"name": "gender", "kind": "category", "label": "Gender"}], k=2)
        db.refresh("n")
        summary = db.show("n")
        profiles = db.profiles("n")
        db.report("n", tmp_path / "n.html")
    # the exact values are 0 (a share of 0, a difference of 0); stored, they may carry noise
    raw = [c["value_raw"] for c in summary.centroids] + [c["value_scaled"] for c in summary.centroids]
    raw += [p["mean_raw"] for p in profiles] + [p["z_diff"] for p in profiles]
    assert any(abs(v) < 1e-12 for v in raw)
    for out in (run_cli(["show", "n"], path).output, run_cli(["profile", "n"], path).output,
                run_cli(["profile", "n", "--format", "csv"], path).output,
                re.sub(r'src="data:image/png;base64,[^"]*"', "", (tmp_path / "n.html").read_text())):
        assert not NOISY.search(out), NOISY.search(out).group(0)
        assert "-0.000" not in out
    show = run_cli(["show", "n"], path).output
    centroids = show.split("centroids in source units")[1].split("centroids in scaled units")[0]
    assert " 0.000" in centroids, centroids


# --- names and transitions in profile and report --------------------------------------------------

def test_profile_shows_segment_names(people_db):
    out = run_cli(["profile", "people", "--top", "1"], people_db).output
    with segdb.connect(people_db, read_only=True) as db:
        summary = db.show("people")
        s2 = [s for s in summary.segments if s["segment_id"] == 2][0]
        b2 = [b for b in summary.borderline if b.segment_id == 2][0]
    note = f"{100 * b2.share:.1f}% borderline" + (
        f", mostly next to {b2.main_runner_up}" if b2.borderline else "")  # segment 1 has no name
    assert (f"segment 2 Big spenders ({s2['size']} customers, {100 * s2['share']:.1f}%; {note}): "
            f"{s2['description']}\n") in out
    assert "\nsegment 1 (" in out


@pytest.fixture(scope="module")
def people_report(people_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "people.html"
    assert run_cli(["report", "people", "--out", str(out)], people_db).exit_code == 0
    return out.read_text(encoding="utf-8")


def test_report_names_segments(people_report):
    assert "<td>2 Big spenders</td>" in people_report            # quality table
    assert "<h3>Segment 2 Big spenders: high spend" in people_report
    assert "<h3>Segment 1: low spend" in people_report


def test_report_shows_transitions(people_db, people_report):
    # run 2: ids 5..49 stay in 1 (45), ids 0..4 move 1 -> 2 (5), ids 50..94 stay in 2 (45),
    # ids 95..99 are gone from 2 (5), ids 200..202 are new in 1 (3); kept 90 of 95 = 95%
    with segdb.connect(people_db, read_only=True) as db:
        rows = {(r["from_segment_id"], r["to_segment_id"]): r["customers"] for r in db.transitions("people")}
    assert rows == {(1, 1): 45, (1, 2): 5, (2, 2): 45, (2, None): 5, (None, 1): 3}
    text = html.unescape(people_report)
    assert "<h2>What changed since the previous run</h2>" in text
    assert "Since run 1: 95% kept their segment; 3 new customers, 5 gone. 5 customers moved" in text
    assert ("<tr><th>run 1 → run 2</th><th>1</th><th>2 Big spenders</th><th>gone</th>"
            "<th>kept their segment</th></tr>") in text
    assert '<tr><td>1</td><td class="num">45</td><td class="num">5</td><td class="num">0</td><td>90%</td></tr>' in text
    assert ('<tr><td>2 Big spenders</td><td class="num">0</td><td class="num">45</td><td class="num">5</td>'
            "<td>100%</td></tr>") in text
    assert ('<tr><td>new customers</td><td class="num">3</td><td class="num">0</td><td class="num">0</td>'
            "<td></td></tr>") in text


def test_first_run_report_says_so(people_db, tmp_path):
    out = tmp_path / "r1.html"
    assert run_cli(["report", "people", "--run", "1", "--out", str(out)], people_db).exit_code == 0
    assert "<p>This is the first run: 100 new customers.</p>" in out.read_text()


# --- PCA axes -------------------------------------------------------------------------------------

def reference_axes(Z: np.ndarray, labels: list[str]) -> list[str]:
    """numpy's SVD of the centred matrix, each component signed so that its largest |loading|
    (the first of equals: Female and Male load exactly opposite) is positive."""
    _, sv, vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
    out = []
    for i in range(2):
        v = vt[i] * (1 if vt[i][np.argmax(np.round(np.abs(vt[i]), 10))] > 0 else -1)
        top = sorted(range(len(v)), key=lambda j: (-round(abs(v[j]), 10), j))[:3]
        out.append(f"PC{i + 1} ({100 * sv[i] ** 2 / np.sum(sv ** 2):.0f}% of variance): "
                   + ", ".join(f"{v[j]:+.2f} {labels[j]}" for j in top))
    return out


def test_pca_axis_labels_carry_numpy_loadings(people_db, people_report):
    from segdb.present.insights import load_run
    with segdb.connect(people_db, read_only=True) as db:
        view = load_run(db.con, "people")
        stats = view.summary.feature_stats
        sample = plots.customer_sample(db.con, view.definition, view.relation, stats, view.run_id)
    assert [s["feature"] for s in stats] == ["spend", "visits", "gender=Female", "gender=Male"]
    Z = (sample.raw - [s["center"] for s in stats]) / [s["scale"] for s in stats]
    labels = ["spend", "visits", "Gender=Female", "Gender=Male"]
    expected = reference_axes(Z, labels)
    assert plots.scatter_axes(sample, labels, stats) == expected
    assert expected[0].startswith("PC1 (") and "+0.6" in expected[0]   # spend and visits load together
    text = html.unescape(people_report)
    assert f'<p class="note">Axes: {expected[0]}<br>{expected[1]}</p>' in text
    # the plot projects on the same axes: the projection of Z equals U * S up to the fixed signs
    pca = plots.principal_axes(Z)
    u, sv, vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
    signs = np.sign(np.sum(pca.loadings * vt[:2], axis=1))
    assert np.allclose(np.abs(signs), 1)
    assert np.allclose(pca.project(Z), u[:, :2] * sv[:2] * signs, atol=1e-9)
    assert np.allclose(pca.loadings, vt[:2] * signs[:, None])


def test_pca_sign_is_deterministic():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(200, 4)) @ np.diag([3.0, 1.0, 0.5, 0.2])
    for M in (Z, -Z):   # flipping the data flips SVD's vectors; the fixed sign does not move
        pca = plots.principal_axes(M)
        for row in pca.loadings:
            assert row[np.argmax(np.abs(row))] > 0
    assert np.allclose(plots.principal_axes(Z).loadings, plots.principal_axes(-Z).loadings)


# --- plot layout ----------------------------------------------------------------------------------

def capture_figures(monkeypatch) -> dict:
    figures = {}
    real_save = plots._save

    def save(fig, path):
        fig.canvas.draw()
        figures[Path(path).name] = {
            "axes": [(ax.get_window_extent(), ax.get_legend().get_window_extent() if ax.get_legend() else None,
                      [t.get_text() for t in ax.get_xticklabels()], ax.xaxis.get_offset_text().get_text())
                     for ax in fig.axes]}
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", save)
    return figures


def test_sizes_axis_has_thousands_separators_and_no_offset(tmp_path, monkeypatch):
    figures = capture_figures(monkeypatch)
    segments = [{"segment_id": 1, "name": "Price hunters", "size": 1_400_000, "share": 0.7},
                {"segment_id": 2, "name": None, "size": 600_000, "share": 0.3}]
    plots.sizes_plot(segments, "sizes", tmp_path / "sizes.png")
    _, _, ticks, offset = figures["sizes.png"]["axes"][0]
    assert offset == ""
    assert "1,200,000" in ticks and all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in ticks), ticks


def test_elbow_legend_is_outside_the_axes(tmp_path, monkeypatch):
    figures = capture_figures(monkeypatch)
    scan = [{"k": k, "inertia": 1000.0 / k, "silhouette": None if k == 1 else 0.3 + 0.05 * k} for k in range(1, 7)]
    plots.elbow_plot(scan, 3, "elbow", tmp_path / "elbow.png")
    axes_box, legend_box, _, _ = figures["elbow.png"]["axes"][0]
    assert legend_box is not None and legend_box.y1 <= axes_box.y0   # below the plotting area
