"""The CLI end to end on real DuckDB files: demo, import, create, refresh, show, runs, list, sql."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import segdb
from conftest import DATA, run_cli, run_segdb_process, table_checksums


def test_demo_builds_the_insurance_segments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "loaded 150 survey responses into survey_responses (segdb-demo.duckdb)" in out
    assert "centroids in source units" in out and "centroids in scaled units" in out
    assert (tmp_path / "segdb-demo.duckdb").exists()
    con = duckdb.connect(str(tmp_path / "segdb-demo.duckdb"), read_only=True)
    sizes = con.execute("SELECT segment_id, size, share FROM insurance_centroids ORDER BY 1").fetchall()
    # The two generated groups have 80 and 70 members; k-means must recover them exactly.
    assert [(s, n) for s, n, _ in sizes] == [(1, 80), (2, 70)]
    cents = con.execute('SELECT "Premium savings very important", "Agent not important" '
                        "FROM insurance_centroids ORDER BY segment_id").fetchall()
    assert cents[0][0] < 4 < cents[1][0] and cents[0][1] < 4 < cents[1][1]
    con.close()
    # A segment description names its strongest features with their direction.
    assert "low Premium savings very important" in out and "high Agent not important" in out
    # The demo can run again on the same file (replaces the table, reuses the definition).
    again = run_cli(["demo"])
    assert again.exit_code == 0, again.output
    assert "refreshed insurance: run 2" in again.output


def test_demo_honours_db(tmp_path):
    path = str(tmp_path / "x.duckdb")
    assert run_cli(["demo"], db_path=path).exit_code == 0
    assert Path(path).exists()


def test_full_session(db_path):
    r = run_cli(["import", str(DATA / "wholesale_customers.csv"), "--table", "spend"], db_path)
    assert r.output == "imported 440 rows into spend\n"
    src = "SELECT row_number() OVER () AS customer_id, * FROM spend"
    r = run_cli(["create", "ws", "--source", src, "--key", "customer_id", "--feature", "Fresh",
                 "--feature", "Milk", "--feature", "Grocery", "--k", "3"], db_path)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("defined ws (version 1): 3 features, k=3, key customer_id")
    r = run_cli(["refresh", "ws"], db_path)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("ws: run 1 (its 1st run), k=3, 440 rows used, 0 skipped, inertia ")
    r = run_cli(["show", "ws"], db_path)
    assert r.exit_code == 0
    assert "ws: run 1 (its 1st run), definition version 1" in r.output
    assert "rows used 440, skipped 0" in r.output
    r = run_cli(["runs", "ws"], db_path)
    assert r.output.splitlines()[0].split()[:3] == ["run_id", "n", "current"]
    assert r.output.splitlines()[2].split()[:4] == ["1", "1", "*", "succeeded"]
    r = run_cli(["list"], db_path)
    assert r.output.splitlines()[2].split()[:2] == ["ws", "1"]
    r = run_cli(["sql", "SELECT segment_id, count(*) AS n FROM ws_segments GROUP BY ALL ORDER BY 1",
                 "--format", "json"], db_path)
    rows = json.loads(r.output)
    assert sum(row["n"] for row in rows) == 440 and [row["segment_id"] for row in rows] == [1, 2, 3]
    r = run_cli(["sql", "SELECT 1 AS a, 'x,y' AS b", "--format", "csv"], db_path)
    assert r.output == 'a,b\n1,"x,y"\n'


def test_labels_join_to_a_customer_table(db_path):
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE customers AS SELECT i AS customer_id, 'name ' || i AS name FROM range(1, 151) r(i)")
        db.sql("CREATE TABLE answers AS SELECT i AS customer_id, (i % 7) + 1 AS q1, ((i * 3) % 7) + 1 AS q2 "
               "FROM range(1, 151) r(i)")
        db.create("s", source="answers", key="customer_id", features=["q1", "q2"], k=3)
        db.refresh("s")
        joined = db.sql("SELECT c.name, s.segment_id FROM customers c JOIN s_segments s USING (customer_id)")
        assert joined.num_rows == 150
        # The key keeps its name and type.
        types = dict(db.con.execute("DESCRIBE s_segments").fetchall()[i][:2] for i in range(4))
        assert types == {"customer_id": "BIGINT", "segment_id": "INTEGER", "distance": "DOUBLE",
                         "run_id": "BIGINT"}


def test_names_with_spaces_quotes_unicode_and_reserved_words(db_path):
    weird = ['Premium savings very important', 'x"; DROP TABLE customers; --', "größe (€)", "select",
             "a,b", "cost $"]
    with segdb.connect(db_path) as db:
        cols = ", ".join(f"(i * {n + 2}) % 11 AS \"{w.replace(chr(34), chr(34) * 2)}\""
                         for n, w in enumerate(weird))
        db.sql(f'CREATE TABLE "my customers" AS SELECT i AS "Kunden Nr.", {cols} FROM range(1, 200) r(i)')
        db.sql("CREATE TABLE customers AS SELECT 1 AS id")
        db.create("weird", source="my customers", key="Kunden Nr.", features=weird, k=3)
        db.refresh("weird")
        cent = db.sql("SELECT * FROM weird_centroids")
        assert cent.column_names == ["segment_id", "size", "share"] + weird + ["segment_name"]
        assert db.sql('SELECT count(*) AS n FROM weird_segments').column("n").to_pylist() == [199]
        assert db.sql("SELECT count(*) AS n FROM customers").column("n").to_pylist() == [1]


def test_migrate_list_writes_nothing(db_path):
    assert run_cli(["init"], db_path).exit_code == 0
    before = table_checksums(db_path)
    mtime = Path(db_path).stat().st_mtime_ns
    r = run_cli(["migrate", "--list"], db_path)
    assert r.exit_code == 0 and r.output.splitlines()[2].split()[:3] == ["0001", "initial_schema", "applied"]
    assert table_checksums(db_path) == before and Path(db_path).stat().st_mtime_ns == mtime


def test_migrate_list_on_a_new_file_does_not_create_it(tmp_path):
    path = tmp_path / "none.duckdb"
    r = run_cli(["migrate", "--list"], str(path))
    assert r.exit_code == 1
    assert not path.exists()


@pytest.mark.parametrize("args, message", [
    (["show", "nope"], "Error: no segmentation named 'nope'; create one with `segdb create`\n"),
    (["refresh"], "Error: name a segmentation to refresh, or pass --all\n"),
    (["refresh", "--all"], "Error: there is no segmentation to refresh; define one with `segdb create`\n"),
    (["create", "bad name", "--source", "t", "--key", "id", "--feature", "x"],
     "Error: invalid segmentation name 'bad name': use a letter followed by up to 47 letters, digits "
     "or underscores (e.g. insurance_2026)\n"),
    (["create", "s", "--source", "t", "--key", "id", "--feature", "x", "--k", "1"],
     "Error: k=1 should be >= 2\n"),
    (["create", "s", "--source", "t", "--key", "id", "--feature", "label"],
     "Error: feature 'label' in table t has type VARCHAR, not a number; cast it "
     "(e.g. CAST(\"label\" AS DOUBLE)), declare it a category (--category), or drop it\n"),
    (["create", "s", "--source", "tt", "--key", "id", "--feature", "x"],
     "Error: table 'tt' not found; did you mean 't'?\n"),
    (["create", "s", "--source", "SELEC id FROM t", "--key", "id", "--feature", "x"],
     "Error: the source is neither a table nor a valid SELECT: Parser Error: syntax error at or near "
     "\"SELEC\"; fix the query or pass a table name\n"),
    (["create", "s", "--source", "SELECT id, x FROM t WHERE", "--key", "id", "--feature", "x"],
     "Error: the source SELECT is not valid SQL: Parser Error: syntax error at or near \"WHERE\"; fix "
     "the query or pass a table name\n"),
    (["create", "s", "--source", "DELETE FROM t", "--key", "id", "--feature", "x"],
     "Error: the source must be a SELECT or a table name; DELETE statements are never run\n"),
])
def test_errors_are_one_line_and_change_nothing(db_path, args, message):
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, i * 1.5 AS x, 'a' AS label FROM range(10) r(i)")
    before = table_checksums(db_path)
    result = run_cli(args, db_path)
    assert result.exit_code == 1
    assert result.output == message
    assert table_checksums(db_path) == before


def test_error_exit_code_and_debug_traceback_in_a_real_process(db_path):
    with segdb.connect(db_path):
        pass
    proc = run_segdb_process(["show", "nope"], db_path)
    assert proc.returncode == 1
    assert proc.stderr == "Error: no segmentation named 'nope'; create one with `segdb create`\n"
    proc = run_segdb_process(["--debug", "show", "nope"], db_path)
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_refresh_failure_keeps_the_previous_run(db_path):
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, (i % 5) * 1.0 AS x, (i % 3) * 1.0 AS y FROM range(60) r(i)")
        db.create("s", source="t", key="id", features=["x", "y"], k=3)
        db.refresh("s")
        db.sql("INSERT INTO t VALUES (5, 1.0, 1.0)")  # a duplicate key
    before = table_checksums(db_path)
    r = run_cli(["refresh", "s"], db_path)
    assert r.exit_code == 1
    assert r.output == ("Error: key 'id' is not unique in the source of s (table t): 1 duplicate rows; "
                        "deduplicate the source or choose another key\n")
    assert table_checksums(db_path) == before


def test_one_version_for_the_package_the_api_and_the_command(tmp_path):
    """segdb/_version.py is the one place the version is written: pyproject.toml takes it from there
    (hatch's version source, with hatch's default pattern), and `segdb --version` and
    segdb.__version__ say it."""
    import re
    import sys

    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    source = (root / project["tool"]["hatch"]["version"]["path"]).read_text(encoding="utf-8")
    hatch_default = r'(?i)^(__version__|VERSION) *= *([\'"])v?(?P<version>.+?)\2'
    assert re.search(hatch_default, source, re.MULTILINE).group("version") == segdb.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", segdb.__version__)

    assert run_cli(["--version"]).output == f"segdb, version {segdb.__version__}\n"
    r = run_segdb_process(["--version"], str(tmp_path / "unused.duckdb"))
    assert (r.returncode, r.stdout) == (0, f"segdb, version {segdb.__version__}\n")


def test_sql_prints_columns_that_share_a_name(tmp_path):
    """A join's SELECT a.*, b.* names the key twice: both columns are printed (it was a traceback)."""
    db_path = str(tmp_path / "dup.duckdb")
    r = run_cli(["sql", "SELECT 1 AS id, 2 AS id, 'x' AS v"], db_path)
    assert (r.exit_code, r.output) == (0, "id  id  v\n--  --  -\n 1   2  x\n")
    r = run_cli(["sql", "SELECT 1 AS id, 2 AS id", "--format", "csv"], db_path)
    assert r.output == "id,id\n1,2\n"
