"""The Python API: open a database, define segmentations, refresh them, read the results.

    import segdb
    with segdb.connect("customers.duckdb") as db:
        db.create("insurance", source="survey_responses", key="customer_id",
                  features=["Premium savings very important", "Agent not important"], k=2)
        run = db.refresh("insurance")
        labels = db.segments("insurance").df()           # pandas; .to_arrow_table() for Arrow

Every method raises :class:`segdb.SegdbError` (one line: what, where, how to fix) on bad input.
A ``Database`` owns one DuckDB connection; use one per thread (``db.cursor()`` gives another).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa

from .define import definitions, importer
from .store import migrations
from .refresh import pipeline as refresh_mod
from .present import results
from .engines.duckdb import DEFAULT_LOCK_TIMEOUT, new_cursor, remove_unfinished, unfinished_file
from .store.database import read_only_reads, translate
from .engines import dialect_of, kind_of_target, open_connection
from .errors import DatabaseError, NotFoundError, SegdbError
from .engines.base import ENGINE_ERRORS, Engine

# Not "segdb.duckdb": DuckDB would name that file's catalog "segdb", like segdb's schema, and in a
# plain duckdb session `segdb.<table>` (and so every view segdb writes) would be ambiguous there.
DEFAULT_DATABASE = "segments.duckdb"


def default_path() -> str:
    return os.environ.get("SEGDB_DATABASE") or DEFAULT_DATABASE


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False,
            lock_timeout: float = DEFAULT_LOCK_TIMEOUT, migrate: bool = True,
            create: bool = True) -> "Database":
    """Open (or, unless ``read_only`` or ``create=False``, create) a DuckDB database for segdb.

    Writers bring segdb's own schema up to date (``migrate=False`` to refuse instead); readers
    require it to be current and never write.
    """
    db = open_without_schema(path, read_only=read_only, lock_timeout=lock_timeout, create=create)
    try:
        if read_only or not migrate:
            migrations.require_current(db.con, db.path)
        else:
            migrations.apply(db.con)
    except BaseException:
        db.discard()
        raise
    return db


def open_without_schema(path: str | os.PathLike | None = None, *, read_only: bool = False,
                        lock_timeout: float = DEFAULT_LOCK_TIMEOUT, create: bool = True) -> "Database":
    """Open a database without touching or requiring segdb's schema (import, sql, migrate --list)."""
    target = _target(path)
    new_file = _new_duckdb_file(target)
    try:
        con, path = open_connection(target, read_only=read_only, lock_timeout=lock_timeout, create=create)
    except BaseException:
        if new_file and create and not read_only:  # a full disk: DuckDB leaves a 0-byte file
            remove_unfinished(target)
        raise
    return Database(con, path, read_only=read_only, created_file=target if new_file else None)


def _new_duckdb_file(target) -> bool:
    """Whether opening ``target`` creates its DuckDB file: it does not exist, or it is an unfinished
    file holding nothing, which a writer starts afresh (segdb.engines.duckdb.unfinished_file)."""
    return (isinstance(target, str) and kind_of_target(target) == "duckdb" and target != ":memory:"
            and (not os.path.lexists(target) or unfinished_file(target)))


def _target(path):
    """A DuckDB path (default: $SEGDB_DATABASE or segments.duckdb), a URL, an sqlalchemy.Engine or a SparkSession."""
    if path is None:
        return default_path()
    return str(path) if isinstance(path, os.PathLike) else path


