"""The "write" stage: a finished fit written back in one transaction that holds the run row,
statistics, segments, centroids, every customer's label, the quality, the views and the switch of
the current run.

Readers on other connections see the previous run until COMMIT and the new one after it; a crash
before COMMIT leaves nothing of the new run behind (DuckDB rolls the transaction back on reopen).
On Spark, which has no transactions, the run becomes current when its commit record is appended
(segdb.living.switch): a kill before it leaves rows under a run id no reader shows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import duckdb

from ..engines.base import Engine
from ..store.database import insert_rows, transaction
from ..define.definitions import Definition, ensure_label_columns
from ..cluster.places import Places
from ..cluster.identity import fit_segment_ids
from ..engines import dialect_of
from ..quality import store as quality_store
from ..quality.job import QualityJob, RunQuality
from ..store import commits, run_partitions
from ..store.runs import trigger_of
from ..living import switch
from ..store.sqlfiles import load_sql
from ..store.versions import package_versions
from . import pg_write, scalable
from .check import Checked
from .fit import Identified
from .stats import SourceStats

LABELS_RELATION = "segdb_new_labels"
# the segments' columns that extra writers compute (after the labels, before the segments rows):
# every segments row is written once, complete; on Spark an UPDATE is a copy of the table
SEGMENT_COLUMNS = ("description", "weighted_size", "weighted_share")


def segment_rows(d: Definition, stats, fit, sizes=None, sse=None) -> tuple[list[tuple], list[tuple]]:
    """(segments rows, centroids rows) without the run id; sizes and SSE from ``fit`` unless given."""
    k = fit.centers.shape[0]
    ids = fit_segment_ids(fit)  # ascending; labels hold ids, so their row is found by search
    if sizes is None:
        labels0 = np.searchsorted(ids, fit.labels.astype(np.int64))
        sizes = np.bincount(labels0, minlength=k)
        sse = np.bincount(labels0, weights=fit.distances ** 2, minlength=k)
    total = int(sizes.sum())
    centers_raw = fit.centers * np.array([s.scale for s in stats]) + np.array([s.center for s in stats])
    segments, centroids = [], []
    for j in range(k):
        size = int(sizes[j])
        segments.append((int(ids[j]), size, size / total, float(sse[j]),
                         float(np.sqrt(sse[j] / size)) if size else 0.0,
                         None))  # the description: from the profiles (see write_run)
        for i in range(len(stats)):
            centroids.append((int(ids[j]), i + 1, float(centers_raw[j, i]), float(fit.centers[j, i])))
    return segments, centroids


@dataclasses.dataclass(frozen=True)
class RunRow:
    """The row of ``segdb.runs`` of a run being written; the write-back completes it."""
    triggered_by: str
    started_at: datetime
    rows_total: int
    rows_used: int
    rows_skipped: int
    fit_rows: int
    k: int
    inertia: float
    seed: int
    n_init: int
    n_iter: int
    package_versions: dict
    input_fingerprint: str
    stage_seconds: Mapping[str, float]   # the stages before the write
    finished_at: datetime | None = None
    fit_start: str = "cold"              # segdb.refresh.warmstart
    fit_start_note: str | None = None


@dataclasses.dataclass(frozen=True)
class Written:
    run_id: int
    row: RunRow   # as stored: finished_at, the quality and write seconds, the inertia over every row


def write(con: Engine, checked: Checked, st: SourceStats, identified: Identified,
          quality_job: QualityJob, *, triggered_by: str | None, started_at: datetime,
          stage_seconds: Mapping[str, float], report=lambda stage, event: None, moments=None,
          places: Places | None = None, rules_writer=None) -> Written:
    """The "write" stage: the run, its labels and everything the features, the living segments and
    the quality store about it, in one transaction (:func:`write_run`). ``moments``: the profiles'
    per-segment figures when Python computed them (segdb.quality.profiles.figures_from_moments);
    ``places``: the labels' runner-ups when Python labels the rows (:func:`labels_in_python`);
    ``rules_writer``: the run's segment rules (segdb.quality.rules.RulesJob.writer), if any."""
    fitted = identified.fitted
    d, relation, fit = checked.definition, checked.source.relation, fitted.fit
    labels_writer = labelled = None
    scoring = contextlib.nullcontext()
    if not labels_in_python(con, fitted.plan):
        # every row is labelled in SQL (on Spark: by the engine); the profiles take the figures of
        # the score pass (moments, DuckDB and PostgreSQL) instead of joining the labels back; on
        # Spark labels and profiles read one cached scoring pass. PostgreSQL writes fetched rows'
        # labels with COPY (segdb.refresh.pg_write).
        labelled = scalable.labelled_values(fitted.definition, relation, st, fit)
        scored = None
        if dialect_of(con) == "spark":
            scoring = scalable.cached_scoring(con, labelled)
            scored = scalable.SCORED_VIEW
            labelled = f"SELECT * FROM {scored}"
        labels_writer = scalable.labels_writer(fitted.definition, relation, st, fit, fitted.plan, scored)
    extra_writers = (  # feature modules add writer(con, run_id) callables here
        checked.prepared.writer(relation, fit, fitted.weights),
        identified.writer,
        quality_store.profiles_writer(d, relation, st.features, labelled, moments),
    ) + ((rules_writer,) if rules_writer is not None else ())  # segdb.quality.rules
    row = RunRow(
        triggered_by=trigger_of(triggered_by), started_at=started_at, rows_total=st.rows_total,
        rows_used=st.rows_used, rows_skipped=st.rows_skipped, fit_rows=fitted.fit_rows,
        k=fitted.chosen.choice.k, inertia=float(np.dot(fit.distances, fit.distances)), seed=d.seed,
        n_init=d.n_init, n_iter=fit.n_iter, package_versions=package_versions(),
        input_fingerprint=st.fingerprint, stage_seconds=stage_seconds,
        fit_start=fitted.start.kind, fit_start_note=fitted.start.note)
    with scoring:
        return write_run(con, d, run_row=row, stats=st.features, keys=fitted.keys, fit=fit,
                         quality=quality_job, extra_writers=extra_writers, labels_writer=labels_writer,
                         report=report, places=places)


