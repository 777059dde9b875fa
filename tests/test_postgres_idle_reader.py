"""PostgreSQL: an analyst's session left idle in a transaction after reading ``<name>_segments``
does not block a refresh, and the refresh blocks no other reader (issue 15, item 6).

The views read the current run from its commit record (segdb.living.switch), so a refresh of the
same definition writes no DDL on them: before, its CREATE OR REPLACE VIEW waited for the idle
session's lock, and every later reader queued behind that request."""

from __future__ import annotations

import pytest

import segdb
from conftest import pause_env, start_segdb_process, wait_for_file
from engines import _psycopg, load_table, postgres_conninfo, wholesale_table

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def view_runs(con) -> list:
    return [r[0] for r in con.execute("SELECT DISTINCT run_id FROM ws_segments ORDER BY 1").fetchall()]


def test_idle_in_transaction_reader_does_not_block_a_refresh(postgres_url, tmp_path):
    url = postgres_url
    load_table(url, "wholesale", wholesale_table().slice(0, 400))
    with segdb.connect(url) as db:
        db.create("ws", source="wholesale", key="customer_id", features=["Fresh", "Milk", "Grocery"], k=3)
        first = db.refresh("ws").run_id
    psycopg = _psycopg()
    idle = psycopg.connect(**postgres_conninfo(url))  # not autocommit: the SELECT opens a transaction
    third = psycopg.connect(**postgres_conninfo(url), autocommit=True)
    proc = None
    try:
        assert view_runs(idle) == [first]  # ... and the session stays idle in that transaction
        marker, release = tmp_path / "paused", tmp_path / "release"
        env = {**pause_env("commit", marker, seconds=300), "SEGDB_TEST_PAUSE_RELEASE": str(release)}
        proc = start_segdb_process(["--lock-timeout", "5", "refresh", "ws"], url, env)
        # the refresh gets to its COMMIT: everything written while the idle reader holds its locks
        assert wait_for_file(marker, proc, timeout=300) == "commit"
        # meanwhile a third reader is not queued behind the refresh (a wait would fail at once)
        third.execute("SET lock_timeout = '2s'")
        assert view_runs(third) == [first]
        release.write_text("go", encoding="utf-8")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
        with segdb.connect(url) as db:
            second = db.runs("ws")[0]["run_id"]
        assert second != first
        assert view_runs(third) == [second]
        idle.commit()  # the analyst ends the transaction and reads again: the new run
        assert view_runs(idle) == [second]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        idle.close()
        third.close()
