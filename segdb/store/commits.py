"""Which run of a segmentation is current: the newest of its commit records (segdb.run_commits,
migration 0005), appended once per refresh or rollback and never rewritten.

Appending one row is the one write that makes a run current, on every engine: on DuckDB and
PostgreSQL inside the run's transaction, on Spark (no transactions) as the run's last essential
write, after everything the run shows. Every reader of the current run goes through
:func:`current_run_id` or the view segdb.current_runs, so a run whose record was never written is
shown nowhere.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..engines.base import Engine
from .sqlfiles import load_sql


def current_run_id(con: Engine, name: str) -> int | None:
    """The current run of ``name``; None before its first run (or for an unknown name)."""
    rows = con.execute(load_sql("current_run"), [name]).fetchall()
    return int(rows[0][0]) if rows else None


def commit_run(con: Engine, name: str, run_id: int, action: str) -> None:
    """Make ``run_id`` the current run of ``name`` (``action``: 'refresh' or 'rollback').
    segdb.segmentations.current_run_id is no longer written (NULL since migration 0005)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute(load_sql("insert_run_commit"), [name, int(run_id), action, now, name])
