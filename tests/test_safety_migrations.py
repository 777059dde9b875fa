"""Schema migrations keep every row: a database made with the first schema upgrades to the current
one intact; a newer schema and an edited migration are refused with one line.

The upgrade test does not depend on what later migrations contain: it fills a database that has
only migration 0001 with real segdb output (made by the current code in a second database, then
copied column by column into 0001's tables), upgrades it with whatever migrations exist, and
compares every row of every 0001 table and of the user's and label tables before and after.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

import segdb
from segdb.store import migrations
from segdb.errors import SchemaError, SegdbError
from conftest import DATA, WHOLESALE_COLUMNS, load_wholesale, run_cli, table_checksums


def newest_version() -> int:
    return max(m.version for m in migrations.available_migrations())


def tables_of_0001(con) -> dict[str, list[str]]:
    """segdb's tables right after migration 0001, with their columns in order."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'segdb' AND table_name <> 'schema_migrations' "
        "ORDER BY table_name, ordinal_position").fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def snapshot(con, tables: dict[str, list[str]], extra: list[str]) -> dict[str, list[tuple]]:
    """Every row (sorted) of the given segdb tables' given columns, and of ``extra`` tables whole."""
    out = {}
    for table, columns in tables.items():
        cols = ", ".join(q(c) for c in columns)
        out[table] = con.execute(f"SELECT {cols} FROM segdb.{q(table)} ORDER BY ALL").fetchall()
    for name in extra:
        out[name] = con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
    return out


@pytest.fixture
def first_schema_db(tmp_path):
    """A database at schema version 1 holding two segmentations, three runs and their labels."""
    full = str(tmp_path / "made_by_current_segdb.duckdb")
    with segdb.connect(full) as db:
        load_wholesale(db.con)
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
        db.refresh("ws")
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS[:4], k=4,
                  replace=True)
        db.refresh("ws")
        db.create("milk", source="SELECT * FROM wholesale WHERE Region = 3", key="customer_id",
                  features=["Milk", "Grocery"], k=2, nulls="mean", scale="minmax")
        db.refresh("milk")
    path = str(tmp_path / "first_schema.duckdb")
    con = duckdb.connect(path)
    try:
        applied = migrations.apply(con, up_to=1)
        assert [m.version for m in applied] == [1]
        tables = tables_of_0001(con)
        con.execute("ATTACH ? AS made (READ_ONLY)", [full])
        con.execute("CREATE TABLE wholesale AS SELECT * FROM made.wholesale")
        for table, columns in tables.items():
            cols = ", ".join(q(c) for c in columns)
            con.execute(f"INSERT INTO segdb.{q(table)} ({cols}) SELECT {cols} FROM made.segdb.{q(table)}")
        for name in ("ws", "milk"):  # label tables are made per segmentation, as 0001's comment says
            con.execute(f"CREATE TABLE segdb.{q(name + '_labels')} AS "
                        f"SELECT run_id, segdb_key, segment_id, distance, fitted "
                        f"FROM made.segdb.{q(name + '_labels')}")
        # The current run as the old segdb kept it (this segdb keeps it in segdb.run_commits).
        con.execute("UPDATE segdb.segmentations AS s SET current_run_id = (SELECT c.run_id "
                    "FROM made.segdb.current_runs AS c WHERE c.segmentation = s.name)")
        # The run id sequence stands where the old segdb left it.
        last_run = con.execute("SELECT max(run_id) FROM segdb.runs").fetchall()[0][0]
        con.execute("SELECT nextval('segdb.run_id_seq') FROM range(?)", [last_run]).fetchall()
        con.execute("DETACH made")
    finally:
        con.close()
    return path, tables


def snapshot_without(snap: dict, tables: dict[str, list[str]], column: str) -> dict:
    """``snap`` with ``column`` of segmentations left out."""
    i = tables["segmentations"].index(column)
    return {**snap, "segmentations": sorted(r[:i] + r[i + 1:] for r in snap["segmentations"])}


EXTRA_TABLES = ["wholesale", 'segdb."ws_labels"', 'segdb."milk_labels"']