def labels_in_python(con: Engine, plan) -> bool:
    """The labels are the fit's own (every used row fetched), written from memory; otherwise every
    row is labelled in SQL (a bounded fit, and always on Spark)."""
    return plan.mode != "bounded" and dialect_of(con) != "spark"


def write_run(con: Engine, d: Definition, *, run_row: RunRow, stats, keys: pa.Array,
              fit, quality: RunQuality | QualityJob, extra_writers=(), labels_writer=None,
              report=lambda stage, event: None, places: Places | None = None) -> Written:
    """Write everything in one transaction; returns the new run id and its row as stored.

    ``extra_writers`` are callables ``writer(con, run_id)`` run inside the same transaction after
    the labels and feature statistics, before the segments and centroids rows and the views switch;
    a writer may return segment columns (``{column: {segment_id: value}}``, columns of
    :data:`SEGMENT_COLUMNS`), stored in the segments rows, which are written once, complete.
    Whatever the writers write (profiles, transitions, ...) appears atomically with the run, or
    not at all. The ``quality`` is written after them: a
    :class:`QualityJob` still running had the rest of the write-back to finish; its seconds are
    stored as the "quality" stage's. ``labels_writer(con, run_id, partitioned) -> (sizes, sse)``, when given,
    writes the labels instead of ``keys`` and ``fit.labels`` (a bounded fit labels every row in
    SQL); the run's inertia becomes sum(sse). ``places`` (segdb.cluster.places): the runner-up
    columns of ``fit.labels``' rows (None: left NULL, as with one segment). ``report("write",
    point)`` is called at the points of segdb.refresh.stages.WRITE_POINTS.
    """
    if labels_writer is None:
        segments, centroids = segment_rows(d, stats, fit)
        columns = {
            "segdb_key": keys,
            "segment_id": pa.array(fit.labels, type=pa.int32()),
            "distance": pa.array(fit.distances, type=pa.float64()),
        }
        if places is not None:
            columns.update(runner_up_id=pa.array(places.runner_up_id, type=pa.int32()),
                           runner_up_distance=pa.array(places.runner_up_distance, type=pa.float64()),
                           confidence=pa.array(places.confidence, type=pa.float64()))
        labels = pa.table(columns)
    started = time.perf_counter()
    inertia = run_row.inertia
    previous_run_id = commits.current_run_id(con, d.name)
    with transaction(con, f"writing the new run of {d.name!r}"):
        run_id = con.execute(load_sql("next_run_id")).fetchall()[0][0]
        ensure_label_columns(con, d)  # a labels table created before the runner-up columns
        # PostgreSQL: the run's labels are a partition of their own (readers see it at COMMIT)
        partitioned = run_partitions.partitioned(con, d.name + "_labels")
        report("write", "write_labels")
        if labels_writer is not None:
            sizes, sse = labels_writer(con, run_id, partitioned)
            segments, centroids = segment_rows(d, stats, fit, sizes=sizes, sse=sse)
            inertia = float(np.sum(sse))
        elif dialect_of(con) == "postgresql":
            table = run_partitions.add(con, d.name + "_labels", run_id) if partitioned else d.labels_table
            pg_write.copy_labels(con, table, run_id, labels, d.key_type)
        else:
            con.register(LABELS_RELATION, labels)
            try:
                names = ", ".join(labels.column_names)
                con.execute(
                    f"INSERT INTO {d.labels_table} (run_id, {names}) "
                    f"SELECT ?, {names} FROM {LABELS_RELATION}", [run_id])
            finally:
                # After a failed INSERT (e.g. a full disk) the transaction is aborted and unregister
                # fails too; that second error must not hide the first.
                with contextlib.suppress(duckdb.Error):
                    con.unregister(LABELS_RELATION)
        report("write", "labels_written")
        insert_rows(con, load_sql("insert_feature_stats"), [
            [run_id, s.feature_no, s.feature, s.n_rows, s.n_null, s.mean, s.stddev, s.min, s.max,
             s.center, s.scale] for s in stats])
        columns: dict = {}  # segment columns the writers computed: name -> segment id -> value
        for writer in extra_writers:
            columns.update(writer(con, run_id) or {})
        insert_rows(con, load_sql("insert_segment"), [
            [run_id, *row[:-1], *(columns.get(c, {}).get(row[0]) for c in SEGMENT_COLUMNS)]
            for row in segments])
        insert_rows(con, load_sql("insert_centroid"), [[run_id, *row] for row in centroids])
        q = quality.result() if isinstance(quality, QualityJob) else quality
        quality_store.quality_writer(q)(con, run_id)
        report("write", "views")
        staged = switch.before_commit(con, d, run_id, previous_run_id)
        r = dataclasses.replace(
            run_row, inertia=inertia, finished_at=datetime.now(timezone.utc).replace(tzinfo=None),
            stage_seconds={**run_row.stage_seconds, "quality": q.seconds,
                           "write": round(time.perf_counter() - started, 4)})
        con.execute(load_sql("insert_run"), [
            run_id, d.name, d.version, "succeeded", r.triggered_by, r.started_at,
            r.finished_at, r.rows_total, r.rows_used, r.rows_skipped, r.fit_rows,
            r.k, r.inertia, r.seed, r.n_init, r.n_iter,
            json.dumps(r.package_versions, sort_keys=True), r.input_fingerprint,
            json.dumps(r.stage_seconds), None, r.fit_start, r.fit_start_note])
        report("write", "commit_record")
        switch.commit(con, d, run_id, "refresh")
        report("write", "commit")
        switch.after_commit(con, d, run_id, staged)
    report("write", "committed")
    return Written(int(run_id), r)
