"""The command line's help: every command is listed however segdb is started, and every command's
help ends with examples that parse."""

from __future__ import annotations

import subprocess
import sys

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
    listed = {line.split()[0] for line in r.stdout.split("Commands:")[1].splitlines() if line.strip()}
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
