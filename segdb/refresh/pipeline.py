"""The refresh pipeline: SQL statistics -> standardised matrix -> KMeans -> one write-back transaction.

Nothing is written until every check has passed and the fit has succeeded; then the whole run is
written in one transaction. A refresh that fails on bad input leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import duckdb
import numpy as np

from ..define import definitions
from ..cluster import fitplan
from . import scalable, stats as stats_mod, matrix
from ..living import transitions as living
from ..quality import kselect, job as quality, store as quality_store
from ..engines import dialect_of
from ..errors import DefinitionError
from ..cluster.kmeans import fit_kmeans
from .prepare import prepare
from ..store.runs import run_ordinal, trigger_of, utcnow
from ..cluster.threads import one_blas_thread
from ..define.source import key_declared_unique
from ..store.versions import package_versions
from ..define.weights import weight_column
from .writeback import write_run

STAGES = ("check", "stats", "fetch", "fit", "score", "write")  # "score": bounded fits only


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


def _test_hook(stage: str) -> None:
    """Crash-safety tests pause a refresh at a named stage (SEGDB_TEST_PAUSE_AT=stage)."""
    if os.environ.get("SEGDB_TEST_PAUSE_AT") == stage:
        marker = os.environ.get("SEGDB_TEST_PAUSE_MARKER")
        if marker:
            with open(marker, "w", encoding="utf-8") as fh:
                fh.write(stage)
        seconds = float(os.environ.get("SEGDB_TEST_PAUSE_SECONDS", "30"))
        release = os.environ.get("SEGDB_TEST_PAUSE_RELEASE")  # go on as soon as this file exists
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (release and os.path.exists(release)):
            time.sleep(0.02)


def refresh(con: duckdb.DuckDBPyConnection, name: str, *, triggered_by: str | None = None,
            progress=None, scan: bool = False) -> RunResult:
    """Re-segment ``name`` from its source; the new run becomes current only when all is written.

    A definition with k="auto" scans its k range and picks k (segdb.kselect); ``scan=True`` stores
    the scan for a fixed k too. Every run stores its quality and profiles (segdb.quality_store)."""
    report = progress or (lambda stage, state: None)
    timings: dict[str, float] = {}
    started_at = utcnow()

    def stage(label):
        class _Stage:
            def __enter__(self_inner):
                report(label, "start")
                _test_hook(label)
                self_inner.t = time.perf_counter()

            def __exit__(self_inner, *exc):
                timings[label] = round(time.perf_counter() - self_inner.t, 4)
                _test_hook(label + "_done")  # the stage's work is done, its result not yet used
                report(label, "done")
        return _Stage()

    with stage("check"):
        d = definitions.get(con, name)
        src, where = definitions.check_source_unchanged(con, d)
        prepared = prepare(con, d, src, where)  # typed features: checks, category levels
        d = prepared.definition                 # one feature per matrix column from here on
    with stage("stats"):
        st = prepared.adjust_stats(stats_mod.compute(
            con, d if d.k else dataclasses.replace(d, k=d.k_min), src.relation, where,
            key_declared_unique=key_declared_unique(con, src, d.key)))
    plan = fitplan.choose(st.rows_used, len(d.features), d.max_fit_rows)
    if weight_column(d) is not None and plan.mode != "exact":
        # the fast and bounded fits do not take survey weights yet: fit every row exactly
        plan = dataclasses.replace(plan, mode="exact")
    remote = dialect_of(con) != "duckdb"
    if remote and weight_column(d) is not None and st.rows_used > plan.max_fit_rows:
        # a weighted fit needs every row, and another engine's rows never all come to Python
        raise DefinitionError(
            f"{d.name!r} has survey weights, which need every row in the fit, but {where} has "
            f"rows_used={st.rows_used} > max_fit_rows={plan.max_fit_rows}; raise --max-fit-rows "
            "or drop the weight")
    if remote and plan.mode == "fast":
        # another engine: Python fetches a bounded sample only (all rows when under the bound)
        plan = dataclasses.replace(plan, mode="bounded")
    labels_writer, w = None, None
    with stage("fetch"):
        if plan.mode == "exact":
            keys, X, w = matrix.fetch(con, d, src.relation, st.features, where, weights=True)
        else:  # many rows: segdb.scalable (no sort; bounded: a seeded sample only)
            sized = d if d.k else dataclasses.replace(d, k=d.k_max)  # init sample sized for the largest k
            keys, X, init_X = scalable.fetch(con, sized, src.relation, st, plan, where)
    k_settings = dict(k=d.k, k_min=d.k_min, k_max=d.k_max, seed=d.seed, n_init=d.n_init)
    if d.k is None or scan:
        with stage("scan"):
            choice, scan_rows = kselect.select(X, **k_settings, scan_requested=True)
    else:
        choice, scan_rows = kselect.select(X, **k_settings)  # the fixed k, no work
    d_fit = dataclasses.replace(d, k=choice.k)
    # The run's quality is computed on a worker thread beside the write-back
    # (segdb.quality.QualityJob); BLAS limits are process-wide, so one BLAS thread meanwhile.
    with contextlib.ExitStack() as running:
        running.enter_context(one_blas_thread())
        with stage("fit"):
            if plan.mode == "exact":
                fit = fit_kmeans(X, k=choice.k, seed=d.seed, n_init=d.n_init, where=where, sample_weight=w)
            else:
                fit = scalable.fit(X, init_X, d_fit, st, where)
                del init_X
        if plan.mode == "bounded":  # every row is labelled in SQL; inertia is then over all of them
            with stage("score"):
                fit = scalable.renumber_by_all_rows(con, d_fit, src.relation, st, fit, where)
        fit, living_writer = living.prepare(con, d, st.features, fit)  # keep the current run's segment ids
        if plan.mode == "bounded" or remote:  # remote: labels are written by the engine, in SQL
            labels_writer = scalable.labels_writer(d_fit, src.relation, st, fit, plan)
        with stage("quality"):  # the passes over every row; the rest runs beside the write-back
            quality_job = quality.QualityJob(X, fit.labels, choice.k, seed=d.seed, choice=choice,
                                             scan=scan_rows)
        running.callback(quality_job.close)  # also when the write fails: no thread outlives it
        inertia = float(np.dot(fit.distances, fit.distances))
        run_row = dict(
            triggered_by=trigger_of(triggered_by), started_at=started_at,
            finished_at=utcnow(), rows_total=st.rows_total, rows_used=st.rows_used,
            rows_skipped=st.rows_skipped, fit_rows=int(X.shape[0]), k=choice.k, inertia=inertia,
            seed=d.seed, n_init=d.n_init, n_iter=fit.n_iter, package_versions=package_versions(),
            input_fingerprint=st.fingerprint, stage_seconds=timings,
        )
        extra_writers: list = []  # feature modules append writer(con, run_id) callables here
        extra_writers.append(prepared.writer(src.relation, fit, w))
        extra_writers.append(living_writer)
        # labels written in SQL: the profiles score the rows again instead of joining them back
        labelled = scalable.labelled_values(d_fit, src.relation, st, fit) if labels_writer else None
        extra_writers.append(quality_store.profiles_writer(d, src.relation, st.features, labelled))

        def write_quality(con_, run_id):  # last: the worker has the rest of the write-back to finish
            quality_store.quality_writer(quality_job)(con_, run_id)
            timings["quality"] = quality_job.result().seconds  # the run row is written after this

        extra_writers.append(write_quality)
        del X
        report("write", "start")
        run_id = write_run(con, d, run_row=run_row, stats=st.features, keys=keys, fit=fit, hook=_test_hook,
                           extra_writers=extra_writers, labels_writer=labels_writer)
        report("write", "done")
        inertia = run_row["inertia"]  # over every row, also when the labels were written in SQL
    return RunResult(run_id, d.name, choice.k, st.rows_used, st.rows_skipped, inertia, dict(timings),
                     run_ordinal(con, run_id), choice.edge)
