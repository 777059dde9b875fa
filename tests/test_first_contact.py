"""What a newcomer types first, in an empty folder, with the defaults (issue 13).

No `--db` and no $SEGDB_DATABASE: the default file must work, and so must every file name DuckDB
treats specially (`segdb.duckdb` would name its catalog like segdb's own schema; `main`, `system`
and `temp` are reserved catalog names), names with spaces and unicode, and paths in other folders.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import segdb
from segdb.api import DEFAULT_DATABASE
from segdb.cli import cli
from segdb.define.demo import survey_table

REPO = Path(__file__).resolve().parent.parent
PEOPLE = "customer_id,Age,Income\n" + "".join(
    f"{i},{20 + (i % 5) + (30 if i > 20 else 0)},{1000 + 10 * (i % 3) + (5000 if i > 20 else 0)}\n"
    for i in range(1, 41))

# None: no --db at all (the default file); otherwise the --db a user gives, relative to the folder
DATABASE_NAMES = [None, "segdb.duckdb", "main.duckdb", "system.duckdb", "temp.duckdb", "SEGDB.duckdb",
                  "my segments ü.duckdb", "other folder/nested/customers.duckdb"]


@pytest.fixture
def empty_folder(tmp_path, monkeypatch):
    folder = tmp_path / "newcomer"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("SEGDB_DATABASE", raising=False)
    return folder


def newcomer(args, db_name):
    full = (["--db", db_name] if db_name else []) + list(args)
    result = CliRunner().invoke(cli, full, catch_exceptions=False)
    assert result.exit_code == 0, f"segdb {' '.join(args)}: {result.output}"
    return result.output


@pytest.mark.parametrize("db_name", DATABASE_NAMES)
def test_cli_first_steps_in_an_empty_folder(empty_folder, db_name):
    if db_name and "/" in db_name:
        (empty_folder / Path(db_name).parent).mkdir(parents=True)
    (empty_folder / "people.csv").write_text(PEOPLE)

    assert newcomer(["import", "people.csv", "--table", "people"], db_name) == "imported 40 rows into people\n"
    assert newcomer(["create", "shop", "--source", "people", "--key", "customer_id",
                     "--feature", "Age", "--feature", "Income", "--k", "2"], db_name).startswith(
        "defined shop (version 1)")
    assert re.match(r"shop: run 1\b.*k=2, 40 rows used, 0 skipped", newcomer(["refresh", "shop"], db_name))
    shown = newcomer(["show", "shop"], db_name)
    assert shown.startswith("shop: run 1")
    assert "rows used 40, skipped 0" in shown
    counted = newcomer(["sql", "SELECT segment_id, count(*) AS n FROM shop_segments "
                               "GROUP BY segment_id ORDER BY segment_id"], db_name)
    assert counted.split("\n")[2:4] == ["         1  20", "         2  20"]
    assert "shop" in newcomer(["list"], db_name)

    expected = empty_folder / (db_name or DEFAULT_DATABASE)
    assert expected.is_file()
    made = sorted(str(p.relative_to(empty_folder)) for p in empty_folder.rglob("*") if p.is_file())
    assert made == sorted(["people.csv", str(expected.relative_to(empty_folder))])


@pytest.mark.parametrize("db_name", DATABASE_NAMES)
def test_api_first_steps_in_an_empty_folder(empty_folder, db_name):
    if db_name and "/" in db_name:
        (empty_folder / Path(db_name).parent).mkdir(parents=True)
    (empty_folder / "people.csv").write_text(PEOPLE)
    with segdb.connect(db_name) as db:  # None: the API's default path
        db.import_file("people.csv", "people")
        db.create("shop", source="people", key="customer_id", features=["Age", "Income"], k=2)
        run = db.refresh("shop")
        labels = db.segments("shop").df()
        assert (run.k, run.rows_used, len(labels)) == (2, 40, 40)
        assert sorted(labels["segment_id"].value_counts().tolist()) == [20, 20]
        other = db.cursor()  # another connection, for another thread: the same catalog
        assert other.sql("SELECT count(*) AS n FROM shop_segments").column("n").to_pylist() == [40]
        other.close()
    with segdb.connect(db_name, read_only=True) as db:
        assert [s["name"] for s in db.list()] == ["shop"]
    assert (empty_folder / (db_name or DEFAULT_DATABASE)).is_file()


def test_the_default_file_works_in_a_plain_duckdb_session(empty_folder):
    """Analysts open the file in duckdb, DBeaver or a notebook: the views and macros must bind there."""
    (empty_folder / "people.csv").write_text(PEOPLE)
    with segdb.connect() as db:
        db.import_file("people.csv", "people")
        db.create("shop", source="people", key="customer_id", features=["Age", "Income"], k=2)
        db.refresh("shop")
    con = duckdb.connect(DEFAULT_DATABASE, read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM shop_segments").fetchall() == [(40,)]
        assert con.sql("SELECT shop_assign(45, 6000) = (SELECT segment_id FROM shop_segments "
                       "WHERE customer_id = 40)").fetchall() == [(True,)]
    finally:
        con.close()


def _readme_python_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


def test_readme_python_example_runs_as_written(empty_folder):
    """The example a user copies, after the README's own install line (no extras)."""
    (empty_folder / "examples").mkdir()
    (empty_folder / "examples" / "insurance_survey.csv").write_bytes(
        (REPO / "examples" / "insurance_survey.csv").read_bytes())
    namespace: dict = {}
    exec(compile(_readme_python_example(), "README.md", "exec"), namespace)
    assert len(namespace["labels"]) == 150
    assert namespace["run"].k == 2
    assert (empty_folder / "report.html").stat().st_size > 0


