"""The command line's help: every command is listed however segdb is started, and every command's
help ends with examples that parse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import segdb_env
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
