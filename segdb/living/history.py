"""Run history: make an earlier run current again (rollback), delete old runs' rows (prune).

Every run keeps its row in segdb.runs (status, triggered_by, started_at, finished_at); a pruned run
gets a row in segdb.run_prunes (appended: no UPDATE of segdb.runs), and every rollback is recorded
in segdb.rollbacks. Transitions, segment matches and drift checks are small and stay, for the audit.

Prune marks first, then deletes. On Spark (no transactions, and a DELETE is a copy-and-swap of the
table: two renames) a table partitioned by run_id, as segdb creates its labels and per-run tables
there, loses a run's rows by dropping its partition; only a table an older segdb made unpartitioned
is still rewritten.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone


from ..engines import catalog, dialect_of
from ..define import definitions
from . import ledger, runmodel, switch
from ..store import run_partitions
from ..store.database import dict_rows, insert_rows, transaction
from ..errors import NotFoundError, SegdbError
from ..engines.quoting import quote_identifier as q
from ..store.runs import trigger_of
from ..define.definitions import current_run_id
from ..store.sqlfiles import load_sql
from ..engines.base import Engine

# Tables in schema segdb with a run_id column that prune keeps: the audit trail (small).
AUDIT_TABLES = ("runs", "segment_matches", "transitions", "drift_checks", "rollbacks", "run_commits",
                "run_prunes", "segment_id_events")

# Functions f(con, definition, run_id) that must follow the current run on a rollback, besides the
# views and macros (e.g. a feature's own per-run view); they run inside the rollback's transaction.
CURRENT_RUN_HOOKS: list = []


class HistoryError(SegdbError):
    """A rollback or prune that the run history does not allow."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _runs(con: Engine, name: str) -> list[dict]:
    """Every run of ``name``; ``committed``: it has been current (a commit record names it). On
    Spark a refresh killed between its run row and its commit record leaves a succeeded run that
    never became current, and rollback does not make it current either."""
    return dict_rows(con, "SELECT r.run_id, r.status, r.definition_version, p.pruned_at, "
                          "r.run_id IN (SELECT c.run_id FROM segdb.run_commits AS c "
                          "WHERE c.segmentation = ?) AS committed "
                          "FROM segdb.runs AS r LEFT JOIN (SELECT run_id, min(pruned_at) AS pruned_at "
                          "FROM segdb.run_prunes GROUP BY run_id) AS p ON p.run_id = r.run_id "
                          "WHERE r.segmentation = ? ORDER BY r.run_id", [name, name])


@dataclasses.dataclass(frozen=True)
class RollbackResult:
    segmentation: str
    from_run_id: int
    to_run_id: int


def _target(name: str, runs: list[dict], current: int, run_id: int | None) -> dict:
    usable = [r for r in runs if r["status"] == "succeeded" and r["pruned_at"] is None and r["committed"]]
    if run_id is None:
        earlier = [r for r in usable if r["run_id"] < current]
        if not earlier:
            raise HistoryError(f"segmentation {name!r} has no earlier run than run {current} to roll "
                               f"back to; see `segdb runs {name}`")
        return earlier[-1]
    found = [r for r in runs if r["run_id"] == run_id]
    if not found:
        raise NotFoundError(f"segmentation {name!r} has no run {run_id}; see `segdb runs {name}`")
    run = found[0]
    if run_id == current:
        raise HistoryError(f"run {run_id} is already the current run of {name!r}; "
                           "name another run to roll back to")
    if run["pruned_at"] is not None:
        raise HistoryError(f"run {run_id} of {name!r} was pruned on {run['pruned_at']:%Y-%m-%d %H:%M} "
                           "and cannot be made current again; choose a run that is not pruned")
    if run["status"] != "succeeded":
        raise HistoryError(f"run {run_id} of {name!r} has status {run['status']}, not succeeded; "
                           "only a succeeded run can be made current")
    if not run["committed"]:
        raise HistoryError(f"run {run_id} of {name!r} never became current (its refresh was "
                           "interrupted before its commit record); choose a run that was current")
    return run


def make_current(con: Engine, d: definitions.Definition, run_id: int):
    """Views, macros, segment-id ledger and the commit record follow ``run_id`` (in a transaction;
    on Spark in the order of segdb.living.switch). Returns after the commit record; the caller
    finishes with ``switch.after_commit``, given what this returns (segdb.living.switch)."""
    staged = switch.before_commit(con, d, run_id, current_run_id(con, d.name))
    ledger.make_current(con, d.name, run_id)
    for hook in CURRENT_RUN_HOOKS:
        hook(con, d, run_id)
    switch.commit(con, d, run_id, "rollback")
    return staged


def rollback(con: Engine, name: str, run_id: int | None = None, *,
             triggered_by: str | None = None) -> RollbackResult:
    """Make ``run_id`` (default: the latest succeeded, unpruned run before the current) current again."""
    current = current_run_id(con, name)
    if current is None:
        raise NotFoundError(f"segmentation {name!r} has no run yet; run `segdb refresh {name}`")
    target = _target(name, _runs(con, name), current, run_id)
    d = definitions.get(con, name, target["definition_version"])
    runmodel.load(con, name, target["run_id"], d)  # its statistics and centroids must be there
    with transaction(con, f"rolling {name!r} back to run {target['run_id']}"):
        # the audit row first: on Spark the commit record is the last essential write
        con.execute(load_sql("insert_rollback"), [name, _now(), current, target["run_id"],
                                                  trigger_of(triggered_by)])
        staged = make_current(con, d, target["run_id"])
        switch.after_commit(con, d, target["run_id"], staged)
    return RollbackResult(name, int(current), int(target["run_id"]))


