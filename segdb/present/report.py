"""One self-contained HTML report of a run: metadata, k selection, quality and stability with the
verdict, profiles and descriptions, the customers' moves since the previous run, the pictures (PNG,
base64-embedded) and the SQL to join the labels to a customer table. No external file, script or
stylesheet is referenced. A segment named with `segdb name` appears as '2 Price hunters'.
"""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from ..living import ledger, transitions as living
from . import plots
from ..errors import NotFoundError
from .insights import RunView, join_sql, load_run
from ..store.runs import run_label
from .textformat import cell, displayed, segment_label
from ..define.definitions import BORDERLINE_CONFIDENCE
from .outfile import write_whole
from .rules_text import fidelity_sentence, segment_rule_lines

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.verdict { padding: 0.8em 1em; border-left: 6px solid #888; background: #f7f7f7; font-size: 1.05em; }
.verdict.strong { border-color: #2a9d4b; } .verdict.reasonable { border-color: #7cb342; }
.verdict.arbitrary { border-color: #f0a500; } .verdict.weak { border-color: #d64541; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; }
.note { color: #666; font-size: 0.9em; }
"""


def _e(value) -> str:
    return html.escape(cell(value, 3) if not isinstance(value, str) else value)


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for r in rows:
        tds = "".join(f'<td class="num">{_e(v)}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool)
                      else f"<td>{_e(v)}</td>" for v in r)
        body.append(f"<tr>{tds}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _img(path: Path | None, alt: str, missing: str) -> str:
    if path is None:
        return f'<p class="note">{html.escape(missing)}</p>'
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _metadata(view: RunView) -> str:
    d, r = view.definition, view.summary.run
    rows = [
        ("segmentation", d.name), ("run", r["run_id"]), ("definition version", d.version),
        ("refreshed", cell(r["finished_at"])), ("triggered by", r["triggered_by"]),
        ("source", d.source), ("key", d.key), ("features", ", ".join(f.display for f in d.features)),
        ("k", r["k"] if d.k is not None else f"{r['k']} (chosen automatically in {d.k_min}..{d.k_max})"),
        ("scaling / NULLs", f"{d.scale} / {d.nulls}"), ("rows used / skipped", f"{r['rows_used']} / {r['rows_skipped']}"),
        ("inertia", cell(r["inertia"])), ("seed / restarts", f"{r['seed']} / {r['n_init']}"),
    ]
    return _table(["item", "value"], rows)


def _names(view: RunView) -> dict[int, str]:
    """Segment id -> '2 Price hunters' (or '2'), for this run's segments."""
    return {s["segment_id"]: segment_label(s["segment_id"], s.get("name")) for s in view.summary.segments}


def _quality(view: RunView) -> tuple[str, str, str]:
    qr = view.quality
    if qr is None:
        note = '<p class="note">No quality stored for this run (written before segdb stored quality).</p>'
        return note, note, ""
    q = qr.run
    word = q["verdict"].split(":")[0].strip()
    verdict = f'<p class="verdict {html.escape(word)}"><b>Verdict</b>: {html.escape(q["verdict"])}</p>'
    k_html = f"<p><b>k = {q['k']}</b>, rule <code>{html.escape(q['k_rule'])}</code>: {html.escape(q['k_reason'])}.</p>"
    if qr.k_scan:
        k_html += _table(["k", "inertia", "silhouette", "Calinski-Harabasz", "Davies-Bouldin", "seconds",
                          "scan rows", "silhouette rows"],
                         [(s["k"], s["inertia"], s["silhouette"], s["calinski_harabasz"], s["davies_bouldin"],
                           s["seconds"], s["scan_rows"], s["silhouette_sample_size"]) for s in qr.k_scan])
    figures = _table(["measure", "value", "reading"], [
        ("silhouette", q["silhouette"], f"on {q['silhouette_sample_size']} rows; -1..1, above 0.5 well separated"),
        ("Calinski-Harabasz", q["calinski_harabasz"], "between/within dispersion ratio; higher is better"),
        ("Davies-Bouldin", q["davies_bouldin"], "mean worst-case similarity of segments; lower is better"),
        ("stability (mean ARI)", q["stability_ari"],
         f"{q['stability_bootstraps']} bootstrap refits on {q['stability_sample_size']} rows; 1 = identical"),
        ("stability (min ARI)", q["stability_ari_min"], "the least similar refit"),
    ])
    segs = _table(["segment", "size", "share", "RMS radius", "silhouette", "stability (Jaccard)", "description"],
                  [(_names(view).get(s["segment_id"], s["segment_id"]), s["size"], f"{100 * s['share']:.1f}%", s["rms_radius"], s["silhouette"],
                    s["stability"], s["description"]) for s in qr.segments])
    return verdict, k_html, figures + segs


def _borderline(view: RunView) -> str:
    """Per segment: its borderline customers and the segment most of them would otherwise join."""
    rows = view.summary.borderline
    if rows is None:
        return ('<p class="note">No runner-ups stored for this run (one segment, or written before '
                "segdb stored each customer's runner-up).</p>")
    names = _names(view)
    return (f"<h3>Borderline customers</h3><p>Customers whose confidence is below {BORDERLINE_CONFIDENCE}: "
            f"their own centroid is less than {100 * BORDERLINE_CONFIDENCE:.0f}% nearer than the next one "
            "(confidence = 1 - distance / runner-up's distance, columns <code>runner_up_id</code> and "
            "<code>confidence</code> of the segments view).</p>"
            + _table(["segment", "customers", "borderline", "share", "would otherwise join"],
                     [(names.get(b.segment_id, str(b.segment_id)), b.customers, b.borderline,
                       f"{100 * b.share:.1f}%",
                       "" if b.main_runner_up is None else
                       f"{names.get(b.main_runner_up, str(b.main_runner_up))} ({b.runner_ups[b.main_runner_up]})")
                      for b in rows]))


def _profiles(view: RunView) -> str:
    if not view.profiles:
        return '<p class="note">No profiles stored for this run.</p>'
    parts = []
    descr = {s["segment_id"]: s["description"] for s in view.summary.segments}
    names = _names(view)
    shown = displayed(view.profiles, view.summary.feature_stats)  # floating-point noise as 0
    for sid in sorted({p["segment_id"] for p in shown}):
        rows = [p for p in shown if p["segment_id"] == sid]
        parts.append(f"<h3>Segment {html.escape(names.get(sid, str(sid)))}: {html.escape(descr.get(sid) or '')}</h3>")
        parts += [f'<p class="rule">{html.escape(line.strip())}</p>'
                  for line in segment_rule_lines(view.summary.rules, sid)]
        parts.append(_table(["rank", "feature", "segment mean", "difference (sd)", "Cohen's d vs rest"],
                            [(p["rank"], p["label"], p["mean_raw"], p["z_diff"], p["effect_size"]) for p in rows]))
    return "".join(parts)


def _rules_case(view: RunView) -> str:
    """The rules as one CASE expression, to paste into a BI tool (nothing for a run without rules)."""
    rr = view.summary.rules
    case = rr.case_sql() if rr is not None else None
    if case is None:
        return ""
    return (f"<p>Each customer's segment by its readable rule, as one SQL expression over the source's "
            f"columns (NULL when no rule holds; {html.escape(fidelity_sentence(rr))}):</p>"
            f"<pre>{html.escape(case)}</pre>")


def _transitions(con, view: RunView) -> str:
    """Customers per (segment in the previous run, segment in this run), with the new and the gone
    customers and each previous segment's share kept: segdb.transitions, as `segdb transitions`."""
    summary = view.summary.transitions
    if summary is None:
        return '<p class="note">No transitions stored for this run (written before segdb recorded them).</p>'
    if summary.previous_run_id is None:
        return f"<p>This is the first run: {summary.new:,} new customers.</p>"
    rows = living.transitions(con, view.run_id)
    names = {r["segment_id"]: segment_label(r["segment_id"], r["name"])
             for r in ledger.segment_ids(con, view.definition.name)}
    counts = {(r["from_segment_id"], r["to_segment_id"]): int(r["customers"]) for r in rows}
    sources = sorted({f for f, _ in counts if f is not None})
    targets = sorted({t for _, t in counts if t is not None} | set(_names(view)))
    cols = targets + ([None] if any(t is None for _, t in counts) else [])
    table_rows = []
    for f in sources + ([None] if any(f is None for f, _ in counts) else []):
        cells = [counts.get((f, t), 0) for t in cols]
        if f is None:
            kept = ""
        else:
            both = sum(counts.get((f, t), 0) for t in targets)
            kept = f"{100 * counts.get((f, f), 0) / both:.0f}%" if both else ""
        table_rows.append([names.get(f, str(f)) if f is not None else "new customers"] + cells + [kept])
    headers = ([f"run {summary.previous_run_id} \u2192 run {view.run_id}"]
               + [names.get(t, str(t)) if t is not None else "gone" for t in cols]
               + ["kept their segment"])
    return (f"<p>Since run {summary.previous_run_id}: {html.escape(summary.sentence().split(': ', 1)[1])}. "
            f"{summary.moved:,} customers moved to another segment.</p>"
            + _table(headers, table_rows)
            + '<p class="note">Rows: segment in the previous run; columns: segment in this run. '
              "A segment keeps its id across runs when its centroid matches (segdb.segment_matches).</p>")


def write_report(con, name: str, out, run_id: int | None = None) -> Path:
    """Write the HTML report of the current (or given) run of ``name`` to ``out``; returns the path."""
    out = Path(out)
    if out.is_dir():
        raise NotFoundError(f"out={out} is a folder; give a file name such as {out / 'report.html'}")
    if not out.parent.exists():
        raise NotFoundError(f"cannot write {out}: folder {out.parent} does not exist")
    view = load_run(con, name, run_id)
    with tempfile.TemporaryDirectory(prefix="segdb-report-") as tmp:
        pngs, axes = plots.write_plots_with_axes(con, name, tmp, view.run_id)
        images = {
            "elbow": _img(pngs["elbow"], "elbow plot",
                          f"No k scan is stored for this run (k is fixed); `segdb refresh {name} --scan` "
                          "stores one with the next run."),
            "segments": _img(pngs["segments"], f"customers by segment; x axis: {axes[0]}; y axis: {axes[1]}", "")
                        + f'<p class="note">Axes: {html.escape(axes[0])}<br>{html.escape(axes[1])}</p>',
            "profile_heatmap": _img(pngs["profile_heatmap"], "profile heatmap", "No profiles stored."),
            "sizes": _img(pngs["sizes"], "segment sizes", ""),
            "flows": _img(pngs["flows"], "customers moving between segments since the previous run", ""),
            "history": _img(pngs["history"], "segment sizes across runs",
                            '<p class="note">One run so far: sizes across runs need two.</p>'),
        }
    verdict, k_html, quality_html = _quality(view)
    d = view.definition
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>segdb report: {html.escape(name)}, run {view.run_id}</title>
<style>{CSS}</style></head><body>
<h1>Segmentation {html.escape(name)}, {html.escape(run_label(view.run_id, view.summary.run.get('ordinal')))}</h1>
{verdict}
<h2>Run</h2>{_metadata(view)}
<h2>How many segments</h2>{k_html}{images["elbow"]}
<h2>Are they any good</h2>{quality_html}{_borderline(view)}
<h2>What makes each one different</h2>
<p class="note">Difference: segment mean minus population mean, in population standard deviations.
Cohen's d: segment mean minus the mean of all other customers, over the pooled sample standard deviation.
Features are ranked by |d|.</p>
{images["profile_heatmap"]}{_profiles(view)}
<h2>What changed since the previous run</h2>{_transitions(con, view)}{images["flows"]}
<h2>Segment sizes across runs</h2>{images["history"]}
<h2>Pictures</h2>{images["segments"]}{images["sizes"]}
<h2>Use the segments</h2>
<p>Attach each customer's segment to a customer table:</p>
<pre>{html.escape(join_sql(d))}</pre>
<pre>{html.escape(join_sql(d, view.run_id))}</pre>
{_rules_case(view)}
<p class="note">Generated by segdb from the tables segdb.runs, segdb.run_quality, segdb.k_scan,
segdb.segment_quality, segdb.profiles, segdb.segment_rules, segdb.run_rules, segdb.transitions
(all keyed by run_id).</p>
</body></html>
"""
    return write_whole(out, lambda fh: fh.write(body.encode("utf-8")))
