"""Living segments inside a refresh: keep the ids, record the matching and the transitions, in the
run's own write-back transaction (the scoring macros follow the run in segdb.living.switch).

The refresh calls :func:`prepare` between the fit and the write: it renumbers the fit with the ids
of the current run's segments (see :mod:`segdb.cluster.identity`) and returns a writer for ``write_run``'s
``extra_writers``. Matching uses the features both runs share (all of them unless the definition
changed); runs without a shared feature share no id.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..cluster import identity
from . import ledger
from ..store import commits
from ..store.runs import run_label, run_ordinal
from ..engines import dialect_of
from ..store.database import dict_rows, insert_rows
from ..define.definitions import Definition
from ..store.sqlfiles import load_sql
from ..engines.base import Engine


@dataclasses.dataclass(frozen=True)
class PreviousRun:
    run_id: int
    features: tuple[str, ...]
    segment_ids: tuple[int, ...]
    centroids_raw: np.ndarray    # (k, d): one row per id, one column per feature


def previous_run(con: Engine, name: str) -> PreviousRun | None:
    """The current run of ``name`` (the one a refresh replaces), or None before the first run."""
    run_id = commits.current_run_id(con, name)
    if run_id is None:
        return None
    rows = con.execute(load_sql("run_centroids"), [run_id]).fetchall()
    features: dict[int, str] = {}
    values: dict[int, dict[int, float]] = {}
    for segment_id, feature_no, feature, raw, _scaled, _z in rows:
        features[feature_no] = feature
        values.setdefault(int(segment_id), {})[feature_no] = float(raw)
    ids = tuple(sorted(values))
    numbers = sorted(features)
    matrix = np.array([[values[i][f] for f in numbers] for i in ids], dtype=np.float64)
    return PreviousRun(run_id, tuple(features[f] for f in numbers), ids,
                       matrix.reshape(len(ids), len(numbers)))


def match_to_previous(previous: PreviousRun | None, features: tuple[str, ...], new_raw: np.ndarray,
                      max_used: int) -> identity.Matching:
    """Match on the features both runs have; with none in common every id is fresh."""
    if previous is None:
        return identity.match_segments(np.empty((0, new_raw.shape[1])), [], new_raw, max_used)
    shared = [f for f in features if f in previous.features]
    if not shared:
        fresh = identity.match_segments(np.empty((0, new_raw.shape[1])), [], new_raw,
                                        max(max_used, max(previous.segment_ids, default=0)))
        return dataclasses.replace(fresh, retired=tuple(previous.segment_ids))
    new_cols = [features.index(f) for f in shared]
    old_cols = [previous.features.index(f) for f in shared]
    return identity.match_segments(previous.centroids_raw[:, old_cols], previous.segment_ids,
                                   new_raw[:, new_cols], max_used)


def transitions_sql(d: Definition) -> str:
    """Customers per (segment in the previous run, segment in the new run); NULL = absent.
    Parameters: run_id, previous_run_id, previous_run_id, run_id."""
    return (
        "INSERT INTO segdb.transitions (run_id, previous_run_id, from_segment_id, to_segment_id, customers)\n"
        "SELECT ?, ?, p.segment_id, n.segment_id, count(*)\n"
        f"FROM (SELECT segdb_key, segment_id FROM {d.labels_table} WHERE run_id = ?) AS p\n"
        f"FULL OUTER JOIN (SELECT segdb_key, segment_id FROM {d.labels_table} WHERE run_id = ?) AS n\n"
        "  ON p.segdb_key = n.segdb_key\n"
        "GROUP BY p.segment_id, n.segment_id"
    )


def _pairs_sql(d: Definition) -> str:
    """PostgreSQL: customers per (segment in the previous run or NULL, segment in the new run), by a
    LEFT join from the new run's labels. Parameters: previous_run_id, run_id."""
    return (
        "SELECT p.segment_id, n.segment_id, count(*)\n"
        f"FROM {d.labels_table} AS n\n"
        f"LEFT JOIN {d.labels_table} AS p ON p.segdb_key = n.segdb_key AND p.run_id = ?\n"
        "WHERE n.run_id = ?\n"
        "GROUP BY p.segment_id, n.segment_id"
    )


