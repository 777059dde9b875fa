"""Pictures of a run (matplotlib, Agg backend, PNG): elbow, customers by segment, profile heatmap,
segment sizes, and (segdb.present.history_plots) customers' moves since the previous run and
segment sizes across runs.

Everything is read back from the database (the run's k scan, profiles, segments, centroids, and a
seeded sample of its labelled customers joined with the source), so any stored run can be drawn.
The customer scatter uses at most ``SCATTER_MAX_POINTS`` customers, chosen by a hash of the key
(the same customers every time), and says so in its title when it samples.
"""

from __future__ import annotations

import contextlib

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from ..errors import NotFoundError  # noqa: E402
from ..define.features import keyed_values_relation  # noqa: E402
from ..refresh.prepare import column_labels  # noqa: E402
from ..define.definitions import definition_for_run
from .outfile import write_whole
from .textformat import segment_title
from .history_plots import write_history_plots

SCATTER_MAX_POINTS = 5_000


def segment_colors(segment_ids) -> dict:
    cmap = plt.get_cmap("tab10" if len(segment_ids) <= 10 else "tab20")
    return {s: cmap(i % cmap.N) for i, s in enumerate(sorted(segment_ids))}


@dataclasses.dataclass
class CustomerSample:
    segment_ids: np.ndarray
    raw: np.ndarray       # (m, d) source units (NULLs replaced by the feature mean)
    total: int            # labelled customers in the run


def customer_sample(con, d, relation: str, stats: list[dict], run_id: int,
                    max_points: int = SCATTER_MAX_POINTS) -> CustomerSample:
    """A deterministic sample of the run's labelled customers with their raw feature values."""
    d = definition_for_run(con, d, run_id)  # one feature per matrix column, as the run fitted
    values = ", ".join(f"coalesce(segdb_values.segdb_f{i}, ?) AS x{i}" for i in range(1, len(d.features) + 1))
    sql = (f"SELECT labels.segment_id, {values}\n"
           f"FROM {d.labels_table} AS labels\n"
           f"JOIN {keyed_values_relation(d, relation)} AS segdb_values\n"
           f"  ON segdb_values.segdb_key = labels.segdb_key\n"
           f"WHERE labels.run_id = ?\nORDER BY hash(labels.segdb_key), labels.segment_id\nLIMIT ?")
    rows = con.execute(sql, [s["mean"] for s in stats] + [run_id, max_points]).fetchall()
    total = con.execute(f"SELECT count(*) FROM {d.labels_table} WHERE run_id = ?", [run_id]).fetchall()[0][0]
    arr = np.array([r[1:] for r in rows], dtype=float).reshape(len(rows), len(d.features))
    return CustomerSample(np.array([r[0] for r in rows], dtype=int), arr, int(total))


def elbow_plot(k_scan: list[dict], chosen_k: int, title: str, path: Path) -> Path:
    ks = [r["k"] for r in k_scan]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(ks, [r["inertia"] for r in k_scan], "o-", color="tab:blue", label="inertia (within-segment SS)")
    ax.set_xlabel("k (number of segments)")
    ax.set_ylabel("inertia, standardised units", color="tab:blue")
    ax.set_xticks(ks)
    ax2 = ax.twinx()
    sil = [(r["k"], r["silhouette"]) for r in k_scan if r["silhouette"] is not None]
    ax2.plot([s[0] for s in sil], [s[1] for s in sil], "s--", color="tab:orange", label="mean silhouette")
    ax2.set_ylabel("mean silhouette (higher is better)", color="tab:orange")
    ax.axvline(chosen_k, color="tab:green", linestyle=":", linewidth=2, label=f"chosen k = {chosen_k}")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    # below the axes, not over the curves (inertia falls from the upper left, the silhouette can sit anywhere)
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=3, frameon=False)
    ax.set_title(title)
    return _save(fig, path)


