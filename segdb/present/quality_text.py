"""Plain-text lines about a run's quality, for `segdb show` (the CLI only prints them)."""

from __future__ import annotations

from ..define.definitions import BORDERLINE_CONFIDENCE
from .textformat import cell, segment_label, table


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_lines(summary) -> list[str]:
    """How k was chosen, silhouette / CH / DB / stability, the verdict, and per-segment quality."""
    qr = summary.quality
    if qr is None:
        return ["", "quality: not stored for this run (written before segdb stored quality); "
                    "refresh to compute it"]
    r = qr.run
    rows_used = summary.run["rows_used"]
    sil_rows = r["silhouette_sample_size"]
    sil_where = (f"all {sil_rows} rows" if sil_rows == rows_used else f"a seeded sample of {sil_rows} rows")
    lines = [
        "",
        # a fixed k without a scan has nothing more to say than its reason
        r["k_reason"] if r["k_rule"] == "fixed" and r["k_reason"].startswith(f"k={r['k']} ")
        else f"k={r['k']} ({r['k_rule']}): {r['k_reason']}",
        f"silhouette {_num(r['silhouette'])} (on {sil_where}); Calinski-Harabasz "
        f"{_num(r['calinski_harabasz'], 1)}; Davies-Bouldin {_num(r['davies_bouldin'])} (lower is better)",
        f"stability {_num(r['stability_ari'])} mean adjusted Rand index (min {_num(r['stability_ari_min'])}) "
        f"over {r['stability_bootstraps']} bootstrap refits on {r['stability_sample_size']} rows",
        f"verdict: {r['verdict']}",
        "",
        table(["segment", "size", "share", "rms_radius", "silhouette", "stability"],
              [(s["segment_id"], s["size"], f"{100 * s['share']:.1f}%", s["rms_radius"], s["silhouette"],
                s["stability"]) for s in qr.segments], digits=3),
    ]
    if qr.k_scan:
        lines += ["", "k scan (on " + cell(qr.k_scan[0]["scan_rows"]) + " rows)",
                  table(["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "seconds"],
                        [(s["k"], s["inertia"], s["silhouette"], s["calinski_harabasz"],
                          s["davies_bouldin"], s["seconds"]) for s in qr.k_scan], digits=3)]
    return lines


def runner_up_label(summary, segment_id) -> str:
    """'2' or '2 Price hunters': a segment of the summary's run, named when named."""
    names = {s["segment_id"]: s.get("name") for s in summary.segments}
    return segment_label(segment_id, names.get(segment_id))


def borderline_note(summary, b) -> str:
    """'3.8% borderline, mostly next to 2 Price hunters' for one segment's Borderline."""
    if not b.borderline:
        return "0.0% borderline"
    return (f"{100 * b.share:.1f}% borderline, mostly next to "
            f"{runner_up_label(summary, b.main_runner_up)}")


def borderline_lines(summary) -> list[str]:
    """Per segment: its borderline customers (confidence below the threshold) and the segment most
    of them would otherwise join (segdb.quality.borderline), for `segdb show`."""
    if summary.borderline is None:
        return ["", "borderline customers: no runner-up stored for this run (one segment, or written "
                    "before segdb stored each customer's runner-up); refresh to compute them"]
    return ["", f"borderline customers: confidence < {BORDERLINE_CONFIDENCE} (their own centroid less "
                f"than {100 * BORDERLINE_CONFIDENCE:.0f}% nearer than the runner-up's)",
            table(["segment", "customers", "borderline", "share", "would otherwise join"],
                  [(b.segment_id, b.customers, b.borderline,
                    f"{100 * b.share:.1f}%",
                    "" if b.main_runner_up is None else
                    f"{runner_up_label(summary, b.main_runner_up)} ({b.runner_ups[b.main_runner_up]})")
                   for b in summary.borderline])]
