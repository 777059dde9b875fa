"""Start-up stays light: importing segdb, `segdb --help` and the commands that do not fit (list, show,
runs, sql, name, assign) import none of scikit-learn, scipy, matplotlib or pandas (together ~2 s of
the 2.6 s `segdb --help` took). Structural, not timed: the modules are looked up in sys.modules of
a fresh process. benchmarks/startup.py shows the wall times."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import run_cli, segdb_env

HEAVY = ("sklearn", "scipy", "matplotlib", "pandas")

# Runs segdb.cli.main in this process, then prints the heavy modules that got imported.
WRAPPER = """
import sys
from segdb.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("exit", code, "heavy", sorted(m for m in {heavy!r} if m in sys.modules))
""".format(heavy=HEAVY)


def heavy_after(args) -> str:
    r = subprocess.run([sys.executable, "-c", WRAPPER, *args], env=segdb_env(), capture_output=True,
                       text=True, timeout=120)
    return r.stdout.splitlines()[-1] if r.stdout else r.stderr


def test_import_segdb_and_its_cli_imports_no_heavy_module():
    code = ("import segdb, segdb.cli, sys; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], env=segdb_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[]\n"


def test_help_imports_no_heavy_module():
    assert heavy_after(["--help"]) == "exit 0 heavy []"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("startup") / "segdb-demo.duckdb")
    assert run_cli(["demo"], path).exit_code == 0
    return path


@pytest.mark.parametrize("args", [
    ["list"], ["show", "insurance"], ["runs", "insurance"], ["sql", "SELECT 1"],
    ["name", "insurance", "1", "Savers"], ["assign", "insurance"],
])
def test_commands_that_do_not_fit_import_no_heavy_module(args, demo_db):
    assert heavy_after(["--db", demo_db, *args]) == "exit 0 heavy []"


def test_a_refresh_still_fits(demo_db):
    # the lazily imported scikit-learn is there when it is needed
    line = heavy_after(["--db", demo_db, "-q", "refresh", "insurance"])
    assert line.startswith("exit 0 heavy [") and "'sklearn'" in line, line