@dataclasses.dataclass(frozen=True)
class PrincipalAxes:
    """The first two principal components of a standardised matrix Z (rows: customers)."""
    mean: np.ndarray        # (d,) column means of Z, subtracted before projecting
    loadings: np.ndarray    # (2, d) unit vectors; each row's largest-|loading| entry is positive
    explained: np.ndarray   # (2,) share of the total variance along each

    def project(self, Z: np.ndarray) -> np.ndarray:
        return (np.asarray(Z, dtype=float) - self.mean) @ self.loadings.T

    def labels(self, feature_labels: list[str], top: int = 3) -> list[str]:
        """'PC1 (48% of variance): +0.62 Milk, +0.55 Grocery, -0.31 Fresh': the ``top`` loadings
        by magnitude (ties: feature order)."""
        out = []
        for i, (row, share) in enumerate(zip(self.loadings, self.explained), start=1):
            order = sorted(range(len(row)), key=lambda j: (-round(abs(row[j]), 10), j))[:top]
            terms = ", ".join(f"{row[j]:+.2f} {feature_labels[j]}".replace("-0.00", "+0.00") for j in order)
            out.append(f"PC{i} ({100 * share:.0f}% of variance): {terms}")
        return out


def principal_axes(Z: np.ndarray) -> PrincipalAxes:
    """PCA by numpy's SVD of the centred matrix; a component's sign is arbitrary, so it is fixed
    here: its largest-|loading| feature (the first of equals) loads positively."""
    Z = np.asarray(Z, dtype=float)
    mean = Z.mean(axis=0)
    _, sv, vt = np.linalg.svd(Z - mean, full_matrices=False)
    total = np.sum(sv ** 2)
    explained = sv[:2] ** 2 / total if total > 0 else np.zeros(2)
    loadings = vt[:2].copy()
    for row in loadings:
        # rounded, so that equal loadings (the two indicators of a yes/no category) tie exactly
        if row[np.argmax(np.round(np.abs(row), 10))] < 0:
            row *= -1
    return PrincipalAxes(mean, loadings, explained)


def standardised(sample: CustomerSample, stats: list[dict]) -> np.ndarray:
    """The sample's rows scaled as the run scaled them for the fit: (raw - center) / scale."""
    center = np.array([s["center"] for s in stats])
    scale = np.array([s["scale"] for s in stats])
    return (sample.raw - center) / scale


def scatter_axes(sample: CustomerSample, feature_labels: list[str], stats: list[dict]) -> list[str]:
    """The scatter plot's two axis labels (principal components with their loadings from three
    features on; the features themselves, in source units, with two)."""
    if sample.raw.shape[1] <= 2:
        _, jittered = _jitter_discrete(sample.raw)
        labels = [label + (" (jittered: few distinct values)" if j else "")
                  for label, j in zip(feature_labels, jittered)]
        # one feature: a strip per segment, its customers spread vertically within it
        return labels if len(labels) == 2 else [*labels, "segment"]
    return principal_axes(standardised(sample, stats)).labels(feature_labels)


