"""Where a refresh's k-means starts: k-means++ restarts (cold), or the current run's centroids (warm).

A warm start maps each stored centroid back to source units with the current run's scaling and
into the new run's scaling, ``(c * old_scale + old_center - new_center) / new_scale``, and runs
Lloyd's iterations from there once (no restarts). When little of the data changed, the centroids are
already near a fixed point: a few iterations instead of ``n_init`` initialisations, and segments
that stay where they were instead of a new local optimum (BigQuery ML's ``warm_start`` does the
same for its k-means).

The start is cold, with the reason recorded in the run row, whenever the previous centroids
would not mean the same thing in the new run: no current run (or it was pruned), k chosen by a scan
(``k="auto"``) or different from the current run's, the features (or a category's levels) or
their scaling changed, or a different null policy.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..define.definitions import WARM_START_OPTION, Definition
from ..define.features import feature_sql
from ..engines.base import Engine
from ..errors import NotFoundError
from ..living import runmodel
from ..store import commits
from .stats import SourceStats


@dataclasses.dataclass(frozen=True)
class Start:
    kind: str                     # "cold" | "warm": stored in segdb.runs.fit_start
    note: str | None = None       # segdb.runs.fit_start_note: the run warmed from, or why not warm
    centers: np.ndarray | None = None   # (k, d) in the new run's scaled units, rows in segment-id order


COLD = Start("cold")


def requested(d: Definition, warm_start: bool | None) -> bool:
    """The refresh's own choice (``--warm-start`` / ``--cold-start``), else the definition's option."""
    return bool(d.options.get(WARM_START_OPTION)) if warm_start is None else bool(warm_start)


def plan(con: Engine, d: Definition, st: SourceStats, *, k: int, asked: bool,
         k_scanned: bool) -> Start:
    """The start of a refresh of expanded definition ``d`` with scaling ``st`` and ``k`` segments."""
    if not asked:
        return COLD
    current = commits.current_run_id(con, d.name)
    if current is None:
        return _cold("there is no current run to start from")
    try:
        model = runmodel.load(con, d.name, int(current))
    except NotFoundError:
        return _cold(f"the current run {current} was pruned")
    why = _incompatible(model, d, k, k_scanned)
    if why is not None:
        return _cold(why)
    old = np.asarray(model.centroids, dtype=np.float64)
    raw = old * np.asarray(model.scales) + np.asarray(model.centers)
    new_center = np.array([s.center for s in st.features], dtype=np.float64)
    new_scale = np.array([s.scale for s in st.features], dtype=np.float64)
    return Start("warm", f"from run {current}", (raw - new_center) / new_scale)


def _cold(reason: str) -> Start:
    return Start("cold", f"a warm start was asked for, but {reason}")


def _incompatible(model: runmodel.RunModel, d: Definition, k: int, k_scanned: bool) -> str | None:
    if k_scanned:
        return "k was chosen by a scan (k=auto)"
    if len(model.segment_ids) != k:
        return f"k changed from {len(model.segment_ids)} to {k}"
    old_d = model.definition
    if old_d.scale != d.scale:
        return f"the scaling changed from {old_d.scale} to {d.scale}"
    if old_d.nulls != d.nulls:
        return f"the null policy changed from {old_d.nulls} to {d.nulls}"
    old_columns = [(f.name, feature_sql(f), f.weight) for f in old_d.features]
    new_columns = [(f.name, feature_sql(f), f.weight) for f in d.features]
    if old_columns != new_columns:
        return "the features changed (or a category's levels)"
    return None
