"""The command line's help: every command is listed however segdb is started, and every command's
help ends with examples that parse."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, segdb_env
from segdb.cli import cli


@pytest.mark.parametrize("module", ["segdb", "segdb.cli"])
def test_help_lists_every_command_in_a_fresh_process(module):
    # `python -m segdb.cli` once ran cli.py as __main__ while the feature modules decorated a second
    # copy of the group: half of the commands were missing from its --help.
    r = subprocess.run([sys.executable, "-m", module, "--help"], env=segdb_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("\nCommands:\n")[1].split("\n\n")[0]
    listed = {line.split()[0] for line in section.splitlines()}
    assert listed == set(cli.commands)
    assert len(cli.commands) >= 22


# -- a comma-joined list given to one --feature (issue 13 item 9) -------------------------------

@pytest.fixture
def people(db_path):
    import duckdb
    con = duckdb.connect(db_path)
    con.execute('CREATE TABLE people AS SELECT i AS id, i % 7 AS "Age", i % 5 AS "Income", '
                'i % 3 AS "Age,Income", (i % 2)::VARCHAR AS "Region" FROM range(1, 41) t(i)')
    con.close()
    return db_path


def test_comma_joined_features_are_answered_with_repeat_the_option(people):
    r = run_cli(["create", "p", "--source", "people", "--key", "id", "--feature", "Age, Income,Region"],
                people)
    assert r.exit_code == 1
    assert r.output == ("Error: feature column 'Age, Income,Region' not found in table people; repeat "
                        "--feature for each column: --feature Age --feature Income --feature Region\n")
    r = run_cli(["create", "p", "--source", "people", "--key", "id", "--category", "Region,Age"], people)
    assert r.output == ("Error: feature column 'Region,Age' not found in table people; repeat "
                        "--category for each column: --category Region --category Age\n")


def test_a_column_whose_name_has_a_comma_is_a_feature(people):
    r = run_cli(["create", "p", "--source", "people", "--key", "id", "--feature", "Age,Income",
                 "--feature", "Age"], people)
    assert r.exit_code == 0, r.output
    assert r.output == "defined p (version 1): 2 features, k=3, key id, source people\n"


# -- every command's help ends with examples that work after `segdb demo` (issue 13 item 10) ----

def example_lines(command_name: str) -> list[str]:
    r = run_cli([command_name, "--help"])
    assert r.exit_code == 0, r.output
    tail = r.output.rsplit("Example", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.strip().startswith("segdb ")]


@pytest.mark.parametrize("command_name", sorted(cli.commands))
def test_every_help_ends_with_examples_that_parse(command_name):
    r = run_cli([command_name, "--help"])
    assert "\n  Example:\n" in r.output or "\n  Examples:\n" in r.output
    lines = example_lines(command_name)
    assert 1 <= len(lines) <= 2
    assert r.output.rstrip().endswith(lines[-1])  # the examples end the help
    for line in lines:
        args = shlex.split(line)[1:]
        at = next(i for i, a in enumerate(args) if a in cli.commands)
        group_ctx = cli.make_context("segdb", args[:at + 1], resilient_parsing=True)
        command = cli.commands[args[at]]
        command.make_context(args[at], args[at + 1:], parent=group_ctx)  # types, required options


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    r = run_cli(["demo"], str(folder / "segdb-demo.duckdb"))
    assert r.exit_code == 0, r.output
    return folder / "segdb-demo.duckdb"


@pytest.mark.usefixtures("one_blas_thread")
@pytest.mark.parametrize("command_name", sorted(cli.commands))
def test_examples_run_after_segdb_demo(command_name, demo_file, tmp_path, monkeypatch):
    # each command's examples on a fresh copy of the demo database, from a folder that has the
    # repository's examples/ (the import and apply examples read examples/survey_sample.csv)
    shutil.copy(demo_file, tmp_path / "segdb-demo.duckdb")
    (tmp_path / "examples").symlink_to(Path(__file__).resolve().parents[1] / "examples")
    monkeypatch.chdir(tmp_path)
    for line in example_lines(command_name):
        r = run_cli(shlex.split(line)[1:])
        assert r.exit_code == 0, f"{line}\n{r.output}"


def test_top_level_help_names_the_exit_codes():
    out = run_cli(["--help"]).output
    assert out.endswith("\n  Exit codes:\n"
                        "    0  success\n"
                        "    1  an error segdb reports on one line, `Error: ...` (what, where, how to fix)\n"
                        "    2  a usage error: unknown command or option, a missing argument, a value of "
                        "the wrong type\n"
                        "    3  `segdb drift`: a refresh is advisable\n")
    assert "\n  Examples:\n    segdb demo\n" in out


def test_drift_help_lists_every_limit_with_its_default():
    from segdb.living.drift import DEFAULT_LIMITS
    out = run_cli(["drift", "--help"]).output
    for key, value in DEFAULT_LIMITS.items():
        assert re.search(rf"\n    {key} +{value:g} ", out), key


def test_numeric_options_are_typed(people):
    create = ["create", "p", "--source", "people", "--key", "id", "--feature", "Age"]
    r = run_cli([*create, "--seed", "x"], people)
    assert r.exit_code == 2  # click's usage error, before any database work
    assert r.output.endswith("Error: Invalid value for '--seed': 'x' is not a valid integer.\n")
    r = run_cli([*create, "--max-fit-rows", "many"], people)
    assert r.exit_code == 2
    assert r.output.endswith("Error: Invalid value for '--max-fit-rows': 'many' is not a whole number "
                             "or 'auto'\n")
    r = run_cli([*create, "--seed", "7", "--n-init", "2", "--max-fit-rows", "auto"], people)
    assert r.exit_code == 0, r.output
    r = run_cli(["sql", "SELECT seed, n_init, max_fit_rows FROM segdb.definitions WHERE segmentation = 'p'",
                 "--format", "csv"], people)
    assert r.output == "seed,n_init,max_fit_rows\n7,2,\n"
    help_text = run_cli(["create", "--help"]).output
    assert "--seed N " in help_text and "--n-init N " in help_text and "--max-fit-rows N|auto " in help_text
    assert "zscore (x - mean) / sd" in help_text