def test_first_schema_upgrades_with_every_row_intact(first_schema_db):
    path, tables = first_schema_db
    con = duckdb.connect(path, read_only=True)
    before = snapshot(con, tables, EXTRA_TABLES)
    con.close()
    assert len(before["runs"]) == 3 and len(before['segdb."ws_labels"']) == 2 * 440

    # `migrate --list` names what is pending and writes nothing.
    files_before = table_checksums(path)
    listed = run_cli(["migrate", "--list"], path)
    assert listed.exit_code == 0, listed.output
    rows = [line.split()[:3] for line in listed.stdout.splitlines()[2:]]
    assert rows == [[f"{m.version:04d}", m.name, "applied" if m.version == 1 else "pending"]
                    for m in migrations.available_migrations()]
    assert table_checksums(path) == files_before

    upgraded = run_cli(["init"], path)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.endswith(f"segdb schema at version {newest_version()} in {path}\n")

    with segdb.connect(path, migrate=False) as db:
        # every row intact; segmentations.current_run_id moved to segdb.run_commits (0005)
        at = tables["segmentations"].index("current_run_id")
        current_before = sorted((r[0], r[at]) for r in before["segmentations"])
        kept = {**tables, "segmentations": [c for c in tables["segmentations"] if c != "current_run_id"]}
        assert snapshot(db.con, kept, EXTRA_TABLES) == snapshot_without(before, tables, "current_run_id")
        assert sorted(db.con.execute("SELECT segmentation, run_id FROM segdb.current_runs").fetchall()) \
            == current_before and all(c is not None for _, c in current_before)
        assert [s.version for s in db.migration_status() if s.applied] == \
            [m.version for m in migrations.available_migrations()]
        # The old runs read back, and the upgraded database refreshes on.
        assert db.show("ws").run["run_id"] == 2
        assert db.segments("ws", run_id=1).fetchall() and len(db.segments("ws", run_id=1).fetchall()) == 440
        # every run the old segdb wrote was current once: each has a commit record, none reads as
        # abandoned, and an older one can be made current again
        assert sorted(db.con.execute("SELECT segmentation, run_id FROM segdb.run_commits").fetchall()) \
            == sorted((r[tables["runs"].index("segmentation")], r[tables["runs"].index("run_id")])
                      for r in before["runs"])
        assert {r["status"] for r in db.runs("ws")} == {"succeeded"}
        assert db.rollback("ws", 1).to_run_id == 1 and db.show("ws").run["run_id"] == 1
        run = db.refresh("ws")
        assert run.run_id == 4 and run.rows_used == 440
        assert [r["run_id"] for r in db.runs("ws")] == [4, 2, 1]


def copy_migrations(folder: Path) -> Path:
    folder.mkdir()
    for m in migrations.available_migrations():
        shutil.copyfile(m.path, folder / m.path.name)
    return folder


def test_a_later_migration_that_reshapes_tables_keeps_every_row(first_schema_db, tmp_path):
    """A test-only migration numbered after every real one adds a column with a default,
    backfills a new table from existing rows and adds an index, atomically with its ledger row."""
    path, tables = first_schema_db
    folder = copy_migrations(tmp_path / "migrations")
    (folder / "9001_test_reshape.sql").write_text(
        "-- 9001_test_reshape (test only): a column with a default, a backfilled table, an index\n"
        "ALTER TABLE segdb.runs ADD COLUMN note VARCHAR DEFAULT 'migrated';\n"
        "CREATE TABLE segdb.run_sizes AS SELECT run_id, sum(size) AS customers "
        "FROM segdb.segments GROUP BY run_id;\n"
        "CREATE INDEX runs_by_segmentation ON segdb.runs (segmentation);\n")
    con = duckdb.connect(path)
    try:
        before = snapshot(con, tables, EXTRA_TABLES)
        applied = migrations.apply(con, migrations.available_migrations(folder))
        assert applied[-1].version == 9001
        # every row intact; segmentations.current_run_id moved to segdb.run_commits (0005)
        kept = {**tables, "segmentations": [c for c in tables["segmentations"] if c != "current_run_id"]}
        assert snapshot(con, kept, EXTRA_TABLES) == snapshot_without(before, tables, "current_run_id")
        assert con.execute("SELECT DISTINCT note FROM segdb.runs").fetchall() == [("migrated",)]
        region3 = int((np.genfromtxt(DATA / "wholesale_customers.csv", delimiter=",",
                                     skip_header=1)[:, 1] == 3).sum())
        assert con.execute("SELECT run_id, customers FROM segdb.run_sizes ORDER BY 1").fetchall() == \
            [(1, 440), (2, 440), (3, region3)]
    finally:
        con.close()


