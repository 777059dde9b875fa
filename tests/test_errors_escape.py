"""Errors that used to escape as tracebacks or blame the wrong thing (issue 15, item 8).

Each case: exit code 1, exactly one `Error:` line on stderr naming the real cause, nothing written
or half-written, no 0-byte or stray file left. The full-disk cases use a real full file system: a
small tmpfs mounted for the test (root only; skipped where mounting is not permitted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import segdb
from segdb.cli import cli
from segdb.engines.result import first_line
from conftest import run_segdb_process, table_checksums


def cli_error(args, db_path) -> str:
    """Run the CLI; it must fail with exit code 1 and print exactly one line, `Error: ...`."""
    result = CliRunner().invoke(cli, ["--db", str(db_path), *args], catch_exceptions=False)
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers AS SELECT i AS customer_id, (i % 7)::DOUBLE AS spend, "
                "(i % 5)::DOUBLE AS visits FROM range(1, 201) t(i)")
    con.close()
    with segdb.connect(str(path)) as db:
        db.create("shop", source="customers", key="customer_id", features=["spend", "visits"], k=3)
        db.refresh("shop")
    return path


@pytest.fixture
def shop(template, tmp_path) -> Path:
    path = tmp_path / "shop.duckdb"
    shutil.copy(template, path)
    return path


@pytest.fixture
def full_disk(tmp_path):
    """A folder on its own 2 MB tmpfs (fill(folder) fills it up)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass


# -- import ---------------------------------------------------------------------------------------

def test_import_onto_a_segdb_view_names_the_view(shop, tmp_path):
    csv = tmp_path / "ok.csv"
    csv.write_text("a,b\n1,2\n")
    before = table_checksums(str(shop))
    for extra in ([], ["--replace"]):
        line = cli_error(["import", str(csv), "--table", "shop_segments", *extra], shop)
        assert line == ("Error: 'shop_segments' is an existing view, not a table; import into another "
                        "table name (nothing was imported)")
    assert table_checksums(str(shop)) == before


