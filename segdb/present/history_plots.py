"""Pictures of a segmentation's history (matplotlib, PNG): how customers moved between the
previous run's segments and this run's (an alluvial plot), and each segment's size across runs.

Both are read back from segdb's tables: the run's ``segdb.transitions`` (customers per pair of
segments, new and gone customers included) and the ``segdb.segments`` rows of every run that
became current and was not pruned. A segment is shown by its id and, once named, its name, in the
same colour in every picture of segdb.present.plots.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..living import ledger, transitions as living  # noqa: E402
from ..store.runs import run_ordinal  # noqa: E402
from ..store.sqlfiles import load_sql  # noqa: E402
from ..store.database import dict_rows  # noqa: E402
from .textformat import segment_title  # noqa: E402

NEW, GONE = "new customers", "gone"
GREY = "#b0b0b0"
GAP = 0.02  # between stacked blocks, as a share of the column's height


def names_and_colors(con, name: str, colors: dict) -> tuple[dict[int, str], dict]:
    """For every id ``name`` ever used (retired ones appear in older runs): its title ('segment 2',
    or once named 'segment 2: Price hunters'), and its colour: this run's segments keep theirs of
    the other pictures (``colors``), the others get further colours."""
    ids = ledger.segment_ids(con, name)
    others = sorted(r["segment_id"] for r in ids if r["segment_id"] not in colors)
    cmap = plt.get_cmap("tab20b")
    return ({r["segment_id"]: segment_title(r) for r in ids},
            {**colors, **{sid: cmap(i % cmap.N) for i, sid in enumerate(others)}})


def flows(con, run_id: int) -> tuple[int | None, dict[tuple[int | None, int | None], int]]:
    """(previous run id, {(segment before or None = new, segment now or None = gone): customers})."""
    rows = living.transitions(con, run_id)
    previous = next((r["previous_run_id"] for r in rows), None)
    return previous, {(r["from_segment_id"], r["to_segment_id"]): int(r["customers"]) for r in rows}


def _blocks(totals: dict, order: list, scale: float) -> dict:
    """Each key's (bottom, top) in a column stacked top-down from 1, keys in ``order``, ``scale``
    height per customer (the same in both columns, so a band is as thick at both ends)."""
    out, top = {}, 1.0
    for key in order:
        h = scale * totals[key]
        out[key] = (top - h, top)
        top -= h + GAP
    return out


def flows_plot(counts: dict, names: dict, colors: dict, title: str, path: Path, save) -> Path:
    """The alluvial plot: left the previous run's segments (and new customers), right this run's
    (and the gone ones); a band per pair, as thick as its customers, coloured by its target."""
    left_keys = sorted({f for f, _ in counts if f is not None}) + ([NEW] if any(f is None for f, _ in counts) else [])
    right_keys = sorted({t for _, t in counts if t is not None}) + ([GONE] if any(t is None for _, t in counts) else [])
    as_left = {(NEW if f is None else f, GONE if t is None else t): n for (f, t), n in counts.items() if n > 0}
    left_tot = {k: sum(n for (f, _), n in as_left.items() if f == k) for k in left_keys}
    right_tot = {k: sum(n for (_, t), n in as_left.items() if t == k) for k in right_keys}
    grand = sum(left_tot.values()) or 1  # = sum(right_tot.values()): every customer of either run once
    scale = (1 - GAP * (max(len(left_keys), len(right_keys)) - 1)) / grand
    left, right = _blocks(left_tot, left_keys, scale), _blocks(right_tot, right_keys, scale)
    color = {**{k: colors.get(k, GREY) for k in set(left_keys) | set(right_keys)}, NEW: GREY, GONE: GREY}
    fig, ax = plt.subplots(figsize=(10, max(4.5, 0.55 * max(len(left_keys), len(right_keys)) + 2)))
    width, x0, x1 = 0.06, 0.0, 1.0
    # bands: leave each left block top-down in the right column's order, enter each right block
    # top-down in the left column's order, so that bands do not cross inside a block
    left_cursor = {k: left[k][1] for k in left_keys}
    right_cursor = {k: right[k][1] for k in right_keys}
    t = np.linspace(0, 1, 60)
    s = t * t * (3 - 2 * t)  # smoothstep: a band's centre line
    for lk in left_keys:
        for rk in right_keys:
            n = as_left.get((lk, rk), 0)
            if not n:
                continue
            h = n * scale
            ltop, rtop = left_cursor[lk], right_cursor[rk]
            left_cursor[lk] -= h
            right_cursor[rk] -= h
            top = ltop + (rtop - ltop) * s
            xs = x0 + width + (x1 - x0 - 2 * width) * t
            ax.fill_between(xs, top - h, top, color=color[rk if rk != GONE else lk], alpha=0.45, lw=0)
    for keys, blocks, x, totals, side in ((left_keys, left, x0, left_tot, "right"),
                                          (right_keys, right, x1 - width, right_tot, "left")):
        for k in keys:
            bottom, top = blocks[k]
            ax.add_patch(plt.Rectangle((x, bottom), width, top - bottom, color=color[k], lw=0))
            label = names.get(k, str(k)) if k not in (NEW, GONE) else k
            text = f"{label}\n{totals[k]:,}"
            if side == "right":
                ax.text(x - 0.01, (bottom + top) / 2, text, ha="right", va="center", fontsize=9)
            else:
                ax.text(x + width + 0.01, (bottom + top) / 2, text, ha="left", va="center", fontsize=9)
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(-0.02, 1.02)
    ax.axis("off")
    ax.set_title(title)
    return save(fig, path)


def sizes_history(con, name: str) -> list[dict]:
    return dict_rows(con, load_sql("segment_sizes_history"), [name, name])


def sizes_history_plot(rows: list[dict], names: dict, colors: dict, ordinals: dict, title: str,
                       path: Path, save) -> Path:
    """Each segment's customers in every kept run (x: the run, as `segdb runs` numbers it)."""
    runs = sorted({r["run_id"] for r in rows})
    fig, ax = plt.subplots(figsize=(10, 4.8))
    for sid in sorted({r["segment_id"] for r in rows}):
        points = [(runs.index(r["run_id"]), r["size"]) for r in rows if r["segment_id"] == sid]
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", color=colors.get(sid, GREY), label=names.get(sid, f"segment {sid}"))
    # a new definition version (e.g. another k) starts where its first run is: a dotted line
    versions = {r["run_id"]: (r["definition_version"], r["k"]) for r in rows}
    for i, (before, after) in enumerate(zip(runs, runs[1:]), start=1):
        if versions[after][0] != versions[before][0]:
            ax.axvline(i - 0.5, color="grey", ls=":", lw=1)
            ax.text(i - 0.45, 0.98, f"definition v{versions[after][0]}, k={versions[after][1]}",
                    transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="dimgrey")
    ax.set_xticks(range(len(runs)))
    # run ids are shared by every segmentation: also say which of this segmentation's runs it is
    ax.set_xticklabels([f"run {r}" + (f"\n(its #{ordinals[r]})" if ordinals.get(r) not in (None, r) else "")
                        for r in runs], rotation=0 if len(runs) <= 8 else 45)
    ax.set_xlabel("run (oldest left; pruned runs are not shown)")
    ax.set_ylabel("customers in the segment")
    from matplotlib.ticker import StrMethodFormatter
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, borderaxespad=0)
    ax.set_title(title)
    return save(fig, path)


def write_history_plots(con, name: str, run_id: int, colors: dict, out: Path, stem: str, save) -> dict:
    """{"flows": path or None (a first run has no previous run), "history": path or None (one run
    so far)}; ``colors``: this run's segments' colours in the other pictures."""
    names, colors = names_and_colors(con, name, colors)
    paths: dict = {}
    previous, counts = flows(con, run_id)
    if previous is None or not counts:
        paths["flows"] = None
    else:
        paths["flows"] = flows_plot(
            counts, names, colors,
            f"{name}: customers from run {previous} (left) to run {run_id} (right)",
            out / f"{stem}_flows.png", save)
    rows = sizes_history(con, name)
    if len({r["run_id"] for r in rows}) < 2:
        paths["history"] = None
    else:
        ordinals = {r: run_ordinal(con, r) for r in {r["run_id"] for r in rows}}
        paths["history"] = sizes_history_plot(rows, names, colors, ordinals,
                                              f"{name}: segment sizes across runs", out / f"{stem}_history.png", save)
    return paths
