"""Read segdb's results back: segmentations, runs, segments, centroids, statistics."""

from __future__ import annotations

import dataclasses
import json


from ..define import definitions
from ..store.database import dict_rows as _rows
from ..errors import NotFoundError
from ..store.sqlfiles import load_sql
from ..engines.base import Engine


@dataclasses.dataclass
class RunSummary:
    """What `segdb show` prints: the run row, its segments, centroids and feature statistics."""
    definition: definitions.Definition
    run: dict                    # the segdb.runs row, and ``ordinal``: its number within the segmentation
    segments: list[dict]
    centroids: list[dict]        # long form: segment_id, feature_no, feature, value_raw, value_scaled, z
    feature_stats: list[dict]
    transitions: object = None   # segdb.living.TransitionSummary: kept / new / gone since the previous run
    quality: object = None       # segdb.quality.store.QualityRecord, or None for a run without one
    borderline: list | None = None  # segdb.quality.borderline per segment; None: no places stored
    rules: object = None         # segdb.present.rules_text.RunRules: the segments' readable rules

    def centroid_matrix(self, column: str) -> dict[int, list[float]]:
        out: dict[int, list[float]] = {}
        for row in self.centroids:
            out.setdefault(row["segment_id"], []).append(row[column])
        return out

    def displayed_centroids(self, column: str) -> dict[int, list[float]]:
        """:meth:`centroid_matrix` as printed: floating-point noise shown as 0 (a share of 0 computed
        as 1.1e-16), judged against each feature's magnitude (:func:`segdb.present.textformat.shown`)."""
        from .textformat import magnitudes, shown
        unit = {"value_raw": "raw", "value_scaled": "scaled"}[column]
        size = {s["feature_no"]: magnitudes(s)[unit] for s in self.feature_stats}
        out: dict[int, list[float]] = {}
        for row in self.centroids:
            out.setdefault(row["segment_id"], []).append(shown(row[column], size.get(row["feature_no"])))
        return out


def run_summary(con: Engine, name: str, run_id: int | None = None) -> RunSummary:
    if run_id is None:
        run_id = definitions.current_run_id(con, name)
        if run_id is None:
            raise NotFoundError(f"segmentation {name!r} has no run yet; run `segdb refresh {name}`")
    run = _rows(con, load_sql("run_row"), [run_id])
    if not run or run[0]["segmentation"] != name:
        raise NotFoundError(f"segmentation {name!r} has no run {run_id}; see `segdb runs {name}`")
    run = run[0]
    for key in ("package_versions", "stage_seconds"):
        if run.get(key):
            run[key] = json.loads(run[key])
    d = definitions.get(con, name, run["definition_version"])
    from ..living.transitions import transition_summary
    from ..quality.store import load as load_quality  # late: quality_store imports this package's modules
    from .rules_text import load as load_rules
    from ..quality.borderline import borderline
    return RunSummary(d, run, _rows(con, load_sql("run_segments"), [run_id]),
                      _rows(con, load_sql("run_centroids"), [run_id]),
                      _rows(con, load_sql("run_feature_stats"), [run_id]),
                      transition_summary(con, run_id), load_quality(con, run_id),
                      rules=load_rules(con, d, run_id), borderline=borderline(con, d, int(run_id)))


def run_history(con: Engine, name: str) -> list[dict]:
    definitions.get(con, name)
    return _rows(con, load_sql("run_history"), [name, name])


def list_segmentations(con: Engine) -> list[dict]:
    return _rows(con, load_sql("list_segmentations"), [])
