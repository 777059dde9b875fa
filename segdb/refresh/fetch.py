"""The "fetch" stage: the fit plan for the rows used, then the standardised matrix the fit reads
(segdb.refresh.matrix for an exact fit, segdb.refresh.scalable for the fast and bounded ones)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from ..engines.base import Engine
from ..cluster import fitplan
from ..define.weights import weight_column
from ..engines import dialect_of
from ..errors import DefinitionError
from . import matrix, scalable
from .check import Checked
from .stats import SourceStats, naming_underflow


@dataclasses.dataclass(frozen=True)
class Fetched:
    plan: fitplan.FitPlan
    keys: pa.Array | None        # the rows' keys; None when the labels are written in SQL
    X: np.ndarray                # the standardised matrix the fit reads (bounded: a sample)
    weights: np.ndarray | None   # survey weights (exact fits only)
    init_X: np.ndarray | None    # fast and bounded fits: the sample the restarts run on


def fit_plan(con: Engine, checked: Checked, st: SourceStats) -> fitplan.FitPlan:
    """How the rows used are fitted: exactly, fast (no sort), or bounded (a seeded sample)."""
    d = checked.definition
    plan = fitplan.choose(st.rows_used, len(d.features), d.max_fit_rows)
    if weight_column(d) is not None and plan.mode != "exact":
        # the fast and bounded fits do not take survey weights yet: fit every row exactly
        plan = dataclasses.replace(plan, mode="exact")
    remote = dialect_of(con) != "duckdb"
    if remote and weight_column(d) is not None and st.rows_used > plan.max_fit_rows:
        # a weighted fit needs every row, and another engine's rows never all come to Python
        raise DefinitionError(
            f"{d.name!r} has survey weights, which need every row in the fit, but {checked.where} has "
            f"rows_used={st.rows_used} > max_fit_rows={plan.max_fit_rows}; raise max_fit_rows "
            "or drop the weight")
    if remote and plan.mode == "fast" and dialect_of(con) != "postgresql":
        # another engine: Python fetches a bounded sample only (all rows when under the bound);
        # PostgreSQL's rows under the bound come with their keys (binary COPY) and are fitted and
        # written from memory as on DuckDB (segdb.refresh.pg_write), not labelled in SQL again
        plan = dataclasses.replace(plan, mode="bounded")
    return plan


def fetch(con: Engine, checked: Checked, st: SourceStats,
          plan: fitplan.FitPlan) -> Fetched:
    with naming_underflow(con, checked.definition, checked.source.relation, checked.where, st.features):
        return _fetch(con, checked, st, plan)


def _fetch(con: Engine, checked: Checked, st: SourceStats, plan: fitplan.FitPlan) -> Fetched:
    d, relation = checked.definition, checked.source.relation
    if plan.mode == "exact":
        keys, X, w = matrix.fetch(con, d, relation, st.features, checked.where, weights=True)
        return Fetched(plan, keys, X, w, None)
    # many rows: segdb.refresh.scalable (no sort; bounded: a seeded sample only)
    sized = d if d.k else dataclasses.replace(d, k=d.k_max)  # init sample sized for the largest k
    keys, X, init_X = scalable.fetch(con, sized, relation, st, plan, checked.where)
    return Fetched(plan, keys, X, None, init_X)
