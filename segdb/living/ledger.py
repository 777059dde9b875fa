"""The ledger of segment ids (segdb.segment_ids): every id a segmentation ever used, its name, the run
that introduced it and the run that retired it. Ids are never reused, so a name or a campaign keyed
to an id always means the same group.

A new id is one appended segment_ids row; every later change (a name, a retirement, a reinstatement
on rollback) is one appended row of segdb.segment_id_events (migration 0006), never an UPDATE: on
Spark, which has no transactions, an UPDATE was a copy-and-swap of the table (two renames). The
ledger as it stands is the view segdb.current_segment_ids (the newest event per id and kind).
"""

from __future__ import annotations

from datetime import datetime, timezone


from ..define import definitions
from . import switch
from ..store.database import dict_rows, insert_rows, transaction
from ..errors import DefinitionError, NotFoundError
from ..cluster.identity import Matching
from ..store.sqlfiles import load_sql
from ..engines.base import Engine


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def max_used_id(con: Engine, name: str) -> int:
    """The largest id in the ledger or in any stored run of ``name`` (0 if none)."""
    row = con.execute(load_sql("max_segment_id"), [name, name]).fetchall()
    return int(row[0][0])


def backfill(con: Engine, name: str, current_run_id: int) -> None:
    """Add ids of runs written before the ledger existed; those not in the current run are retired."""
    con.execute(load_sql("backfill_segment_ids"),
                [name, current_run_id, current_run_id, name, current_run_id, name])


def record_run(con: Engine, name: str, run_id: int, previous_run_id: int | None,
               matching: Matching) -> None:
    """Inside the run's transaction: fresh ids, retirements and the per-segment match rows."""
    # one statement for every fresh id (on Spark one job, not one per segment)
    insert_rows(con, "INSERT INTO segdb.segment_ids (segmentation, segment_id, first_run_id) VALUES (?, ?, ?)",
                [[name, segment_id, run_id]
                 for segment_id, previous in zip(matching.ids, matching.matched_from) if previous is None])
    _append_events(con, name, [(sid, "retired", run_id, None) for sid in matching.retired])
    insert_rows(
        con, load_sql("insert_segment_match"),
        [[run_id, previous_run_id, sid, prev, cost]
         for sid, prev, cost in zip(matching.ids, matching.matched_from, matching.costs)])
    backfill(con, name, run_id)


def make_current(con: Engine, name: str, run_id: int) -> None:
    """At a rollback to ``run_id``: its ids are in use again, and every id in use now that it lacks
    is retired by it. Events are appended only where the stored ledger differs from that; the
    ledger as readers see it now (segment_ids.sql: an id of the current run is in use) is the
    starting point, so a refresh or rollback killed before its commit record does not count."""
    backfill(con, name, run_id)
    stored = dict(con.execute("SELECT segment_id, retired_run_id FROM segdb.current_segment_ids "
                              "WHERE segmentation = ?", [name]).fetchall())
    shown = {r[0]: r[3] for r in con.execute(load_sql("segment_ids"), [name]).fetchall()}
    in_run = {r[0] for r in con.execute("SELECT segment_id FROM segdb.segments WHERE run_id = ?",
                                        [run_id]).fetchall()}
    events = []
    for sid in sorted(stored):
        target = None if sid in in_run else (shown.get(sid) if shown.get(sid) is not None else run_id)
        if target != stored[sid]:
            events.append((sid, "reinstated", run_id, None) if target is None
                          else (sid, "retired", target, None))
    _append_events(con, name, events)


def _append_events(con: Engine, name: str, events: list[tuple]) -> None:
    """Append ``(segment_id, kind, run_id, name)`` events, one batch: one seq, after every earlier
    event of ``name`` (its writers hold the segmentation's lock, so no other batch takes it; a
    batch names each id at most once, so the newest event per id and kind is never a tie)."""
    if not events:
        return
    seq = 1 + int(con.execute("SELECT coalesce(max(seq), 0) FROM segdb.segment_id_events "
                              "WHERE segmentation = ?", [name]).fetchall()[0][0])
    now = _now()
    insert_rows(con, "INSERT INTO segdb.segment_id_events (segmentation, segment_id, seq, kind, run_id, "
                     "name, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[name, int(sid), seq, kind, None if run is None else int(run), label, now]
                 for sid, kind, run, label in events])


def set_name(con: Engine, name: str, segment_id: int, label: str | None) -> None:
    """Name (or with ``label=None`` unname) segment ``segment_id`` of segmentation ``name``."""
    definitions.get(con, name)  # a clear error for an unknown segmentation
    current = definitions.current_run_id(con, name)
    if current is None:
        raise NotFoundError(f"segmentation {name!r} has no run yet, so no segment to name; "
                            f"run `segdb refresh {name}` first")
    if label is not None:
        label = " ".join(str(label).split())
        if not label:
            raise DefinitionError(f"the name of segment {segment_id} of {name!r} is empty; "
                                  "give a name, or use label=None to remove it")
    with transaction(con, f"naming segment {segment_id} of {name!r}"):
        _set_name(con, name, current, segment_id, label)
        version = con.execute("SELECT definition_version FROM segdb.runs WHERE run_id = ?",
                              [current]).fetchall()
        if version:
            switch.follow_names(con, definitions.get(con, name, int(version[0][0])), current)


def _set_name(con, name: str, current: int, segment_id: int, label: str | None) -> None:
    backfill(con, name, current)
    rows = con.execute(load_sql("segment_ids"), [name]).fetchall()
    rows = [(r[0], r[1], r[3]) for r in rows]  # segment_id, name, retired_run_id
    known = {r[0]: r for r in rows}
    if segment_id not in known:
        in_use = ", ".join(str(r[0]) for r in rows if r[2] is None)
        raise NotFoundError(f"segmentation {name!r} has no segment {segment_id}; its current "
                            f"segments are {in_use} (see `segdb show {name}`)")
    if label is not None:
        clash = [r[0] for r in rows if r[1] == label and r[0] != segment_id and r[2] is None]
        if clash:
            raise DefinitionError(f"segment {clash[0]} of {name!r} is already named {label!r}; "
                                  "choose another name or rename that segment first")
    _append_events(con, name, [(segment_id, "named", None, label)])


def segment_ids(con: Engine, name: str) -> list[dict]:
    """Every id ``name`` ever used: segment_id, name, first_run_id, retired_run_id, named_at."""
    return dict_rows(con, load_sql("segment_ids"), [name])
