"""The ledger of segment ids (segdb.segment_ids): every id a segmentation ever used, its name, the run
that introduced it and the run that retired it. Ids are never reused, so a name or a campaign keyed
to an id always means the same group.
"""

from __future__ import annotations

from datetime import datetime, timezone


from ..define import definitions
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
    if matching.retired:
        con.execute("UPDATE segdb.segment_ids SET retired_run_id = ? WHERE segmentation = ? "
                    "AND list_contains(?, segment_id)", [run_id, name, list(matching.retired)])
    insert_rows(
        con, load_sql("insert_segment_match"),
        [[run_id, previous_run_id, sid, prev, cost]
         for sid, prev, cost in zip(matching.ids, matching.matched_from, matching.costs)])
    backfill(con, name, run_id)


def make_current(con: Engine, name: str, run_id: int) -> None:
    """After a rollback to ``run_id``: its ids are in use again, every other id is retired by it."""
    backfill(con, name, run_id)
    con.execute(load_sql("reinstate_segment_ids"), [run_id, run_id, name])


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
    con.execute("UPDATE segdb.segment_ids SET name = ?, named_at = ? "
                "WHERE segmentation = ? AND segment_id = ?", [label, _now(), name, segment_id])


def segment_ids(con: Engine, name: str) -> list[dict]:
    """Every id ``name`` ever used: segment_id, name, first_run_id, retired_run_id, named_at."""
    return dict_rows(con, load_sql("segment_ids"), [name])
