"""The refresh pipeline: SQL statistics -> standardised matrix -> KMeans -> one write-back transaction.

Nothing is written until every check has passed and the fit has succeeded; then the whole run is
written in one transaction. A refresh that fails on bad input leaves the database as it was.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import time
from datetime import datetime, timezone

import duckdb
import numpy as np

from . import definitions, fitplan, scalable, stats as stats_mod, matrix
from .errors import DefinitionError
from .fit import fit_kmeans
from .source import find_column, is_numeric_type, resolve_source, source_columns
from .versions import package_versions
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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_trigger(kind: str = "api") -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{kind} by {user}@{socket.gethostname()}"


def check_source_unchanged(con: duckdb.DuckDBPyConnection, d: definitions.Definition):
    """The source must still have the key and features, with compatible types."""
    src = resolve_source(con, d.source)
    columns = source_columns(con, src)
    where = f"{src.describe()} of {d.name!r}"
    try:
        find_column(columns, d.key, src, "key")
        for f in d.features:
            find_column(columns, f.name, src, "feature")
    except Exception as exc:
        raise DefinitionError(f"the source changed since {d.name!r} was defined: {exc}; "
                              "redefine it with `segdb create --replace`") from None
    if columns[d.key] != d.key_type:
        raise DefinitionError(f"the source changed since {d.name!r} was defined: key {d.key!r} was "
                              f"{d.key_type} and is now {columns[d.key]}; redefine it under a new name")
    for f in d.features:
        if not is_numeric_type(columns[f.name]):
            raise DefinitionError(f"the source changed since {d.name!r} was defined: feature "
                                  f"{f.name!r} is now {columns[f.name]}, not a number; cast it in "
                                  "the source or redefine the segmentation")
    return src, where


def _test_hook(stage: str) -> None:
    """Crash-safety tests pause a refresh at a named stage (SEGDB_TEST_PAUSE_AT=stage)."""
    if os.environ.get("SEGDB_TEST_PAUSE_AT") == stage:
        marker = os.environ.get("SEGDB_TEST_PAUSE_MARKER")
        if marker:
            with open(marker, "w", encoding="utf-8") as fh:
                fh.write(stage)
        time.sleep(float(os.environ.get("SEGDB_TEST_PAUSE_SECONDS", "30")))


def refresh(con: duckdb.DuckDBPyConnection, name: str, *, triggered_by: str | None = None,
            progress=None) -> RunResult:
    """Re-segment ``name`` from its source; the new run becomes current only when all is written."""
    report = progress or (lambda stage, state: None)
    timings: dict[str, float] = {}
    started_at = _utcnow()

    def stage(label):
        class _Stage:
            def __enter__(self_inner):
                report(label, "start")
                _test_hook(label)
                self_inner.t = time.perf_counter()

            def __exit__(self_inner, *exc):
                timings[label] = round(time.perf_counter() - self_inner.t, 4)
                report(label, "done")
        return _Stage()

    with stage("check"):
        d = definitions.get(con, name)
        src, where = check_source_unchanged(con, d)
    with stage("stats"):
        st = stats_mod.compute(con, d, src.relation, where)
    plan = fitplan.choose(st.rows_used, len(d.features), d.max_fit_rows)
    labels_writer = None
    with stage("fetch"):
        if plan.mode == "exact":
            keys, X = matrix.fetch(con, d, src.relation, st.features, where)
        else:  # many rows: segdb.scalable (no sort; bounded: a seeded sample only)
            keys, X, init_X = scalable.fetch(con, d, src.relation, st, plan, where)
    with stage("fit"):
        if plan.mode == "exact":
            fit = fit_kmeans(X, k=d.k, seed=d.seed, n_init=d.n_init, where=where)
        else:
            fit = scalable.fit(X, init_X, d, st, where)
            del init_X
    if plan.mode == "bounded":  # every row is labelled in SQL; inertia is then over all of them
        with stage("score"):
            fit = scalable.renumber_by_all_rows(con, d, src.relation, st, fit, where)
            labels_writer = scalable.labels_writer(d, src.relation, st, fit, plan)
    inertia = float(np.dot(fit.distances, fit.distances))
    run_row = dict(
        triggered_by=triggered_by or default_trigger(), started_at=started_at,
        finished_at=_utcnow(), rows_total=st.rows_total, rows_used=st.rows_used,
        rows_skipped=st.rows_skipped, fit_rows=int(X.shape[0]), k=d.k, inertia=inertia,
        seed=d.seed, n_init=d.n_init, n_iter=fit.n_iter, package_versions=package_versions(),
        input_fingerprint=st.fingerprint, stage_seconds=timings,
    )
    extra_writers: list = []  # feature modules append writer(con, run_id) callables here
    del X
    report("write", "start")
    run_id = write_run(con, d, run_row=run_row, stats=st.features, keys=keys, fit=fit, hook=_test_hook,
                       extra_writers=extra_writers, labels_writer=labels_writer)
    report("write", "done")
    inertia = run_row["inertia"]  # over every row, also when the labels were written in SQL
    return RunResult(run_id, d.name, d.k, st.rows_used, st.rows_skipped, inertia, dict(timings))
