"""The stages that work on the fetched matrix: "scan" (the k to fit, segdb.quality.kselect), "fit"
(KMeans, or segdb.refresh.scalable's sampled fit), "score" (a bounded fit's segments renumbered
over every row, in SQL), the segment ids kept from the current run (segdb.living) and "quality"
(its passes over every row; the rest runs beside the write-back, segdb.quality.job)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from ..engines.base import Engine
from ..cluster import fitplan
from ..cluster.fastfit import fit_from_start
from ..cluster.kmeans import FitResult, fit_kmeans
from ..define.definitions import Definition
from ..living import transitions as living
from ..quality import job as quality, kselect
from ..engines import dialect_of
from . import scalable
from .check import Checked
from .fetch import Fetched
from .stats import SourceStats, naming_underflow
from .warmstart import COLD, Start


@dataclasses.dataclass(frozen=True)
class KChosen:
    choice: kselect.KChoice
    scan: tuple[kselect.ScanRow, ...]   # the k scan to store; empty for a fixed k without a scan


@dataclasses.dataclass(frozen=True)
class Fitted:
    """The fit, with what the write-back needs of the fetch (not the matrix: it is freed before)."""
    definition: Definition       # the checked definition with the chosen k
    chosen: KChosen
    fit: FitResult
    plan: fitplan.FitPlan
    keys: pa.Array | None
    weights: np.ndarray | None
    fit_rows: int
    # a bounded fit (DuckDB, PostgreSQL): the profiles' per-segment figures from its scoring pass, aligned
    # with the rows of the scored fit's centres (segdb.refresh.scalable.score_with_moments)
    moments: tuple | None = None
    start: Start = COLD          # where k-means started (segdb.refresh.warmstart), for the run row


@dataclasses.dataclass(frozen=True)
class Identified:
    """The fit renumbered with the current run's segment ids (segdb.living.transitions), and the
    writer(con, run_id) of its id ledger, transitions and scoring macros."""
    fitted: Fitted
    writer: Callable


def choose_k(checked: Checked, fetched: Fetched, *, scan: bool = False) -> KChosen:
    """The definition's k (no work), or the scan's choice; ``scan=True`` scans a fixed k too."""
    d = checked.definition
    choice, rows = kselect.select(fetched.X, k=d.k, k_min=d.k_min, k_max=d.k_max, seed=d.seed,
                                  n_init=d.n_init, scan_requested=scan)
    return KChosen(choice, tuple(rows))


def fit(checked: Checked, st: SourceStats, fetched: Fetched, chosen: KChosen,
        start: Start = COLD) -> Fitted:
    """k-means++ restarts, or with a warm ``start`` one Lloyd run from its centres."""
    d = dataclasses.replace(checked.definition, k=chosen.choice.k)
    if start.centers is not None:
        if fetched.plan.mode == "exact":  # scikit-learn's KMeans(init=centres, n_init=1)
            result = fit_kmeans(fetched.X, k=d.k, seed=d.seed, n_init=1, where=checked.where,
                                sample_weight=fetched.weights, init=start.centers)
        else:
            result = fit_from_start(fetched.X, start.centers, d=d, stats=st.features,
                                    rows_used=st.rows_used)
    elif fetched.plan.mode == "exact":
        result = fit_kmeans(fetched.X, k=d.k, seed=d.seed, n_init=d.n_init, where=checked.where,
                            sample_weight=fetched.weights)
    else:
        result = scalable.fit(fetched.X, fetched.init_X, d, st, checked.where)
    return Fitted(d, chosen, result, fetched.plan, fetched.keys, fetched.weights, int(fetched.X.shape[0]),
                  start=start)


def score(con: Engine, checked: Checked, st: SourceStats, fitted: Fitted) -> Fitted:
    """A bounded fit's segments numbered largest first by their size over every row (in SQL). On
    DuckDB and PostgreSQL the same pass computes the profiles' figures (no profiles pass in the
    write-back); on Spark the write-back's one cached scoring pass feeds the labels and profiles."""
    if dialect_of(con) == "spark":
        return dataclasses.replace(fitted, fit=scalable.renumber_by_all_rows(
            con, fitted.definition, checked.source.relation, st, fitted.fit, checked.where))
    # every row's z-scores: a PostgreSQL underflow the sample missed is named here
    with naming_underflow(con, fitted.definition, checked.source.relation, checked.where, st.features):
        fit, moments = scalable.score_with_moments(con, fitted.definition, checked.source.relation, st,
                                                   fitted.fit, checked.where)
    return dataclasses.replace(fitted, fit=fit, moments=(fit.centers, tuple(moments)))


def identify(con: Engine, checked: Checked, st: SourceStats, fitted: Fitted) -> Identified:
    """Keep the current run's segment ids for the segments that match it."""
    fit, writer = living.prepare(con, checked.definition, st.features, fitted.fit)
    return Identified(dataclasses.replace(fitted, fit=fit), writer)


def start_quality(fetched: Fetched, identified: Identified) -> quality.QualityJob:
    """The run's quality: the passes over every row now, the rest on a worker thread (the caller
    holds segdb.cluster.threads.one_blas_thread and closes the job, also after a failure)."""
    fitted = identified.fitted
    return quality.QualityJob(fetched.X, fitted.fit.labels, fitted.chosen.choice.k,
                              seed=fitted.definition.seed, choice=fitted.chosen.choice,
                              scan=fitted.chosen.scan)
