"""The refresh pipeline: SQL statistics -> standardised matrix -> KMeans -> one write-back transaction.

Nothing is written until every check has passed and the fit has succeeded; then the whole run is
written in one transaction. A refresh that fails on bad input leaves the database as it was.
Each stage takes the results of the stages before it and returns its own (frozen dataclasses);
segdb.refresh.stages times them and reports their boundaries.
"""

from __future__ import annotations

import contextlib
import dataclasses

from ..engines.base import Engine
from ..cluster.threads import one_blas_thread
from ..define import access, definitions
from ..store.database import read_only_reads
from ..store.runs import run_ordinal, utcnow
from .check import check, statistics
from .fetch import fetch, fit_plan
from . import scalable, warmstart
from .fit import choose_k, fit, identify, score, start_quality
from ..quality import rules
from ..quality.profiles import figures_from_moments
from .stages import Listener, Stages
from .stats import underflow_named
from .writeback import labels_in_python, write
from ..cluster import places as cluster_places
from ..cluster.identity import fit_segment_ids


@dataclasses.dataclass(frozen=True)
class RunResult:
    run_id: int
    segmentation: str
    k: int
    rows_used: int
    rows_skipped: int
    inertia: float
    stage_seconds: dict
    ordinal: int | None = None   # the run's number within its segmentation (run ids are shared)
    k_edge: str | None = None    # k="auto" chose an edge of the range: one sentence (kselect.edge_note)
    fit_start: str = "cold"      # "warm": Lloyd's iterations started from the previous run's centroids
    fit_start_note: str | None = None   # the run warmed from, or why a warm start asked for was cold


def refresh(con: Engine, name: str, *, triggered_by: str | None = None,
            progress: Listener | None = None, scan: bool = False,
            warm_start: bool | None = None) -> RunResult:
    """Re-segment ``name`` from its source; the new run becomes current only when all is written.

    A definition with k="auto" scans its k range and picks k (segdb.quality.kselect); ``scan=True`` stores
    the scan for a fixed k too. ``warm_start`` (None: the definition's ``warm_start`` option) starts
    k-means from the current run's centroids when they still apply (segdb.refresh.warmstart). Every run stores its quality and profiles (segdb.quality.store).
    ``progress(stage, event)`` is called at every stage boundary (segdb.refresh.stages)."""
    started_at = utcnow()
    stages = Stages(progress)
    declared = definitions.get(con, name)  # read once: check takes it too
    guard = access.guarded(con, name, access.allowed(declared.options))
    with underflow_named(con), read_only_reads(con, name), guard:  # reads without side effects on PostgreSQL and DuckDB
        checked = stages.run("check", check, con, name, declared)
        st = stages.run("stats", statistics, con, checked)
        plan = fit_plan(con, checked, st)
        fetched = stages.run("fetch", fetch, con, checked, st, plan)
    if checked.definition.k is None or scan:
        chosen = stages.run("scan", choose_k, checked, fetched, scan=True)
    else:
        chosen = choose_k(checked, fetched)  # the fixed k, no work
    start = warmstart.plan(con, checked.definition, st, k=chosen.choice.k,
                           asked=warmstart.requested(checked.definition, warm_start),
                           k_scanned=checked.definition.k is None)
    # The run's quality is computed on a worker thread beside the write-back
    # (segdb.quality.QualityJob); BLAS limits are process-wide, so one BLAS thread meanwhile.
    with contextlib.ExitStack() as running:
        running.enter_context(one_blas_thread())
        # DuckDB's cached blocks of the source leave while Python works on the matrix; the limit
        # is back for each statement that reads the source (the score pass, the write)
        released = running.enter_context(contextlib.ExitStack())
        released.enter_context(scalable.duckdb_memory_bound(con, scalable.DUCKDB_IDLE_MEMORY_LIMIT))
        fitted = stages.run("fit", fit, checked, st, fetched, chosen, start)
        if plan.mode == "bounded":  # every row is labelled in SQL; inertia is then over all of them
            released.close()
            # one streaming pass into k groups: it needs no cache beside the fit sample
            with scalable.duckdb_memory_bound(con, scalable.DUCKDB_SCAN_MEMORY_LIMIT), \
                    underflow_named(con), read_only_reads(con, name), \
                    access.guarded(con, name, access.allowed(checked.definition.options)):
                fitted = stages.run("score", score, con, checked, st, fitted)
            released.enter_context(scalable.duckdb_memory_bound(con, scalable.DUCKDB_IDLE_MEMORY_LIMIT))
        identified = identify(con, checked, st, fitted)  # keep the current run's segment ids
        quality_job = stages.run("quality", start_quality, fetched, identified)
        prepared = checked.prepared  # the rules' tree: its sample is taken here, before the matrix goes
        rules_job = stages.run("rules", rules.start, fetched.X, identified.fitted.fit.labels,
                               stats=st.features, columns=prepared.columns, declared=prepared.original,
                               expanded=checked.definition, nulls=checked.definition.nulls,
                               seed=checked.definition.seed, options=checked.definition.options)
        # the profiles' figures: from the quality job's moments of the matrix when it holds every
        # used row unfilled, from a bounded fit's score pass, or else (None) in SQL by the write-back
        moments = (figures_from_moments(st.features, quality_job.moments)
                   if labels_in_python(con, plan) and checked.definition.nulls != "mean"
                   else scalable.identified_moments(identified.fitted.moments, identified.fitted.fit))
        running.callback(quality_job.close)  # also when the write fails: no thread outlives it
        places = None  # each label's runner-up, computed on the matrix while it is here
        if labels_in_python(con, plan):
            fit_ = identified.fitted.fit
            places = cluster_places.places(fetched.X, fit_.centers, fit_.labels, fit_segment_ids(fit_),
                                           fit_.distances)
        del fetched  # the matrix: the quality job's constructor has read every row it needs
        released.close()
        written = stages.around("write", write, con, checked, st, identified, quality_job,
                                triggered_by=triggered_by, started_at=started_at, moments=moments,
                                places=places,
                                stage_seconds=stages.seconds, report=stages.report,
                                rules_writer=rules_job and rules_job.writer(checked.source.relation))
    row = written.row  # the inertia over every row, also when the labels were written in SQL
    return RunResult(written.run_id, checked.definition.name, row.k, row.rows_used, row.rows_skipped,
                     row.inertia, dict(row.stage_seconds), run_ordinal(con, written.run_id),
                     chosen.choice.edge, start.kind, start.note)