def test_import_latin1_says_not_utf8_and_encoding_option_reads_it(shop, tmp_path):
    csv = tmp_path / "names.csv"
    csv.write_bytes("name,v\ncaf\xe9,1\nx,2\n".encode("latin-1"))
    before = table_checksums(str(shop))
    line = cli_error(["import", str(csv), "--table", "names"], shop)
    assert line == ("Error: names.csv is not UTF-8 text: line 2 holds bytes that are not UTF-8 "
                    "(latin-1, Windows-1252?); re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 "
                    "names.csv > utf8.csv`) or pass its encoding, --encoding latin-1 (or utf-16) "
                    "(nothing was imported)")
    assert "CSV" not in line
    assert table_checksums(str(shop)) == before
    result = CliRunner().invoke(cli, ["--db", str(shop), "import", str(csv), "--table", "names",
                                      "--encoding", "latin-1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(shop), read_only=True)
    assert con.execute("SELECT name FROM names ORDER BY v").fetchall() == [("café",), ("x",)]
    con.close()


def test_import_of_broken_csv_structure_still_says_fix_the_file(shop, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b\n1,2,3\n3,4\n")
    line = cli_error(["import", str(csv), "--table", "bad"], shop)
    assert line == ("Error: cannot read bad.csv as CSV: it is not valid comma-separated CSV with double "
                    "quotes: line 2: Expected Number of Columns: 2 Found: 3; fix the file (nothing was "
                    "imported)")


def test_import_on_a_full_disk_says_disk_full(full_disk, tmp_path):
    db_path = full_disk / "s.duckdb"
    with segdb.connect(str(db_path)):
        pass
    csv = tmp_path / "big.csv"
    csv.write_text("id,x\n" + "".join(f"{i},{i * 0.37}\n" for i in range(50_000)))
    fill(full_disk)
    size_before = db_path.stat().st_size
    line = cli_error(["import", str(csv), "--table", "big"], db_path)
    assert line.startswith("Error: importing big.csv into big failed: the disk is full or not writable (")
    assert "No space left on device" in line and "fix the file" not in line
    (full_disk / "filler").unlink()
    # the failed commit may leave DuckDB's own WAL, empty; the next open removes it
    assert {p.name: p.stat().st_size for p in full_disk.iterdir() if p.name != "s.duckdb"} in (
        {}, {"s.duckdb.wal": 0})
    with segdb.connect(str(db_path)) as db:
        assert db.sql("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'big'"
                      ).to_pylist() == [{"n": 0}]
    assert sorted(p.name for p in full_disk.iterdir()) == ["s.duckdb"]
    assert db_path.stat().st_size == size_before


# -- damaged databases ----------------------------------------------------------------------------

def test_truncated_database_file_is_one_line(shop):
    size = shop.stat().st_size
    os.truncate(shop, size // 2)
    for args in (["show", "shop"], ["refresh", "shop"], ["runs", "shop"], ["list"]):
        done = run_segdb_process(args, str(shop))
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(f"Error: the database file {shop} is damaged (truncated or "
                                      "corrupt: IO Error: Could not read enough bytes"), done.stderr
        assert done.stderr.rstrip().endswith("restore it from a backup, or move it away and start "
                                             "again with `segdb init`")
    assert shop.stat().st_size == size // 2


@pytest.mark.parametrize("args", [["show", "shop"], ["report", "shop", "--out", "{tmp}/r.html"],
                                  ["refresh", "shop"]])
def test_dropped_segdb_table_is_named(shop, tmp_path, args):
    con = duckdb.connect(str(shop))
    con.execute("DROP TABLE segdb.run_quality")
    con.close()
    before = table_checksums(str(shop))
    line = cli_error([a.format(tmp=tmp_path) for a in args], shop)
    where = str(shop) if args[0] == "refresh" else str(shop)  # the --db path, as given
    assert line == (f"Error: segdb's table segdb.run_quality is missing from {where}: segdb's schema "
                    "there is damaged (dropped by hand?); restore the database from a backup "
                    "(`segdb init` does not recreate a table its ledger says exists)")
    assert table_checksums(str(shop)) == before
    assert not (tmp_path / "r.html").exists()


# -- report and plot on a full disk -----------------------------------------------------------------

def test_report_and_plot_on_a_full_disk_leave_no_file(shop, full_disk):
    fill(full_disk)
    line = cli_error(["report", "shop", "--out", str(full_disk / "r.html")], shop)
    assert line == (f"Error: cannot write {full_disk / 'r.html'}: the disk is full (No space left on "
                    "device); free space there (or write elsewhere) and run the command again")
    line = cli_error(["plot", "shop", "--out", str(full_disk / "pictures")], shop)
    assert line.startswith(f"Error: cannot write {full_disk / 'pictures'}/shop_run1_")
    assert line.endswith("the disk is full (No space left on device); free space there (or write "
                         "elsewhere) and run the command again")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_report_replaces_an_older_report_whole(shop, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old")
    result = CliRunner().invoke(cli, ["--db", str(shop), "report", "shop", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "shop.duckdb"]


# -- messages that cut the cause off --------------------------------------------------------------

def test_duckdb_extension_autoinstall_error_keeps_its_cause(tmp_path):
    con = duckdb.connect()
    con.execute("SET extension_directory = ?", [str(tmp_path / "extensions")])
    con.execute("SET custom_extension_repository = 'http://127.0.0.1:9/nowhere'")
    with pytest.raises(duckdb.Error) as caught:
        con.execute("SELECT * FROM read_csv('https://example.invalid/x.csv')")
    text = first_line(caught.value)
    assert "\n" not in text
    assert text.startswith("An error occurred while trying to automatically install the required "
                           "extension 'httpfs: Failed to download extension \"httpfs\" at URL")
    assert "LINE 1" not in text and "read_csv" not in text


# -- data messages --------------------------------------------------------------------------------

def test_nul_in_a_category_names_the_feature_and_the_value(tmp_path):
    path = tmp_path / "n.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT i AS id, i * 1.0 AS x, CASE WHEN i % 3 = 0 THEN 'a' || chr(0) "
                "|| 'b' WHEN i % 3 = 1 THEN 'plain' ELSE 'other' END AS cat FROM range(1, 61) t(i)")
    con.close()
    with segdb.connect(str(path)) as db:
        db.create("nc", source="t", key="id", features=["x", {"name": "cat", "kind": "category"}], k=2)
    before = table_checksums(str(path))
    line = cli_error(["refresh", "nc"], path)
    assert line == ("Error: category feature 'cat' has a level holding a NUL character (\\x00): "
                    "'a\\x00b' on 20 rows of the source of nc (table t); remove the NUL in the "
                    "feature's expr, e.g. replace(column, chr(0), '')")
    assert table_checksums(str(path)) == before


# -- scripts and several refreshes ------------------------------------------------------------------

@pytest.mark.parametrize("engine_url", ["duckdb", "postgresql"], indirect=True)
def test_sql_script_is_all_or_nothing(engine_url):
    with segdb.connect(engine_url) as db:
        db.sql("CREATE TABLE kept (x INTEGER)")
    line = cli_error(["sql", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1); "
                             "INSERT INTO kept VALUES (2); SELECT * FROM nope"], engine_url)
    if engine_url.startswith("postgresql"):  # one implicit transaction, as psql -c runs it
        assert line == 'Error: the query failed: relation "nope" does not exist'
    else:
        assert line.startswith("Error: statement 4 of 4 of the script failed: Catalog Error: Table "
                               "with name nope does not exist!")
        assert line.endswith("; nothing was changed (the script runs as one transaction)")
    with segdb.connect(engine_url) as db:
        assert db.sql("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'a'"
                      ).to_pylist() == [{"n": 0}]
        assert db.sql("SELECT count(*) AS n FROM kept").to_pylist() == [{"n": 0}]
        # a script that succeeds commits every statement and prints the last one's result
    result = CliRunner().invoke(cli, ["--db", engine_url, "sql", "CREATE TABLE a (x INTEGER); "
                                      "INSERT INTO a VALUES (1); SELECT x FROM a"], catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (0, "x\n-\n1\n")


def test_a_script_with_its_own_transactions_runs_as_written(tmp_path):
    path = tmp_path / "s.duckdb"
    with segdb.connect(str(path)):
        pass
    line = cli_error(["sql", "BEGIN; CREATE TABLE b (x INTEGER); COMMIT; SELECT * FROM nope"], path)
    assert line.startswith("Error: the query failed: Catalog Error: Table with name nope does not exist!")
    with segdb.connect(str(path)) as db:
        assert db.sql("SELECT count(*) AS n FROM b").to_pylist() == [{"n": 0}]


def test_refresh_all_goes_on_past_a_failure_and_names_it(shop):
    con = duckdb.connect(str(shop))
    con.execute("CREATE TABLE flat AS SELECT i AS id, 5.0 AS c, i * 1.0 AS x FROM range(1, 50) t(i)")
    con.close()
    with segdb.connect(str(shop)) as db:
        db.create("aflat", source="flat", key="id", features=["c", "x"], k=2)
        db.create("zgood", source="flat", key="id", features=["x"], k=2)
    result = CliRunner().invoke(cli, ["--db", str(shop), "-q", "refresh", "--all"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 1 of 3 segmentations failed to refresh (2 refreshed, nothing written for the failed "
        "ones): 'aflat': feature 'c' has the same value on every row used (zero variance), so it "
        "cannot separate segments; drop it from the definition\n")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["shop", "zgood"]
    with segdb.connect(str(shop)) as db:
        assert [r["name"] for r in db.list() if r["current_run_id"] is not None] == ["shop", "zgood"]
        assert db.runs("aflat") == []


# -- a first init that never finished -------------------------------------------------------------

def header_only(path: Path, tmp_path: Path) -> None:
    """What a first open killed after DuckDB's first 4 KB header leaves."""
    whole = tmp_path / "whole.duckdb"
    duckdb.connect(str(whole)).close()
    path.write_bytes(whole.read_bytes()[:4096])
    whole.unlink()


@pytest.mark.parametrize("size", [0, 4096])
def test_an_unfinished_file_is_started_afresh_by_writers_and_explained_to_readers(tmp_path, size):
    path = tmp_path / "u.duckdb"
    if size:
        header_only(path, tmp_path)
    else:
        path.write_bytes(b"")
    for args in (["list"], ["show", "x"], ["refresh", "x"]):
        assert cli_error(args, path) == (
            f"Error: database {path} is an unfinished file with no data in it ({size} bytes: a first "
            "`segdb init` was killed or ran out of disk space?); run `segdb init` to start it afresh "
            "(or remove the file)")
        assert path.stat().st_size == size
    result = CliRunner().invoke(cli, ["--db", str(path), "init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with segdb.connect(str(path), read_only=True) as db:
        assert db.names() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.duckdb"]


def test_a_small_file_that_is_not_duckdb_is_never_removed(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("my notes\n")
    line = cli_error(["init"], path)
    assert line == (f"Error: {path} is not a DuckDB database file (IO Error: The file \"{path}\" exists, "
                    "but it is not a valid DuckDB database file!); check --db or $SEGDB_DATABASE, or "
                    "restore the file from a backup")
    assert path.read_text() == "my notes\n"


def test_init_on_a_full_disk_leaves_no_file(full_disk):
    fill(full_disk)
    path = full_disk / "f.duckdb"
    line = cli_error(["init"], path)
    assert line.startswith(f"Error: cannot open database {path}: IO Error: Could not write file")
    assert line.endswith("No space left on device")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


# -- definitions refused at create ----------------------------------------------------------------

@pytest.mark.parametrize("engine_url", ["duckdb", "postgresql"], indirect=True)
def test_an_array_key_is_refused_at_create(engine_url):
    with segdb.connect(engine_url) as db:
        if engine_url.startswith("postgresql"):
            db.sql("CREATE TABLE arr AS SELECT ARRAY[i, i + 1] AS k, i * 1.0 AS x, (i % 7) * 1.0 AS y "
                   "FROM generate_series(1, 60) i")
            shown = "INTEGER[]"
        else:
            db.sql("CREATE TABLE arr AS SELECT [i::INTEGER, i::INTEGER + 1] AS k, i * 1.0 AS x, "
                   "(i % 7) * 1.0 AS y FROM range(1, 61) t(i)")
            shown = "INTEGER[]"
    line = cli_error(["create", "ak", "--source", "arr", "--key", "k", "--feature", "x", "--feature", "y"],
                     engine_url)
    assert line == (f"Error: key 'k' is of type {shown}, which holds several values; a key must be one "
                    "scalar column (an integer, text, UUID, date or timestamp type): select one in a "
                    'source SELECT, e.g. "k"[1] AS customer_id for an array')
    with segdb.connect(engine_url) as db:
        assert db.names() == []


def test_postgresql_63_byte_names_that_collide_are_refused_at_create_and_refresh(postgres_url):
    long = "x" * 70
    with segdb.connect(postgres_url) as db:
        db.sql(f"CREATE TABLE cat AS SELECT i AS id, i * 1.0 AS x, CASE WHEN i % 2 = 0 THEN '{long}A' "
               "ELSE 'short' END AS c FROM generate_series(1, 60) i")
    args = ["create", "lc", "--source", "cat", "--key", "id", "--feature", "x", "--category", "c"]
    result = CliRunner().invoke(cli, ["--db", postgres_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output  # one long level: PostgreSQL's cut is harmless
    message = (f"the columns 'c={long}A' and 'c={long}B' of the source of lc{{}} are the same name to "
               "PostgreSQL, which keeps only the first 63 bytes of a name; shorten the feature names "
               "or category levels (e.g. map long levels to short codes in the feature's expr) so that "
               "they differ within 63 bytes")
    with segdb.connect(postgres_url) as db:
        db.sql(f"UPDATE cat SET c = '{long}B' WHERE c = 'short'")
    assert cli_error(["refresh", "lc"], postgres_url) == "Error: " + message.format(" (table cat)")
    with segdb.connect(postgres_url) as db:
        assert db.runs("lc") == []
    line = cli_error([args[0], "lc2", *args[2:]], postgres_url)
    assert line == "Error: " + message.format("").replace("source of lc", "source of lc2")
    with segdb.connect(postgres_url) as db:
        assert db.names() == ["lc"]


def test_a_sum_of_1500_terms_is_within_duckdb_expression_depth():
    # 1,000 features used to exceed DuckDB's max_expression_depth (1000) in the distance sums
    import numpy as np
    from segdb.living.scoring import squared_distances
    n = 1500
    rng = np.random.default_rng(7)
    row, centroid = rng.normal(size=n), rng.normal(size=n)
    terms = [f"c{j}" for j in range(n)]
    (distance,) = squared_distances(terms, [centroid.tolist()])
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT " + ", ".join(f"{float(v)!r}::DOUBLE AS c{j}" for j, v in enumerate(row)))
    got = con.execute(f"SELECT {distance} FROM t").fetchall()[0][0]
    assert got == pytest.approx(float(((row - centroid) ** 2).sum()), rel=1e-12)


# -- Spark: the JVM's lines stay off the terminal ------------------------------------------------------

def test_spark_error_is_one_line_without_jvm_noise(tmp_path):
    import importlib.util
    from engines import engine_unavailable
    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        engine_unavailable("pyspark or Java is not installed")
    warehouse = tmp_path / "warehouse"
    done = run_segdb_process(["sql", "SELECT * FROM segdb_no_such_table"], "spark://local[1]",
                             env_extra={"SEGDB_SPARK_WAREHOUSE": str(warehouse)}, timeout=600)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error: the query failed: [TABLE_OR_VIEW_NOT_FOUND] The table or view "
                                  "`segdb_no_such_table` cannot be found."), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    # the JVM's start-up lines went to the log beside the warehouse instead
    assert "log4j" in (warehouse / "spark-driver.log").read_text()


# -- PostgreSQL: a connection whose server process is gone ------------------------------------------

def _terminate_sessions(postgres_admin, postgres_url) -> int:
    from sqlalchemy.engine import make_url
    _, admin = postgres_admin
    rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND pid <> pg_backend_pid()", [make_url(postgres_url).database]).fetchall()
    return len(rows)


def test_a_stale_pooled_connection_is_replaced(postgres_url, postgres_admin):
    import sqlalchemy
    engine = sqlalchemy.create_engine(postgres_url)  # SQLAlchemy's default pool, as an application has
    try:
        with segdb.connect(engine) as db:
            db.sql("CREATE TABLE t AS SELECT 1 AS x")
        assert _terminate_sessions(postgres_admin, postgres_url) == 1  # the pooled one (a restart)
        with segdb.connect(engine) as db:  # nothing has run on it yet: replaced transparently
            assert db.sql("SELECT x FROM t").to_pylist() == [{"x": 1}]
            _terminate_sessions(postgres_admin, postgres_url)
            with pytest.raises(segdb.SegdbError) as caught:  # lost in the middle: said so, in one line
                db.sql("SELECT x FROM t")
        assert str(caught.value).startswith(f"the query failed: lost the connection to {postgres_url} (")
        assert str(caught.value).endswith("the server restarted?); nothing more was written; run the "
                                          "command again")
    finally:
        engine.dispose()
