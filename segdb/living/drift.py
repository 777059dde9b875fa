"""Drift: how far the source has moved from the current run, and whether a refresh is advisable.

Everything data-sized is SQL: the per-feature statistics (the refresh's own statistics query over
the source as it is now) and the per-customer comparison (the source scored with the run's stored
centroids, joined with the run's fitted labels). Each check is stored in segdb.drift_checks and
segdb.drift_features.

The rule: a refresh is advisable when any figure exceeds its limit (defaults in DEFAULT_LIMITS):
  max_mean_shift   a feature's mean moved more than 0.25 of the run's standard deviation
  max_sd_change    a feature's standard deviation changed by more than 25%
  changed_share    more than 5% of the customers in both have another nearest centroid than their label
  inertia_ratio    the mean squared distance to the nearest centroid grew by more than 20%
  new_share        more than 10% of today's customers were not in the fit
  gone_share       more than 10% of the fitted customers are gone
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone


from ..define import sqlgen
from .assign import current_model, finite_condition
from ..store.database import transaction, translate
from ..errors import DataError, DefinitionError
from ..define.definitions import check_source_unchanged
from ..store.runs import trigger_of
from ..store.sqlfiles import load_sql
from ..engines.base import ENGINE_ERRORS, Engine

DEFAULT_LIMITS = {
    "max_mean_shift": 0.25,
    "max_sd_change": 0.25,
    "changed_share": 0.05,
    "inertia_ratio": 1.20,
    "new_share": 0.10,
    "gone_share": 0.10,
}


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    feature_no: int
    feature: str
    mean_run: float
    mean_now: float | None
    sd_run: float
    sd_now: float | None
    mean_shift: float | None   # (mean now - mean run) / sd run
    sd_change: float | None    # (sd now - sd run) / sd run


@dataclasses.dataclass(frozen=True)
class DriftReport:
    check_id: int | None        # None when the check was not recorded
    segmentation: str
    run_id: int
    checked_at: datetime
    customers_run: int
    customers_now: int
    customers_new: int
    customers_gone: int
    customers_changed: int
    inertia_per_customer_fit: float | None
    inertia_per_customer_now: float | None
    features: tuple[FeatureDrift, ...]
    limits: dict
    reasons: tuple[str, ...]

    @property
    def refresh_advised(self) -> bool:
        return bool(self.reasons)

    @property
    def customers_both(self) -> int:
        return self.customers_run - self.customers_gone

    @property
    def new_share(self) -> float | None:
        return _ratio(self.customers_new, self.customers_now)

    @property
    def gone_share(self) -> float | None:
        return _ratio(self.customers_gone, self.customers_run)

    @property
    def changed_share(self) -> float | None:
        return _ratio(self.customers_changed, self.customers_both)

    @property
    def inertia_ratio(self) -> float | None:
        if self.inertia_per_customer_now is None or not self.inertia_per_customer_fit:
            return None
        return self.inertia_per_customer_now / self.inertia_per_customer_fit

    @property
    def max_mean_shift(self) -> float | None:
        return _max_abs(f.mean_shift for f in self.features)

    @property
    def max_sd_change(self) -> float | None:
        return _max_abs(f.sd_change for f in self.features)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _max_abs(values) -> float | None:
    present = [abs(v) for v in values if v is not None]
    return max(present) if present else None


def check_limits(limits: dict | None) -> dict:
    merged = dict(DEFAULT_LIMITS)
    for key, value in (limits or {}).items():
        if key not in DEFAULT_LIMITS:
            raise DefinitionError(f"unknown drift limit {key!r}; use one of {', '.join(DEFAULT_LIMITS)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise DefinitionError(f"drift limit {key} must be a number, not {value!r}") from None
        if not value >= 0:
            raise DefinitionError(f"drift limit {key}={value} should be >= 0")
        merged[key] = value
    return merged


def reasons_for(report_figures: dict, limits: dict) -> tuple[str, ...]:
    """The rule: every figure above its limit, as 'name value > limit'."""
    out = []
    for key, limit in limits.items():
        value = report_figures.get(key)
        if value is not None and value > limit:
            out.append(f"{key} {value:.4g} > {limit:g}")
    return tuple(out)


def _feature_drift(model, row) -> tuple[FeatureDrift, ...]:
    out = []
    for i, feature in enumerate(model.features):
        _n, _nonfinite, mean_now, sd_now, _lo, _hi = row[5 + 6 * i: 11 + 6 * i]
        mean_run, sd_run = model.means[i], model.stddevs[i]
        shift = (mean_now - mean_run) / sd_run if mean_now is not None and sd_run else None
        change = (sd_now - sd_run) / sd_run if sd_now is not None and sd_run else None
        out.append(FeatureDrift(i + 1, feature, mean_run, mean_now, sd_run, sd_now, shift, change))
    return tuple(out)


def customers_query(model, relation: str) -> str:
    """One row: customers now / in the fit / new / gone / changed, and the mean squared distance now.
    Parameter: the run id."""
    d = model.definition
    scorable = f"{sqlgen.used_condition(d)} AND {finite_condition(model)}"
    return (
        # No filter on the scored columns: DuckDB would push it below the projection and compute
        # every distance once per segment (15x slower at k=6); ``scorable`` leaves no NULL label.
        f"WITH segdb_now AS ({model.labelling_query(relation, where=scorable)}),\n"
        f"     segdb_run AS (SELECT segdb_key, segment_id FROM {d.labels_table}\n"
        f"                   WHERE run_id = ? AND fitted)\n"
        "SELECT count(n.segdb_key), count(r.segdb_key),\n"
        "       count(*) FILTER (WHERE r.segdb_key IS NULL),\n"
        "       count(*) FILTER (WHERE n.segdb_key IS NULL),\n"
        "       count(*) FILTER (WHERE n.segdb_key IS NOT NULL AND r.segdb_key IS NOT NULL\n"
        "                          AND n.segment_id <> r.segment_id),\n"
        "       avg(n.distance * n.distance)\n"
        "FROM segdb_now AS n FULL OUTER JOIN segdb_run AS r ON n.segdb_key = r.segdb_key"
    )


def check(con: Engine, name: str, *, limits: dict | None = None, record: bool = True,
          triggered_by: str | None = None) -> DriftReport:
    """Compare the source now with the current run; store the check unless ``record=False``."""
    limits = check_limits(limits)
    model = current_model(con, name)
    d = model.definition
    src, where = check_source_unchanged(con, d)
    try:
        stats_row = con.execute(sqlgen.stats_query(d, src.relation)).fetchall()[0]
        rows_total, keys_present, keys_distinct = stats_row[:3]
        if keys_distinct < keys_present:
            raise DataError(f"key {d.key!r} is not unique in {where}: {keys_present - keys_distinct} "
                            "duplicate rows; deduplicate the source before checking drift")
        counts = con.execute(customers_query(model, src.relation), [model.run_id]).fetchall()[0]
        fit_row = con.execute("SELECT inertia, rows_used FROM segdb.runs WHERE run_id = ?",
                              [model.run_id]).fetchall()[0]
    except ENGINE_ERRORS as exc:
        raise translate(exc, f"checking drift of {where}") from exc
    now, run, new, gone, changed, inertia_now = counts
    inertia_fit = fit_row[0] / fit_row[1] if fit_row[1] else None
    report = DriftReport(
        check_id=None, segmentation=name, run_id=model.run_id,
        checked_at=datetime.now(timezone.utc).replace(tzinfo=None), customers_run=int(run),
        customers_now=int(now), customers_new=int(new), customers_gone=int(gone),
        customers_changed=int(changed), inertia_per_customer_fit=inertia_fit,
        inertia_per_customer_now=inertia_now, features=_feature_drift(model, stats_row),
        limits=limits, reasons=())
    figures = {key: getattr(report, key) for key in DEFAULT_LIMITS}
    report = dataclasses.replace(report, reasons=reasons_for(figures, limits))
    if record:
        report = _record(con, report, trigger_of(triggered_by))
    return report


def _record(con: Engine, r: DriftReport, triggered_by: str) -> DriftReport:
    with transaction(con, f"recording the drift check of {r.segmentation!r}"):
        check_id = con.execute("SELECT nextval('segdb.drift_check_id_seq')").fetchall()[0][0]
        con.execute(
            load_sql("insert_drift_check"),
            [check_id, r.segmentation, r.run_id, r.checked_at, triggered_by, r.customers_run,
             r.customers_now, r.customers_new, r.customers_gone, r.customers_changed, r.new_share,
             r.gone_share, r.changed_share, r.inertia_per_customer_fit, r.inertia_per_customer_now,
             r.inertia_ratio, r.max_mean_shift, r.max_sd_change, json.dumps(r.limits, sort_keys=True),
             r.refresh_advised, "; ".join(r.reasons) or None])
        con.executemany(
            load_sql("insert_drift_feature"),
            [[check_id, f.feature_no, f.feature, f.mean_run, f.mean_now, f.sd_run, f.sd_now,
              f.mean_shift, f.sd_change] for f in r.features])
    return dataclasses.replace(r, check_id=int(check_id))