def test_example_csv_is_the_demo_survey():
    """examples/insurance_survey.csv is the demo's table, so the README example and `segdb demo` agree."""
    con = duckdb.connect()
    shipped = con.sql("SELECT * FROM read_csv(?) ORDER BY customer_id",
                      params=[str(REPO / "examples" / "insurance_survey.csv")]).fetchall()
    demo = survey_table().sort_by("customer_id")
    assert shipped == [tuple(r.values()) for r in demo.to_pylist()]


def test_pandas_comes_with_the_base_install():
    """`db.segments(...).df()` needs pandas: it is a dependency, not an extra."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(re.match(r"pandas\b", d) for d in project["dependencies"])
    assert len({re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in project["dependencies"]}) == len(
        project["dependencies"]), "a dependency is listed twice"


# -- one rule for database files: commands that put something into a database create it; commands
#    that need an existing segmentation say the file is missing and how to create it; a failed
#    command leaves no new file behind.

def _invoke(args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_sql_creates_a_new_file_like_the_duckdb_shell(empty_folder):
    created = _invoke(["--db", "new.duckdb", "sql", "CREATE TABLE t AS SELECT 42 AS answer"])
    assert created.exit_code == 0, created.output
    read = _invoke(["--db", "new.duckdb", "sql", "SELECT answer FROM t"])
    assert (read.exit_code, read.output) == (0, "answer\n------\n    42\n")


@pytest.mark.parametrize("args", [
    ["sql", "SELECT * FROM no_such_table"],
    ["import", "no_such_file.csv", "--table", "t"],
    ["create", "shop", "--source", "no_such_table", "--key", "id", "--feature", "x"],
    ["apply", "broken.toml"],
], ids=["sql", "import", "create", "apply"])
def test_a_failed_command_leaves_no_new_file(empty_folder, args):
    (empty_folder / "broken.toml").write_text("[segmentation.shop\n")
    result = CliRunner().invoke(cli, ["--db", "new.duckdb", *args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert sorted(p.name for p in empty_folder.iterdir()) == ["broken.toml"]


def test_a_failed_command_never_removes_an_existing_file(empty_folder):
    assert _invoke(["--db", "kept.duckdb", "sql", "CREATE TABLE t AS SELECT 1 AS x"]).exit_code == 0
    failed = CliRunner().invoke(cli, ["--db", "kept.duckdb", "create", "shop", "--source", "nosuch",
                                      "--key", "id", "--feature", "x"])
    assert failed.exit_code == 1
    assert _invoke(["--db", "kept.duckdb", "sql", "SELECT x FROM t"]).output == "x\n-\n1\n"


@pytest.mark.parametrize("args", [["show", "shop"], ["refresh", "shop"], ["list"]])
def test_commands_on_a_missing_file_say_how_to_create_it(empty_folder, args):
    result = CliRunner().invoke(cli, args)  # no --db: the default file, which does not exist yet
    assert (result.exit_code, result.output) == (1, (
        f"Error: database {DEFAULT_DATABASE} does not exist; check --db or $SEGDB_DATABASE, "
        "or create it by loading data: `segdb import FILE --table NAME`\n"))
    assert list(empty_folder.iterdir()) == []