@dataclasses.dataclass(frozen=True)
class PruneResult:
    segmentation: str
    kept_run_ids: tuple[int, ...]
    pruned_run_ids: tuple[int, ...]
    labels_deleted: int


def per_run_tables(con: Engine) -> list[str]:
    """segdb tables holding per-run data (a run_id column), except the audit trail and label tables."""
    label_tables = {n + "_labels" for n in definitions.names(con)}
    names = [n for _, n, t in catalog.tables(con, "segdb") if t == "BASE TABLE"
             and n not in AUDIT_TABLES and n not in label_tables and not run_partitions.is_partition_name(n)]
    return [n for n in names if "run_id" in (row[0] for row in con.execute(
        f"DESCRIBE SELECT * FROM segdb.{q(n)}").fetchall())]


def _leftovers_possible(con: Engine) -> bool:
    """Spark writes a run without a transaction: a killed refresh leaves rows no commit record
    names. DuckDB and PostgreSQL write a run in one transaction and leave none (not scanned for)."""
    return dialect_of(con) == "spark"


def _orphan_run_ids(con: Engine, d) -> list[int]:
    """Run ids in ``d``'s labels with no run row: a Spark refresh of ``d`` killed before its run
    row (it writes the labels first, so every such run has some). Run ids are never reused, and
    prune holds the segmentation's lock, so none is a refresh still in progress."""
    known = {r[0] for r in con.execute("SELECT run_id FROM segdb.runs").fetchall()}
    return sorted(r[0] for r in con.execute(f"SELECT DISTINCT run_id FROM {d.labels_table}").fetchall()
                  if r[0] is not None and r[0] not in known)


def _delete_runs(con: Engine, table: str, run_ids: list[int], *, count: bool = False) -> int | None:
    """Delete the rows of ``run_ids`` from ``segdb.<table>``; with ``count``, returns how many there
    were. On Spark a table partitioned by run_id drops the runs' partitions (a catalog operation:
    no copy, no rename); a kill leaves some partitions, which the next prune drops. On PostgreSQL a
    labels table with one partition per run drops the runs' tables (segdb.store.run_partitions)."""
    if run_partitions.partitioned(con, table):
        return run_partitions.drop(con, table, run_ids, count=count)
    if dialect_of(con) == "spark" and con.partitioned_by_run("segdb", table):
        rows = None
        if count:
            rows = int(con.execute(f"SELECT count(*) FROM segdb.{q(table)} WHERE list_contains(?, run_id)",
                                   [run_ids]).fetchall()[0][0])
        con.drop_run_partitions("segdb", table, run_ids)
        return rows
    return int(con.execute(f"DELETE FROM segdb.{q(table)} WHERE list_contains(?, run_id)",
                           [run_ids]).fetchall()[0][0])


def prune(con: Engine, name: str, keep: int) -> PruneResult:
    """Delete the rows of all but the ``keep`` newest runs of ``name``; the current run always stays."""
    keep = definitions._check_int(keep, "keep", 1)
    d = definitions.get(con, name)
    current = current_run_id(con, name)
    every_run = _runs(con, name)
    leftovers = _leftovers_possible(con)
    # A succeeded run no commit record names was abandoned by a killed Spark refresh (elsewhere the
    # commit record is in the run's transaction): never kept, and pruned. No refresh of this
    # segmentation is between its run row and its commit record now: prune holds its lock.
    abandoned = {r["run_id"] for r in every_run if leftovers and r["pruned_at"] is None
                 and r["status"] == "succeeded" and not r["committed"] and r["run_id"] != current}
    runs = [r for r in every_run if r["pruned_at"] is None and r["run_id"] not in abandoned]
    newest = [r["run_id"] for r in runs][-keep:]
    kept = sorted(set(newest) | ({current} if current is not None else set()))
    doomed = [r["run_id"] for r in runs if r["run_id"] not in kept] + sorted(abandoned)
    # runs marked by an earlier prune whose rows may still be there: on Spark (no transactions) a
    # killed prune has marked them and deleted only some tables' rows; this one finishes the job
    unfinished = [r["run_id"] for r in every_run if r["pruned_at"] is not None]
    orphans = _orphan_run_ids(con, d) if leftovers else []
    deleted = 0
    if doomed or unfinished or orphans:
        with transaction(con, f"pruning {len(doomed)} runs of {name!r}"):
            if doomed:  # marked first: rollback and prune's own keep list leave a marked run alone
                now = _now()
                insert_rows(con, "INSERT INTO segdb.run_prunes (segmentation, run_id, pruned_at) "
                                 "VALUES (?, ?, ?)", [[name, int(r), now] for r in doomed])
            gone = doomed + unfinished + orphans
            for table in per_run_tables(con):
                _delete_runs(con, table, gone)
            if orphans:  # the audit rows a killed refresh wrote before its run row name no run
                for table in ("segment_matches", "transitions"):
                    _delete_runs(con, table, orphans)
            # the labels last: an orphan run (no run row) is found by its labels, so a prune killed
            # before this still leaves the next one what it needs to finish the job on Spark
            deleted = _delete_runs(con, d.name + "_labels", gone, count=True)
        if doomed and dialect_of(con) == "duckdb":  # PostgreSQL's CHECKPOINT is for superusers; Spark has none
            con.execute("CHECKPOINT")  # lets DuckDB reuse the freed blocks
    return PruneResult(name, tuple(kept), tuple(doomed), int(deleted))