def scatter_plot(sample: CustomerSample, feature_labels: list[str], stats: list[dict],
                 centroids: dict, title: str, path: Path, segment_titles: dict | None = None) -> Path:
    """Customers coloured by segment, centroids as black-edged crosses.

    One feature: the feature (x) against the segment (a strip each). Two features: the features
    themselves, in source units. More: the first two principal
    components of the standardised features (computed on the plotted customers), each axis
    labelled with its three largest loadings (:func:`principal_axes`)."""
    colors = segment_colors(centroids)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    xlabel, ylabel = scatter_axes(sample, feature_labels, stats)
    if sample.raw.shape[1] == 1:
        row = {s: i for i, s in enumerate(sorted(centroids))}
        spread = np.random.default_rng(0).uniform(-0.3, 0.3, len(sample.segment_ids))
        x, _ = _jitter_discrete(sample.raw)
        pts = np.column_stack([x[:, 0], [row.get(int(s), 0) for s in sample.segment_ids] + spread])
        cents = {s: np.array([c["raw"][0], row[s]]) for s, c in centroids.items()}
        ax.set_yticks(range(len(row)))
        ax.set_yticklabels([(segment_titles or {}).get(s, f"segment {s}") for s in sorted(row)])
    elif sample.raw.shape[1] == 2:
        pts, _ = _jitter_discrete(sample.raw)
        cents = {s: np.asarray(c["raw"]) for s, c in centroids.items()}
    else:
        pca = principal_axes(standardised(sample, stats))
        pts = pca.project(standardised(sample, stats))
        cents = {s: pca.project(np.asarray(c["scaled"])) for s, c in centroids.items()}
        import textwrap  # long labels: two lines rather than off the figure
        xlabel, ylabel = textwrap.fill(xlabel, 90), textwrap.fill(ylabel, 60)
    for s in sorted(centroids):
        member = sample.segment_ids == s
        ax.scatter(pts[member, 0], pts[member, 1], s=12, alpha=0.55, color=colors[s],
                   label=(segment_titles or {}).get(s, f"segment {s}"), edgecolors="none")
    for s, c in cents.items():
        ax.scatter([c[0]], [c[1]], marker="X", s=220, color=colors[s], edgecolors="black", linewidths=1.5)
    ax.scatter([], [], marker="X", s=120, color="white", edgecolors="black", label="centroid")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    shown = len(sample.segment_ids)
    note = (f"\n(a sample of {shown:,} of {sample.total:,} customers)" if shown < sample.total
            else f"\n(all {sample.total:,} customers)")
    ax.set_title(title + note)
    ax.legend(loc="best", fontsize=9, markerscale=1.2)
    return _save(fig, path)


DISCRETE_MAX_VALUES = 12


def _jitter_discrete(raw: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """Spread columns with few distinct values (ratings, counts) by a seeded +-30% of their
    smallest step, so piled-up customers stay visible; other columns are left as they are."""
    out, flags = raw.copy(), []
    rng = np.random.default_rng(0)
    for j in range(raw.shape[1]):
        values = np.unique(raw[:, j])
        discrete = 1 < len(values) <= DISCRETE_MAX_VALUES
        if discrete:
            out[:, j] += rng.uniform(-0.3, 0.3, raw.shape[0]) * np.min(np.diff(values))
        flags.append(discrete)
    return out, flags


def heatmap_plot(profiles: list[dict], title: str, path: Path, segment_names: dict) -> Path:
    segs = sorted({r["segment_id"] for r in profiles})
    feats = sorted({(r["feature_no"], r["label"]) for r in profiles})
    Z = np.full((len(segs), len(feats)), np.nan)
    for r in profiles:
        Z[segs.index(r["segment_id"]), r["feature_no"] - 1] = r["z_diff"] if r["z_diff"] is not None else np.nan
    lim = max(1.0, float(np.nanmax(np.abs(Z)))) if np.isfinite(Z).any() else 1.0
    longest = max(len(f[1]) for f in feats)
    fig, ax = plt.subplots(figsize=(max(8.5, 1.1 * len(feats) + 3.5),
                                    max(4.0, 0.6 * len(segs) + 1.6 + 0.07 * min(longest, 40))))
    im = ax.imshow(Z, cmap="RdBu_r", norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim), aspect="auto")
    ax.set_xticks(range(len(feats)))
    ax.set_xticklabels([f[1] for f in feats], rotation=30, ha="right")
    ax.set_yticks(range(len(segs)))
    ax.set_yticklabels([segment_names.get(s, f"segment {s}") for s in segs])
    for i in range(len(segs)):
        for j in range(len(feats)):
            if np.isfinite(Z[i, j]):
                text = f"{Z[i, j]:+.1f}".replace("-0.0", "0.0").replace("+0.0", "0.0")
                ax.text(j, i, text, ha="center", va="center", fontsize=9,
                        color="white" if abs(Z[i, j]) > 0.6 * lim else "black")
    fig.colorbar(im, ax=ax, label="difference from the\npopulation mean (sd)")
    ax.set_xlabel("feature")
    ax.set_ylabel("segment")
    ax.set_title(title)
    return _save(fig, path)