def test_a_failing_migration_applies_nothing(first_schema_db, tmp_path):
    path, _ = first_schema_db
    folder = copy_migrations(tmp_path / "migrations")
    (folder / "9002_test_breaks.sql").write_text(
        "-- 9002_test_breaks (test only): the second statement fails\n"
        "ALTER TABLE segdb.runs ADD COLUMN half_done INTEGER;\n"
        "ALTER TABLE segdb.no_such_table ADD COLUMN x INTEGER;\n")
    con = duckdb.connect(path)
    try:
        migrations.apply(con, [m for m in migrations.available_migrations(folder) if m.version < 9000])
        before = table_checksums_on(con)
        with pytest.raises(SegdbError) as err:
            migrations.apply(con, migrations.available_migrations(folder))
        assert err.value.message.startswith("migration 9002_test_breaks failed: Catalog Error: "
                                            "Table with name no_such_table does not exist!")
        assert table_checksums_on(con) == before
        columns = [r[0] for r in con.execute("DESCRIBE segdb.runs").fetchall()]
        assert "half_done" not in columns
        assert 9002 not in migrations.applied_rows(con)
    finally:
        con.close()


def table_checksums_on(con) -> dict:
    tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                         "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
    return {f"{s}.{t}": con.execute(f"SELECT count(*), bit_xor(hash(x)) FROM {q(s)}.{q(t)} AS x")
            .fetchall()[0] for s, t in tables}


@pytest.fixture
def current_db(tmp_path):
    path = str(tmp_path / "current.duckdb")
    with segdb.connect(path) as db:
        load_wholesale(db.con)
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
        db.refresh("ws")
    return path


@pytest.mark.parametrize("command", [["refresh", "ws"], ["show", "ws"], ["init"], ["migrate", "--list"],
                                     ["create", "x", "--source", "wholesale", "--key", "customer_id",
                                      "--feature", "Milk"]])
def test_a_newer_schema_is_refused(current_db, command):
    newest = newest_version()
    con = duckdb.connect(current_db)
    con.execute("INSERT INTO segdb.schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                [newest + 1, "from_the_future", "0" * 64])
    con.close()
    before = table_checksums(current_db)
    result = run_cli(command, current_db)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: the database was made by a newer segdb: its segdb schema is at version {newest + 1}, "
        f"and this segdb knows versions up to {newest}; upgrade segdb (`pip install -U segdb`) to "
        "use this database\n")
    assert table_checksums(current_db) == before


def test_a_missing_middle_migration_is_not_called_old(current_db):
    # a ledger with a gap (e.g. from a build whose migration numbers differed): not "needs 3"
    newest = newest_version()
    con = duckdb.connect(current_db)
    con.execute("DELETE FROM segdb.schema_migrations WHERE version = 3")
    con.close()
    result = run_cli(["show", "ws"], current_db)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"Error: database {current_db} has segdb schema version {newest} but lacks "
                             "migration 0003_living_segments; run `segdb init` to apply it\n")


@pytest.mark.parametrize("command", [["refresh", "ws"], ["show", "ws"], ["init"], ["migrate", "--list"]])
def test_an_applied_migration_edited_afterwards_is_refused(current_db, command):
    # The ledger keeps the checksum of the file as applied; an edit changes the file's checksum.
    # Editing the installed file would touch the package, so the ledger side is changed instead:
    # the comparison is the same.
    con = duckdb.connect(current_db)
    con.execute("UPDATE segdb.schema_migrations SET checksum = ? WHERE version = 1",
                ["f" * 64])
    con.close()
    before = table_checksums(current_db)
    result = run_cli(command, current_db)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: migration 0001_initial_schema.sql was edited after it was applied to this database "
        "(checksum mismatch); restore the original file and put the change in a new migration\n")
    assert table_checksums(current_db) == before


def test_an_edited_migration_file_is_refused(tmp_path):
    """The real thing, with a migrations folder of its own: apply, edit the file, apply again."""
    folder = copy_migrations(tmp_path / "migrations")
    con = duckdb.connect(str(tmp_path / "edited.duckdb"))
    try:
        migrations.apply(con, migrations.available_migrations(folder))
        first = folder / "0001_initial_schema.sql"
        first.write_text(first.read_text() + "\nCREATE TABLE segdb.sneaky (x INTEGER);\n")
        with pytest.raises(SchemaError) as err:
            migrations.apply(con, migrations.available_migrations(folder))
        assert err.value.message == (
            "migration 0001_initial_schema.sql was edited after it was applied to this database "
            "(checksum mismatch); restore the original file and put the change in a new migration")
        assert con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'sneaky'").fetchall() == [(0,)]
    finally:
        con.close()


