"""segdb's own schema: numbered migrations in ``migrations/``, applied in order, recorded in a ledger.

Each migration runs in its own transaction together with its ledger row, so a crash leaves the
database at the previous version, never between two. Spark has no transactions: there a killed
migration is run again by the next ``init``, its statements made re-runnable (:func:`_rerunnable`).
The ledger keeps each file's SHA-256: a migration edited after it was applied is refused, and so is a database whose schema is newer than
this segdb.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path


import sqlglot
from sqlglot import exp

from .database import transaction
from ..engines import catalog, dialect_of
from ..errors import SchemaError
from .sqlfiles import migrations_dir
from ..engines.base import Engine

_FILE_RE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql\Z")

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS segdb.schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        VARCHAR NOT NULL,
    checksum    VARCHAR NOT NULL,
    applied_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclasses.dataclass(frozen=True)
class MigrationState:
    migration: Migration | None
    version: int
    name: str
    applied: bool
    applied_at: object = None


def available_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or migrations_dir()
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise SchemaError(f"migration file {path.name} is not named NNNN_what_it_does.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"two migrations share a number in {folder}")
    return found


def _ledger_exists(con: Engine) -> bool:
    return catalog.table_type(con, "segdb", "schema_migrations") is not None


def applied_rows(con: Engine) -> dict[int, tuple[str, str, object]]:
    if not _ledger_exists(con):
        return {}
    rows = con.execute(
        "SELECT version, name, checksum, applied_at FROM segdb.schema_migrations ORDER BY version"
    ).fetchall()
    return {v: (n, c, at) for v, n, c, at in rows}


def status(con: Engine, migrations: list[Migration] | None = None) -> list[MigrationState]:
    """Every known and every applied migration, in order; writes nothing."""
    migrations = available_migrations() if migrations is None else migrations
    applied = applied_rows(con)
    known = {m.version: m for m in migrations}
    states = []
    for version in sorted(set(known) | set(applied)):
        m = known.get(version)
        row = applied.get(version)
        states.append(MigrationState(m, version, m.name if m else row[0], row is not None,
                                     row[2] if row else None))
    return states


def check(con: Engine, migrations: list[Migration] | None = None) -> list[Migration]:
    """Verify the ledger against the files; return the migrations still to apply."""
    migrations = available_migrations() if migrations is None else migrations
    applied = applied_rows(con)
    known = {m.version: m for m in migrations}
    newest_known = max(known, default=0)
    newer = [v for v in applied if v not in known]
    if newer:
        raise SchemaError(
            f"the database was made by a newer segdb: its segdb schema is at version {max(applied)}, "
            f"and this segdb knows versions up to {newest_known}; upgrade segdb "
            "(`pip install -U segdb`) to use this database"
        )
    for version, (name, checksum, _) in applied.items():
        if known[version].checksum != checksum:
            raise SchemaError(
                f"migration {version:04d}_{name}.sql was edited after it was applied to this "
                "database (checksum mismatch); restore the original file and put the change "
                "in a new migration"
            )
    return [m for m in migrations if m.version not in applied]


def apply(con: Engine, migrations: list[Migration] | None = None,
          up_to: int | None = None) -> list[Migration]:
    """Apply every pending migration (or those up to ``up_to``), each in its own transaction."""
    todo = check(con, migrations)
    if not todo:  # every migration is in the ledger, so it exists: not looked up again (Spark: catalog calls)
        return todo
    if up_to is not None:
        todo = [m for m in todo if m.version <= up_to]
    if not _ledger_exists(con):
        with transaction(con, "creating segdb's migration ledger"):
            con.execute("CREATE SCHEMA IF NOT EXISTS segdb")
            con.execute(LEDGER_DDL)
    spark = dialect_of(con) == "spark"
    for m in todo:
        with transaction(con, f"migration {m.version:04d}_{m.name}"):
            for statement in con.extract_statements(m.sql):
                if spark:
                    statement = _rerunnable(con, str(statement))
                    if statement is None:
                        continue
                con.execute(statement)
            con.execute(
                "INSERT INTO segdb.schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                [m.version, m.name, m.checksum],
            )
    return todo


def _rerunnable(con: Engine, statement: str) -> str | None:
    """Spark has no transactions: a migration killed half-way has run some of its statements but
    has no ledger row, so the next ``init`` runs it again. Its statements are made to finish the
    job instead of failing on what exists: CREATE TABLE ... IF NOT EXISTS, CREATE OR REPLACE VIEW,
    an ADD COLUMN that is there already skipped (None). A per-run table is partitioned by run
    (:func:`_per_run_table`). A migration's INSERTs must themselves skip
    the rows they already wrote (see 0005)."""
    tree = sqlglot.parse_one(statement, read="duckdb")
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind", "")).upper()
        if kind == "TABLE":
            tree.set("exists", True)
            if _per_run_table(tree):
                return tree.sql(dialect="duckdb") + " PARTITIONED BY (run_id)"
        elif kind == "VIEW":
            tree.set("replace", True)
        return tree.sql(dialect="duckdb")
    if isinstance(tree, exp.Alter):
        added = [a for a in tree.args.get("actions") or [] if isinstance(a, exp.ColumnDef)]
        if added and len(added) == len(tree.args["actions"]):
            have = {c[0].lower() for c in con.execute(
                f"DESCRIBE SELECT * FROM {tree.this.sql(dialect='duckdb')}").fetchall()}
            if all(a.name.lower() in have for a in added):
                return None
    return statement


# Tables with a run_id column whose rows prune keeps (the audit trail): not partitioned on Spark.
SPARK_WHOLE_TABLES = ("runs", "run_commits", "run_prunes", "drift_checks", "segment_id_events")


def _per_run_table(tree) -> bool:
    """On Spark, segdb's per-run tables (a run_id column; not the audit trail prune keeps) are
    created PARTITIONED BY (run_id), so that prune drops a run's partition instead of rewriting the
    table (a copy-and-swap: two renames). Only a database's first ``init`` creates them so: tables
    of an older database stay as they are, and prune deletes from those as before."""
    schema = tree.this
    if not isinstance(schema, exp.Schema) or not isinstance(schema.this, exp.Table):
        return False
    columns = {c.name.lower() for c in schema.expressions if isinstance(c, exp.ColumnDef)}
    return "run_id" in columns and schema.this.name.lower() not in SPARK_WHOLE_TABLES and len(columns) > 1


def require_current(con: Engine, path: str) -> None:
    """For read commands: the schema must exist and be up to date."""
    if not _ledger_exists(con):
        raise SchemaError(f"database {path} has no segdb schema; run `segdb init` "
                          "(or define a segmentation, which initialises it)")
    todo = check(con)
    if todo:
        have = max(applied_rows(con), default=0)
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in todo)
        if todo[-1].version < have:  # a gap below the newest applied one: said as such, not as "old"
            raise SchemaError(f"database {path} has segdb schema version {have} but lacks migration "
                              f"{names}; run `segdb init` to apply it")
        raise SchemaError(f"database {path} has segdb schema version {have} but this segdb needs "
                          f"{todo[-1].version}; run `segdb init` to upgrade it")