def sizes_plot(segments: list[dict], title: str, path: Path) -> Path:
    colors = segment_colors([s["segment_id"] for s in segments])
    fig, ax = plt.subplots(figsize=(9, max(3, 0.5 * len(segments) + 1.8)))
    ids = [s["segment_id"] for s in segments]
    titles = [segment_title(s) for s in segments]
    bars = ax.barh(titles, [s["size"] for s in segments], color=[colors[i] for i in ids])
    for bar, t in zip(bars, titles):
        bar.set_label(t)
    for y, s in enumerate(segments):
        ax.text(s["size"], y, f" {s['size']:,} ({100 * s['share']:.1f}%)", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("customers in the segment")
    ax.set_ylabel("segment")
    ax.set_xlim(0, max(s["size"] for s in segments) * 1.25)
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))  # 1,000,000, no "1e6" offset
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # room for the longer labels
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, borderaxespad=0)
    ax.set_title(title)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    try:
        return write_whole(path, lambda fh: fig.savefig(fh, dpi=110, format="png"))
    finally:
        plt.close(fig)


def write_plots(con, name: str, out_dir, run_id: int | None = None) -> dict[str, Path | None]:
    """Write the run's PNGs into ``out_dir``; returns {plot name: path, or None when it cannot be
    drawn (the elbow needs a stored k scan: k="auto" or `refresh --scan`)}."""
    return write_plots_with_axes(con, name, out_dir, run_id)[0]


def write_plots_with_axes(con, name: str, out_dir, run_id: int | None = None):
    """:func:`write_plots`, and the customer scatter's two axis labels (for the report's caption)."""
    from .insights import load_run  # late: insights imports this module
    run = load_run(con, name, run_id)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotFoundError(f"out_dir={out} is a file, not a folder; give a folder for the PNGs")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write_all(con, name, run, out)
    except BaseException:
        if created:  # a failed command leaves no new (empty) folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _write_all(con, name: str, run, out: Path):
    rid, k = run.run_id, run.k
    stem = f"{name}_run{rid}"
    paths: dict[str, Path | None] = {}
    if run.quality and run.quality.k_scan:
        paths["elbow"] = elbow_plot(run.quality.k_scan, k, f"{name}, run {rid}: inertia and silhouette by k",
                                    out / f"{stem}_elbow.png")
    else:
        paths["elbow"] = None
    sample = customer_sample(con, run.definition, run.relation, run.summary.feature_stats, rid)
    centroids = {}
    for c in run.summary.centroids:
        entry = centroids.setdefault(c["segment_id"], {"raw": [], "scaled": []})
        entry["raw"].append(c["value_raw"])
        entry["scaled"].append(c["value_scaled"])
    labels = column_labels(run.definition, [s["feature"] for s in run.summary.feature_stats])
    axes = scatter_axes(sample, labels, run.summary.feature_stats)
    paths["segments"] = scatter_plot(sample, labels, run.summary.feature_stats, centroids,
                                     f"{name}, run {rid}: customers by segment (k = {k})",
                                     out / f"{stem}_segments.png",
                                     {s["segment_id"]: segment_title(s) for s in run.summary.segments})
    if run.profiles:
        names = {s["segment_id"]: f"{segment_title(s)} ({100 * s['share']:.0f}%)"
                 for s in run.summary.segments}
        paths["profile_heatmap"] = heatmap_plot(
            run.profiles, f"{name}, run {rid}: how each segment differs from the population",
            out / f"{stem}_profile_heatmap.png", names)
    else:
        paths["profile_heatmap"] = None
    paths["sizes"] = sizes_plot(run.summary.segments, f"{name}, run {rid}: segment sizes",
                                out / f"{stem}_sizes.png")
    paths.update(write_history_plots(
        con, name, rid, segment_colors([s["segment_id"] for s in run.summary.segments]), out, stem, _save))
    return paths, axes
