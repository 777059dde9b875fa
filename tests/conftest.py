"""Shared fixtures: real DuckDB files in a temporary folder, the CLI through click's CliRunner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from threadpoolctl import threadpool_limits

import segdb
from segdb.cli import cli

DATA = Path(__file__).parent / "data"
WHOLESALE_COLUMNS = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]

# Hypothesis, for every property test: the same examples on every run and machine (derandomize),
# and no example database (.hypothesis/ is never written or read, so no run depends on an earlier
# one). No deadline: the examples run real refreshes on a shared machine. Pinned by
# tests/test_safety_properties.py::test_hypothesis_is_reproducible_and_keeps_no_state.
settings.register_profile("segdb", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("segdb")


def pytest_configure(config):
    """Even without an example database Hypothesis caches the constants it reads from the source
    in ./.hypothesis/constants (its pytest plugin does so while collecting, before any fixture
    runs); a temporary folder of this session holds them instead, removed at the end, so no run
    writes into the checkout or reads what an earlier run left there."""
    _hypothesis_dirs.append(tempfile.mkdtemp(prefix="segdb-hypothesis-"))
    set_hypothesis_home_dir(_hypothesis_dirs[-1])


def pytest_unconfigure(config):
    set_hypothesis_home_dir(None)
    while _hypothesis_dirs:
        shutil.rmtree(_hypothesis_dirs.pop(), ignore_errors=True)


_hypothesis_dirs: list[str] = []


@pytest.fixture
def one_blas_thread():
    """Speed only: on the shared 2-core machine OpenMP/BLAS threads make small fits 10-80x
    slower; the results do not depend on the thread count. Use with
    ``pytestmark = pytest.mark.usefixtures("one_blas_thread")``."""
    with threadpool_limits(1):
        yield


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "test.duckdb")


@pytest.fixture
def db(db_path):
    database = segdb.connect(db_path)
    yield database
    database.close()


def load_wholesale(con) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE wholesale AS SELECT row_number() OVER () AS customer_id, * "
        "FROM read_csv(?)", [str(DATA / "wholesale_customers.csv")])


def wholesale_matrix() -> np.ndarray:
    return np.genfromtxt(DATA / "wholesale_customers.csv", delimiter=",", skip_header=1)[:, 2:]


def run_cli(args, db_path=None, input=None):
    runner = CliRunner()
    full = (["--db", db_path] if db_path else []) + list(args)
    return runner.invoke(cli, full, input=input, catch_exceptions=False)


def run_segdb_process(args, db_path, env_extra=None, **kwargs):
    """The real `segdb` command in a subprocess (for locks, crashes and exit codes)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "segdb", "--db", db_path, *args], env=env,
                          capture_output=True, text=True, **kwargs)


def table_checksums(path: str) -> dict[str, tuple]:
    """Order-independent checksum of every table in every schema of a database file."""
    con = duckdb.connect(path, read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
        out = {}
        for schema, name in tables:
            q = f'"{schema}"."{name}"'
            count = con.execute(f"SELECT count(*) FROM {q}").fetchall()[0][0]
            digest = con.execute(f"SELECT bit_xor(hash(t)) FROM {q} AS t").fetchall()[0][0]
            out[f"{schema}.{name}"] = (count, digest)
        views = con.execute(
            "SELECT table_name, view_definition FROM information_schema.views "
            "WHERE table_schema = 'main' ORDER BY 1").fetchall()
        out["views"] = tuple(views)
        return out
    finally:
        con.close()


# -- helpers added for crash, lock and bad-input tests (issue 5) --------------------------------

def segdb_env(env_extra=None) -> dict:
    """The environment run_segdb_process uses: this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return env


PAUSED_SEGDB = str(Path(__file__).with_name("paused_segdb.py"))


def start_segdb_process(args, db_path, env_extra=None) -> subprocess.Popen:
    """The real `segdb` command started in the background (to be paused, killed or raced); with
    pause_env(...) in ``env_extra`` it runs through tests/paused_segdb.py, which pauses it."""
    entry = [PAUSED_SEGDB] if "SEGDB_TEST_PAUSE_AT" in (env_extra or {}) else ["-m", "segdb"]
    return subprocess.Popen([sys.executable, *entry, "--db", db_path, *args],
                            env=segdb_env(env_extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_file(path, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> str:
    """Wait until ``path`` exists and is non-empty; fail early if ``proc`` exits first."""
    import time
    deadline = time.monotonic() + timeout
    p = Path(path)
    while time.monotonic() < deadline:
        if p.exists() and p.stat().st_size:
            return p.read_text(encoding="utf-8")
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process exited with {proc.returncode} before {path}: {out}{err}")
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def pause_env(stage: str, marker, seconds: float = 60.0) -> dict:
    """Environment that makes a refresh stop at ``stage`` (see tests/paused_segdb.py)."""
    return {"SEGDB_TEST_PAUSE_AT": stage, "SEGDB_TEST_PAUSE_MARKER": str(marker),
            "SEGDB_TEST_PAUSE_SECONDS": str(seconds)}


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a started process; killed if it outlives ``timeout``."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def paused_refresh(db_path, tmp_path, stage="fit"):
    """A `segdb refresh live` process on ``db_path`` paused at ``stage`` (holding whatever it holds
    there) until the returned release() is called."""
    marker, release_file = tmp_path / "marker", tmp_path / "release"
    env = {**pause_env(stage, marker, seconds=150), "SEGDB_TEST_PAUSE_RELEASE": str(release_file)}
    proc = start_segdb_process(["refresh", "live"], db_path, env)
    wait_for_file(marker, proc)
    return proc, lambda: release_file.write_text("go")


def view_checksum(path: str, view: str) -> tuple:
    """(row count, order-independent checksum, distinct run ids) of a view, read-only."""
    con = duckdb.connect(path, read_only=True)
    try:
        count, digest = con.execute(f"SELECT count(*), bit_xor(hash(t)) FROM {view} AS t").fetchall()[0]
        runs = [r[0] for r in con.execute(f"SELECT DISTINCT run_id FROM {view} ORDER BY 1").fetchall()]
        return count, digest, runs
    finally:
        con.close()


# -- engine-parametrized fixtures (issue 8): engine_url yields a fresh database on DuckDB, ------
# -- PostgreSQL and Spark in turn; see tests/engines.py --------------------------------------------
from engines import engine_url, postgres_admin, postgres_url, spark_session, spark_url  # noqa: E402,F401