def write_transitions(con: Engine, d: Definition, run_id: int, previous_id: int | None) -> None:
    """Insert ``run_id``'s transitions from ``previous_id`` (None: a first run, every customer new).

    PostgreSQL 15 runs neither a FULL join nor the SELECT of an INSERT in parallel: there the
    pairs come from a parallel LEFT join (new run's rows against the previous run's; each key is in
    a run at most once), the customers gone from the previous run's segment sizes minus those
    found again, and the few rows are inserted with bound values. At 10M customers: 6.6-7.3 s for
    the join and 1.3 s for the sizes, against 11.7-14.8 s for the FULL join
    (docs/performance.md). Other engines run :func:`transitions_sql` as it is."""
    if dialect_of(con) != "postgresql":
        con.execute(transitions_sql(d), [run_id, previous_id, previous_id, run_id])
        return
    pairs = [(f, t, int(n)) for f, t, n in con.execute(_pairs_sql(d), [previous_id, run_id]).fetchall()]
    if previous_id is not None:
        found: dict[int, int] = {}
        for f, _, n in pairs:
            if f is not None:
                found[f] = found.get(f, 0) + n
        before = con.execute(f"SELECT segment_id, count(*) FROM {d.labels_table} WHERE run_id = ? "
                             "GROUP BY segment_id", [previous_id]).fetchall()
        pairs += [(f, None, int(n) - found.get(f, 0)) for f, n in before if int(n) > found.get(f, 0)]
    insert_rows(con, "INSERT INTO segdb.transitions (run_id, previous_run_id, from_segment_id, "
                     "to_segment_id, customers) VALUES (?, ?, ?, ?, ?)",
                [[run_id, previous_id, f, t, n] for f, t, n in pairs])


def prepare(con: Engine, d: Definition, stats, fit):
    """Renumber ``fit`` with stable ids; returns (fit, writer(con, run_id)) for write_run."""
    previous = previous_run(con, d.name)
    centers_raw = fit.centers * np.array([s.scale for s in stats]) + np.array([s.center for s in stats])
    matching = match_to_previous(previous, tuple(s.feature for s in stats), centers_raw,
                                 ledger.max_used_id(con, d.name))
    previous_id = previous.run_id if previous else None

    def writer(con_: Engine, run_id: int) -> None:
        ledger.record_run(con_, d.name, run_id, previous_id, matching)
        write_transitions(con_, d, run_id, previous_id)

    return identity.apply_ids(fit, matching.ids), writer


@dataclasses.dataclass(frozen=True)
class TransitionSummary:
    previous_run_id: int | None
    kept: int          # in both runs, same segment id
    moved: int         # in both runs, another segment id
    new: int           # only in this run
    gone: int          # only in the previous run
    previous_ordinal: int | None = None  # the previous run's number within the segmentation

    @property
    def kept_share(self) -> float | None:
        both = self.kept + self.moved
        return self.kept / both if both else None

    def sentence(self) -> str:
        if self.previous_run_id is None:
            return f"first run: {self.new} new customers"
        share = self.kept_share
        kept = f"{100 * share:.0f}% kept their segment" if share is not None else "no customer in both runs"
        return (f"since {run_label(self.previous_run_id, self.previous_ordinal)}: {kept}; {self.new} new customers, "
                f"{self.gone} gone")


def transition_summary(con: Engine, run_id: int) -> TransitionSummary | None:
    """Kept / moved / new / gone customers of ``run_id`` (None for runs written before 0003)."""
    rows = con.execute(load_sql("transition_summary"), [run_id]).fetchall()
    previous, n, kept, moved, new, gone = rows[0]
    if not n:
        return None
    return TransitionSummary(previous, int(kept), int(moved), int(new), int(gone),
                             run_ordinal(con, previous))


def transitions(con: Engine, run_id: int) -> list[dict]:
    return dict_rows(con, load_sql("run_transitions"), [run_id])