class Database:
    def __init__(self, con: Engine, path: str, *, read_only: bool = False,
                 created_file: str | None = None):
        self.con = con
        self.path = path
        self.read_only = read_only
        self.created_file = created_file  # the DuckDB file this Database created, if it did
        # called once with one line when a command waits for another session's lock on a
        # segmentation (PostgreSQL; segdb.store.locks); None: logged on the "segdb" logger
        self.on_wait = None

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def discard(self) -> None:
        """Close, and remove the database file if this ``Database`` created it: a command that
        fails leaves no new file behind. Files that existed before are never removed."""
        self.close()
        if self.created_file is None:
            return
        for leftover in (self.created_file, self.created_file + ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)
        shutil.rmtree(self.created_file + ".tmp", ignore_errors=True)
        self.created_file = None

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cursor(self) -> "Database":
        """Another connection to the same database, for another thread."""
        cursor = new_cursor(self.con) if dialect_of(self.con) == "duckdb" else self.con.cursor()
        db = Database(cursor, self.path, read_only=self.read_only)
        db.on_wait = self.on_wait
        return db

    def _locked(self, name: str, command: str):
        """Segmentation ``name``'s writer lock (segdb.store.locks) for ``command``: held from before
        the command reads the current run until after its COMMIT."""
        from .store.locks import segmentation_lock
        return segmentation_lock(self.con, name, command, on_wait=self.on_wait)

    # -- schema ------------------------------------------------------------------------------
    def init(self) -> list[migrations.Migration]:
        """Apply pending migrations; returns those applied."""
        return migrations.apply(self.con)

    def migration_status(self) -> list[migrations.MigrationState]:
        return migrations.status(self.con)

    # -- data --------------------------------------------------------------------------------
    def import_file(self, path, table: str, *, replace: bool = False, encoding: str = "utf-8") -> int:
        return importer.import_file(self.con, path, table, replace=replace, encoding=encoding)

    def sql(self, query: str, params=None) -> pa.Table:
        """Run any SQL, in the engine's own dialect; returns its result (of the last statement) as an
        Arrow table (empty for statements).

        A script of several statements is all or nothing, as ``psql -c`` runs it on PostgreSQL
        (one implicit transaction): on DuckDB it runs in one transaction, so a failing statement
        leaves none of the others' changes behind and the error names it. A script with its own
        BEGIN/COMMIT runs as written. Spark has no transactions."""
        try:
            if dialect_of(self.con) != "duckdb":
                return self.con.native(query, params).to_arrow_table()
            statements = self.con.extract_statements(query) if not params else []
            if len(statements) > 1 and not any(
                    st.type == duckdb.StatementType.TRANSACTION for st in statements):
                return self._script(statements)
            rel = self.con.sql(query, params=params) if params else self.con.sql(query)
        except ENGINE_ERRORS as exc:
            raise translate(exc, "the query", self.con) from exc
        if rel is None:
            return pa.table({})
        return rel.to_arrow_table()

    def _script(self, statements) -> pa.Table:
        result = pa.table({})
        self.con.execute("BEGIN TRANSACTION")
        try:
            for number, statement in enumerate(statements, 1):
                try:
                    rel = self.con.sql(statement.query)
                    result = rel.to_arrow_table() if rel is not None else pa.table({})
                except ENGINE_ERRORS as exc:
                    raise DatabaseError(
                        f"statement {number} of {len(statements)} of the script failed: "
                        f"{translate(exc, 'it').message.removeprefix('it failed: ')}; nothing was "
                        "changed (the script runs as one transaction)") from exc
            self.con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(*ENGINE_ERRORS):
                self.con.execute("ROLLBACK")
            raise
        return result

    # -- segmentations -----------------------------------------------------------------------
    def create(self, name: str, *, source: str, key: str, features, k: int | str = 3,
               scale: str = "zscore", nulls: str = "skip", seed: int = definitions.DEFAULT_SEED,
               n_init: int = definitions.DEFAULT_N_INIT, max_fit_rows: int | None = None,
               replace: bool = False, weight: str | None = None,
               k_range=None, external_access: bool = False,
               warm_start: bool = False,
               rules_depth: int | None = None) -> definitions.Definition:
        """Define (or with ``replace=True`` redefine as a new version) a segmentation.

        ``features`` are column names, :class:`segdb.define.features.Feature` objects or dicts of their
        fields (``expr``, ``kind`` likert/category, ``scale_min``/``scale_max``, ``codes``,
        ``reverse``, ``weight``; see docs/features.md); ``weight`` names a survey-weight column.
        ``k="auto"`` lets each refresh choose k in ``k_range`` (default
        :data:`segdb.define.definitions.DEFAULT_K_RANGE`, 2..10); see segdb.quality.kselect.
        On DuckDB a source or expression may not read files or URLs or load extensions unless
        ``external_access=True`` (stored with the definition; segdb.define.access).
        ``warm_start=True`` makes every refresh start from the current run's centroids, as
        ``refresh(name, warm_start=True)`` does for one refresh (segdb.refresh.warmstart).
        ``rules_depth``: the depth of the decision tree each refresh reads the segments' readable
        rules from (default 3; 0: no rules; segdb.quality.rules)."""
        self._require_writable(f"define {name!r}")
        # a redefinition must not land in the middle of another session's refresh of the same name
        with self._locked(name, "create"):
            with read_only_reads(self.con, name):  # PostgreSQL: the checks read the source without side effects
                d = definitions.validate(self.con, name=name, source=source, key=key, features=features,
                                         k=k, scale=scale, nulls=nulls, seed=seed, n_init=n_init,
                                         max_fit_rows=max_fit_rows, weight=weight, k_range=k_range,
                                         external_access=external_access, warm_start=warm_start,
                                         rules_depth=rules_depth)
            return definitions.store(self.con, d, replace=replace)

    def apply(self, path) -> list:
        """Create or update the segmentations declared in a TOML file (see :mod:`segdb.define.config`);
        returns one ``Applied(name, action, version)`` per segmentation, in file order."""
        from .define import config
        self._require_writable(f"apply {path}")
        with contextlib.ExitStack() as locks:
            for name in sorted({decl.name for decl in config.parse(path)}):  # one order: no deadlock
                locks.enter_context(self._locked(name, "apply"))
            return config.apply(self.con, path)

    def category_shares(self, name: str, run_id: int | None = None) -> duckdb.DuckDBPyRelation:
        """Per segment, each category level's share (and weighted share) in a run (default: current)."""
        if run_id is None:
            run_id = definitions.current_run_id(self.con, name)
            if run_id is None:
                raise NotFoundError(f"segmentation {name!r} has no run yet; run `segdb refresh {name}`")
        from .store.sqlfiles import load_sql
        return self.con.sql(load_sql("run_category_shares"), params=[run_id])

    def definition(self, name: str, version: int | None = None) -> definitions.Definition:
        return definitions.get(self.con, name, version)

    def names(self) -> list[str]:
        return definitions.names(self.con)

    def refresh(self, name: str, *, triggered_by: str | None = None,
                progress=None, scan: bool = False,
                warm_start: bool | None = None) -> refresh_mod.RunResult:
        """Re-segment ``name``; ``scan=True`` also stores the k scan for a fixed k.

        ``warm_start=True`` starts k-means from the current run's centroids (``False``: k-means++
        restarts; ``None``: as the definition says). It falls back to a cold start, recorded in the
        run row (``fit_start``, ``fit_start_note``), when k, the features or the scaling changed."""
        self._require_writable(f"refresh {name!r}")
        from .refresh.scalable import duckdb_memory_bound
        with self._locked(name, "refresh"), duckdb_memory_bound(self.con):  # bounded memory at any table size
            return refresh_mod.refresh(self.con, name, triggered_by=triggered_by, progress=progress,
                                       scan=scan, warm_start=warm_start)

    def _require_writable(self, what: str) -> None:
        # Fail before any work rather than at the final write.
        if self.read_only:
            raise DatabaseError(f"cannot {what}: database {self.path} is open read-only; "
                                "open it with segdb.connect(path) to write")

    def refresh_all(self, **kwargs) -> list[refresh_mod.RunResult]:
        return [self.refresh(n, **kwargs) for n in self.names()]

    # -- results -----------------------------------------------------------------------------
    def show(self, name: str, run_id: int | None = None) -> results.RunSummary:
        return results.run_summary(self.con, name, run_id)

    def show_sql(self, name: str) -> str:
        """Every statement a refresh of ``name`` runs, as a script to run by hand (segdb.present.showsql)."""
        from .present import showsql
        return showsql.script(self.con, name)

    def runs(self, name: str) -> list[dict]:
        return results.run_history(self.con, name)

    def list(self) -> list[dict]:
        return results.list_segmentations(self.con)

    def segments(self, name: str, run_id: int | None = None) -> duckdb.DuckDBPyRelation:
        """Per-customer labels (the ``<name>_segments`` view, or any run's) as a DuckDB relation:
        call ``.to_arrow_table()``, ``.df()`` or ``.fetchall()`` on it."""
        d = definitions.get(self.con, name)
        if run_id is None:
            if definitions.current_run_id(self.con, name) is None:
                raise NotFoundError(f"segmentation {name!r} has no run yet; run `segdb refresh {name}`")
            return self.con.sql(f"SELECT * FROM {d.segments_view}")
        from .engines.quoting import quote_identifier
        return self.con.sql(
            f"SELECT segdb_key AS {quote_identifier(d.key)}, segment_id, distance, run_id "
            f"FROM {d.labels_table} WHERE run_id = ?", params=[run_id])

    def centroids(self, name: str) -> duckdb.DuckDBPyRelation:
        d = definitions.get(self.con, name)
        if definitions.current_run_id(self.con, name) is None:
            raise NotFoundError(f"segmentation {name!r} has no run yet; run `segdb refresh {name}`")
        return self.con.sql(f"SELECT * FROM {d.centroids_view}")

    # -- living segments (docs/living_segments.md) -------------------------------------------
    def name_segment(self, name: str, segment_id: int, label: str | None) -> None:
        """Name segment ``segment_id`` (``label=None`` removes the name); names follow the id."""
        from .living import ledger
        self._require_writable(f"name segment {segment_id} of {name!r}")
        with self._locked(name, "name"):
            ledger.set_name(self.con, name, int(segment_id), label)

    def segment_ids(self, name: str) -> list[dict]:
        """Every segment id ``name`` ever used, with its name, first and retiring run."""
        from .living import ledger
        definitions.get(self.con, name)
        return ledger.segment_ids(self.con, name)

    def transitions(self, name: str, run_id: int | None = None) -> list[dict]:
        """Customers per (segment in the previous run, segment in this run); NULL = new / gone."""
        from .living import transitions as living
        return living.transitions(self.con, self.show(name, run_id).run["run_id"])

    def assign(self, name: str):
        """Label the source's customers the current run has not labelled (SQL, no refit)."""
        from .living import assign
        self._require_writable(f"assign new customers of {name!r}")
        with self._locked(name, "assign"):
            return assign.assign_new(self.con, name)

    def drift(self, name: str, *, limits: dict | None = None, record: bool = True,
              triggered_by: str | None = None):
        """Compare the source now with the current run; ``.refresh_advised`` applies the rule."""
        from .living import drift
        if not record:
            return drift.check(self.con, name, limits=limits, record=False, triggered_by=triggered_by)
        self._require_writable(f"record a drift check of {name!r} (record=False reads only)")
        with self._locked(name, "drift"):  # the recorded check names the current run: not one mid-switch
            return drift.check(self.con, name, limits=limits, record=True, triggered_by=triggered_by)

    def rollback(self, name: str, run_id: int | None = None, *, triggered_by: str | None = None):
        """Make an earlier succeeded run current again (views and macros follow)."""
        from .living import history
        self._require_writable(f"roll back {name!r}")
        with self._locked(name, "rollback"):
            return history.rollback(self.con, name, run_id, triggered_by=triggered_by)

    def unlock(self, name: str) -> str | None:
        """Remove segmentation ``name``'s writer lock left by a killed segdb process, on Spark
        without a local warehouse (segdb.store.catalog_lock); returns what the lock said of its
        holder, or None when there was none. Elsewhere a lock dies with its process: always None."""
        from .store.catalog_lock import unlock
        self._require_writable(f"unlock {name!r}")
        if dialect_of(self.con) != "spark" or getattr(self.con, "local_metastore", False):
            return None
        return unlock(self.con, name)

    def prune(self, name: str, keep: int):
        """Delete the rows of all but the ``keep`` newest runs; the current run always stays."""
        from .living import history
        self._require_writable(f"prune {name!r}")
        with self._locked(name, "prune"):
            return history.prune(self.con, name, keep)

    # -- quality, profiles, pictures (segdb.quality.store, segdb.profiles, segdb.present.plots, segdb.present.report)
    def quality(self, name: str, run_id: int | None = None):
        """The run's stored quality (segdb.quality.store.QualityRecord: .run, .segments, .k_scan),
        or None for a run written before quality was stored."""
        return results.run_summary(self.con, name, run_id).quality

    def profiles(self, name: str, run_id: int | None = None) -> list[dict]:
        """Per segment and feature: mean_raw, z_diff, effect_size (Cohen's d), rank (by |d|)."""
        from .quality import profiles
        summary = results.run_summary(self.con, name, run_id)
        return profiles.read_profiles(self.con, int(summary.run["run_id"]))

    def rules(self, name: str, run_id: int | None = None):
        """The run's readable segment rules (segdb.present.rules_text.RunRules: ``.tree`` with the
        fidelity, ``.rules`` with each rule's condition_sql, coverage and precision, ``.case_sql()``
        the pasteable CASE); ``.tree`` is None for a run without rules."""
        return results.run_summary(self.con, name, run_id).rules

    def plot(self, name: str, out_dir, run_id: int | None = None) -> dict:
        """Write the run's PNGs into ``out_dir``; returns {plot name: path or None if not drawable}."""
        from .present import plots
        return plots.write_plots(self.con, name, out_dir, run_id)

    def report(self, name: str, out, run_id: int | None = None) -> Path:
        """Write one self-contained HTML report of the run to ``out``; returns its path."""
        from .present import report
        return report.write_report(self.con, name, out, run_id)


__all__ = ["connect", "open_without_schema", "Database", "SegdbError", "default_path"]