def test_a_schema_5_database_keeps_names_retirements_prune_marks_and_versions(tmp_path):
    """Before migration 0006 names, retirements, prune marks and the current definition version
    were columns segdb updated; 0006 makes them appended rows. A database the old segdb left
    (its state in those columns) reads back the same after the upgrade, and goes on from there."""
    made = str(tmp_path / "made_by_current_segdb.duckdb")
    with segdb.connect(made) as db:
        load_wholesale(db.con)
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
        db.refresh("ws")
        db.refresh("ws")
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=2,
                  replace=True)
        db.refresh("ws")  # version 2, one id fewer: an id retires
        db.name_segment("ws", 1, "Big spenders")
        db.name_segment("ws", 2, "Small")
        db.name_segment("ws", 2, None)  # named, then unnamed
        db.prune("ws", 2)  # run 1 pruned
        expected = (db.segment_ids("ws"), [(r["run_id"], r["pruned_at"]) for r in db.runs("ws")],
                    db.definition("ws").version, [r["definition_version"] for r in db.list()])
    assert [r for r in expected[0] if r["retired_run_id"] is not None] and expected[2] == 2
    assert [r for r in expected[1] if r[1] is not None] == [(1, expected[1][-1][1])]

    path = str(tmp_path / "schema_5.duckdb")
    con = duckdb.connect(path)
    try:
        migrations.apply(con, up_to=5)
        tables = {t: c for t, c in tables_of_0001(con).items() if (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'segdb' "
            "AND table_type = 'BASE TABLE'").fetchall()}
        con.execute("ATTACH ? AS made (READ_ONLY)", [made])
        con.execute("CREATE TABLE wholesale AS SELECT * FROM made.wholesale")
        for table, columns in tables.items():
            cols = ", ".join(q(c) for c in columns)
            con.execute(f"INSERT INTO segdb.{q(table)} ({cols}) SELECT {cols} FROM made.segdb.{q(table)}")
        con.execute('CREATE TABLE segdb."ws_labels" AS SELECT * FROM made.segdb."ws_labels"')
        # the state as the old segdb kept it: in the columns it updated
        con.execute("UPDATE segdb.segment_ids AS i SET name = c.name, named_at = c.named_at, "
                    "retired_run_id = c.retired_run_id FROM made.segdb.current_segment_ids AS c "
                    "WHERE c.segmentation = i.segmentation AND c.segment_id = i.segment_id")
        con.execute("UPDATE segdb.segmentations AS s SET current_version = v.version "
                    "FROM made.segdb.current_definitions AS v WHERE v.segmentation = s.name")
        con.execute("UPDATE segdb.runs AS r SET pruned_at = p.pruned_at "
                    "FROM made.segdb.run_prunes AS p WHERE p.run_id = r.run_id")
        last_run = con.execute("SELECT max(run_id) FROM segdb.runs").fetchall()[0][0]
        con.execute("SELECT nextval('segdb.run_id_seq') FROM range(?)", [last_run]).fetchall()
        con.execute("DETACH made")
        assert con.execute("SELECT current_version FROM segdb.segmentations").fetchall() == [(2,)]
    finally:
        con.close()

    upgraded = run_cli(["init"], path)
    assert upgraded.exit_code == 0, upgraded.output
    with segdb.connect(path, migrate=False) as db:
        found = (db.segment_ids("ws"), [(r["run_id"], r["pruned_at"]) for r in db.runs("ws")],
                 db.definition("ws").version, [r["definition_version"] for r in db.list()])
        assert found == expected
        # and it goes on: a rename, a rollback to the last unpruned earlier run, a new version
        db.name_segment("ws", 1, "Biggest")
        assert db.rollback("ws").to_run_id == 2
        assert {r["segment_id"]: r["retired_run_id"] for r in db.segment_ids("ws")} == {1: None, 2: None, 3: None}
        assert db.sql("SELECT DISTINCT segment_name FROM ws_segments WHERE segment_id = 1").column(0).to_pylist() \
            == ["Biggest"]
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=4, replace=True)
        assert db.definition("ws").version == 3 and db.refresh("ws").k == 4
        assert db.prune("ws", 1).pruned_run_ids == (2, 3)
