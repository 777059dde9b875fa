"""Engine URLs that cannot work: one line, what and how to fix, exit 1 (no server needed)."""

from __future__ import annotations

import socket

from conftest import run_cli


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unknown_scheme():
    out = run_cli(["list"], "mysql://analyst@db/crm")
    assert out.exit_code == 1
    assert out.output == ("Error: segdb cannot open mysql:// databases; use a DuckDB file path, "
                          "postgresql+psycopg://USER@HOST:PORT/DB, spark://local[2] or sc://HOST:PORT\n")


def test_postgres_server_not_there():
    port = _closed_port()
    url = f"postgresql+psycopg://analyst@127.0.0.1:{port}/crm"
    out = run_cli(["list"], url)
    assert out.exit_code == 1
    assert out.output.startswith(f"Error: cannot connect to {url}: connection failed: ")
    assert out.output.endswith("; check the URL, the server and its credentials\n")
    assert out.output.count("\n") == 1


def test_password_is_not_printed():
    port = _closed_port()
    out = run_cli(["list"], f"postgresql+psycopg://analyst:s3cret@127.0.0.1:{port}/crm")
    assert out.exit_code == 1 and "s3cret" not in out.output and "***" in out.output
