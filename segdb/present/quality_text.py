"""Plain-text lines about a run's quality, for `segdb show` (the CLI only prints them)."""

from __future__ import annotations

from .textformat import cell, table


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
