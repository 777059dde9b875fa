"""Shared fixtures: real DuckDB files in a temporary folder, the CLI through click's CliRunner."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

import segdb
from segdb.cli import cli

DATA = Path(__file__).parent / "data"
WHOLESALE_COLUMNS = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]


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
