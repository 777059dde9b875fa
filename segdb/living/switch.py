"""Making a run current (refresh and rollback): the views, the scoring functions and the commit
record, in the order each engine needs so that a kill at any moment shows one committed run.

* DuckDB: everything inside the run's transaction; the views name the run (``run_id = N``), which
  DuckDB plans as a constant (see docs/performance.md for the pointer view's cost there).
* PostgreSQL: inside the run's transaction too, but the views read the current run from the commit
  record (segdb.current_runs) and are written only when the definition version they were written
  for changes, so a refresh takes no lock on them: an analyst's open transaction that has read a
  view does not block it, nor does the refresh block the readers queued behind it.
* Spark (no transactions): before the commit record the scoring functions score with whichever of
  the current and the new run is current (segdb.living.macros.stage_macros); the commit record is
  one appended row; after it the views (which read the commit record) and the new run's functions
  are written. Every step before the record leaves the current run shown; every step after it
  shows the new run.
"""

from __future__ import annotations

from ..define import sqlgen
from ..define.definitions import Definition, ensure_label_columns
from ..engines import catalog, dialect_of
from ..engines.base import Engine
from ..engines.quoting import sql_literal
from ..store import commits
from . import macros


def _marker(d: Definition) -> str:
    # A view written by an older segdb has another marker and is replaced once: names from
    # segdb.current_segment_ids (migration 0006; the name column of segdb.segment_ids is no longer
    # written), and the runner-up columns ("with places")
    return (f"segdb: views of {d.name}, definition version {d.version}, current run from "
            "segdb.current_runs, names from segdb.current_segment_ids, with places")


def _postgres_views_current(con: Engine, d: Definition) -> bool:
    """The two views were written by segdb for this definition version, as pointer views."""
    for view in (d.segments_view, d.centroids_view):
        row = con.execute("SELECT obj_description(to_regclass(?), 'pg_class')", [view]).fetchall()
        if not row or row[0][0] != _marker(d):
            return False
    return True


def _pointer_views(con: Engine, d: Definition) -> None:
    if dialect_of(con) == "spark":
        # each view written only when its text differs, by one catalog alteration (see
        # catalog.spark_put_view: CREATE OR REPLACE VIEW is a drop and a create there)
        catalog.spark_put_view(con, f"{d.name}_segments", sqlgen.segments_view_query(d, None, pointer=True))
        catalog.spark_put_view(con, f"{d.name}_centroids", sqlgen.centroids_view_query(d, None, pointer=True))
        return
    con.execute(sqlgen.segments_view(d, None, pointer=True))
    con.execute(sqlgen.centroids_view(d, None, pointer=True))


def _views(con: Engine, d: Definition, run_id: int) -> None:
    """DuckDB and PostgreSQL: the two views of ``run_id``, inside the transaction."""
    if dialect_of(con) == "duckdb":
        con.execute(sqlgen.segments_view(d, run_id))
        con.execute(sqlgen.centroids_view(d, run_id))
    elif not _postgres_views_current(con, d):
        _pointer_views(con, d)
        for view in (d.segments_view, d.centroids_view):
            con.native(f"COMMENT ON VIEW {view} IS {sql_literal(_marker(d))}")


def before_commit(con: Engine, d: Definition, run_id: int, current_run_id: int | None) -> macros.Staged | None:
    """Inside the run's transaction, before :func:`commit`. On Spark returns what the staged
    functions read of the run, to be passed to :func:`after_commit`."""
    ensure_label_columns(con, d)  # the views name the runner-up columns (a rollback to an old run)
    if dialect_of(con) == "spark":
        return macros.stage_macros(con, d.name, run_id, d, current_run_id)
    _views(con, d, run_id)
    macros.create_macros(con, d.name, run_id, d)
    return None


def follow_names(con: Engine, d: Definition, run_id: int) -> None:
    """After a name was appended (segdb.living.ledger): views written by a segdb before migration
    0006 read names from a column no longer written, so the current run's views (``d``: its
    definition version) are rewritten where they may be such views. On PostgreSQL only when their
    marker is older (a view replacement waits for readers' locks); on DuckDB inside the
    transaction (cheap); on Spark only when their text differs."""
    if dialect_of(con) == "spark":
        _pointer_views(con, d)
    else:
        _views(con, d, run_id)


def commit(con: Engine, d: Definition, run_id: int, action: str) -> None:
    """The one write that makes ``run_id`` current (segdb.store.commits)."""
    commits.commit_run(con, d.name, run_id, action)


def after_commit(con: Engine, d: Definition, run_id: int, staged: macros.Staged | None = None) -> None:
    """After :func:`commit` (Spark only: elsewhere all is done inside the transaction). The views
    are checked every time (a kill before may have left them for another definition version) and
    rewritten only where their text differs. ``staged``: what :func:`before_commit` returned (the
    run's model and rules, not read a second time)."""
    if dialect_of(con) != "spark":
        return
    _pointer_views(con, d)
    macros.create_macros(con, d.name, run_id, d, staged)
