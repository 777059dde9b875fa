"""PostgreSQL under concurrency (issue 15, item 5): refreshes of one segmentation serialize through
an advisory lock held from before the refresh reads the current run until after its COMMIT; a
second refresh says once that it waits, then goes on or fails in one line naming the first
session; --lock-timeout bounds every lock a refresh takes (an analyst's idle transaction on the
segments view included). Real `segdb` processes and real sessions on the test server."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

import segdb
from conftest import finish, paused_refresh, start_segdb_process
from engines import postgres_customers

ROWS = 600


@pytest.fixture
def live_pg(postgres_url):
    with segdb.connect(postgres_url) as db:
        postgres_customers(db, ROWS)
        db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=3)
        db.refresh("live")
        # new customers: the next run's segments differ, so its ids and transitions matter
        db.sql("INSERT INTO customers SELECT customer_id + 10000, visits * 10, spend / 10 "
               "FROM customers WHERE customer_id <= 200")
    return postgres_url






def runs_and_state(url) -> tuple[list, list, list]:
    with segdb.connect(url, read_only=True) as db:
        runs = [(r["run_id"], r["status"], r["is_current"]) for r in db.runs("live")]
        previous = db.sql("SELECT DISTINCT run_id, previous_run_id FROM segdb.transitions "
                          "ORDER BY run_id").to_pylist()
        labels = db.sql("SELECT run_id, count(*) AS n FROM segdb.live_labels GROUP BY run_id "
                        "ORDER BY run_id").to_pylist()
    return runs, previous, labels


def holder_pattern(application: str) -> str:
    """The session description of segdb.store.locks: the server's pid of that session, and the
    application name, which for segdb's own sessions carries the client process's pid."""
    return (rf"\(server pid \d+, user \w+, application '{re.escape(application)}', client [\d.:a-f]+, "
            rf"since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC, .*\)")


def test_second_refresh_waits_then_builds_on_the_first_run(live_pg, tmp_path):
    first, release = paused_refresh(live_pg, tmp_path)
    try:
        second = start_segdb_process(["--lock-timeout", "120", "refresh", "live"], live_pg)
        # the second process says once that it waits, naming the first
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line:
            line = second.stderr.readline()
        assert re.fullmatch(r"Waiting up to 120 s for segmentation 'live': another session is "
                            rf"changing it {holder_pattern(f'segdb refresh live (pid {first.pid})')}\n", line), line
        assert second.poll() is None
    finally:
        release()
        code, out, err = finish(first)
    code2, out2, err2 = finish(second)
    assert code == 0 and out.startswith("live: run 2 (its 2nd run),"), err
    assert code2 == 0 and out2.startswith("live: run 3 (its 3rd run),"), err2
    assert "Waiting" not in err2 and "Error" not in err2  # said once (read above), no error
    runs, previous, labels = runs_and_state(live_pg)
    assert runs == [(3, "succeeded", True), (2, "succeeded", False), (1, "succeeded", False)]
    # the second run's matching and transitions were computed against the first one's run
    assert previous == [{"run_id": 1, "previous_run_id": None}, {"run_id": 2, "previous_run_id": 1},
                        {"run_id": 3, "previous_run_id": 2}]
    assert labels == [{"run_id": 1, "n": ROWS}, {"run_id": 2, "n": ROWS + 200},
                      {"run_id": 3, "n": ROWS + 200}]


def beside_paused_refresh(url, tmp_path, *commands):
    """Run each command (segdb arguments) to its end, one after the other, while a refresh of
    'live' is paused inside its write; returns (the refresh's pid, its (code, out, err), each
    command's (code, out, err))."""
    first, release = paused_refresh(url, tmp_path, stage="write_labels")  # inside the write
    try:
        results = [finish(start_segdb_process(args, url)) for args in commands]
    finally:
        release()
        done = finish(first)
    return first.pid, done, results


def assert_refused_naming_the_refresh(result, refresh_pid):
    """A second writer's (code, out, err): one line that it waits, then one that it gave up after
    --lock-timeout 1, naming the paused refresh's session."""
    code2, out2, err2 = result
    assert (code2, out2) == (1, "")
    waiting, error = err2.splitlines()
    assert waiting.startswith("Waiting up to 1 s for segmentation 'live'")
    assert re.fullmatch(rf"Error: segmentation 'live' is being changed by another session "
                        rf"{holder_pattern(f'segdb refresh live (pid {refresh_pid})')}; segdb waited 1 s; wait "
                        r"for it to finish or end that session, or raise --lock-timeout", error), error


def test_second_refresh_fails_in_one_line_naming_the_first_session(live_pg, tmp_path):
    pid, (code, out, err), (second,) = beside_paused_refresh(
        live_pg, tmp_path, ["--lock-timeout", "1", "refresh", "live"])
    assert_refused_naming_the_refresh(second, pid)
    assert "segment_ids_pkey" not in second[2]
    assert code == 0 and out.startswith("live: run 2 (its 2nd run),"), err
    runs, previous, labels = runs_and_state(live_pg)
    assert runs == [(2, "succeeded", True), (1, "succeeded", False)]  # nothing of the second
    assert labels == [{"run_id": 1, "n": ROWS}, {"run_id": 2, "n": ROWS + 200}]


def test_lock_timeout_bounds_the_view_switch_behind_an_idle_reader(live_pg):
    """An analyst's transaction has read live_segments and stays open, and the definition changed
    (the one case where a refresh rewrites PostgreSQL's views, which otherwise read the current run
    from its commit record: tests/test_postgres_idle_reader.py): the refresh's view DDL waits at
    most --lock-timeout, then fails in one line naming the view and the analyst's session;
    nothing of the run is written."""
    import psycopg
    from engines import postgres_conninfo
    with segdb.connect(live_pg) as db:  # a new definition version: its views must be rewritten
        db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=4,
                  replace=True)
    analyst = psycopg.connect(**postgres_conninfo(live_pg), application_name="analyst notebook")
    analyst_pid = analyst.info.backend_pid
    try:
        analyst.execute("SELECT count(*) FROM live_segments").fetchall()  # idle in transaction now
        started = time.monotonic()
        result = subprocess.run(
            [*start_args(), "--db", live_pg, "--lock-timeout", "1", "refresh", "live"],
            env=env(), capture_output=True, text=True, timeout=180)
        waited = time.monotonic() - started
    finally:
        analyst.rollback()
        analyst.close()
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert re.fullmatch(
        r"Error: writing the new run of 'live' failed: waited 1 s for relation live_segments, held "
        rf"by another session {holder_pattern('analyst notebook')}; end "
        r"that session's transaction, or raise --lock-timeout; nothing was changed\n",
        result.stderr), result.stderr
    assert f"(server pid {analyst_pid}, " in result.stderr
    assert "idle in transaction after: SELECT count(*) FROM live_segments)" in result.stderr
    assert waited < 100  # not the minutes an unbounded wait would take (the process's own start included)
    runs, previous, labels = runs_and_state(live_pg)
    assert runs == [(1, "succeeded", True)]
    assert labels == [{"run_id": 1, "n": ROWS}]


def start_args() -> list[str]:
    import sys
    return [sys.executable, "-m", "segdb"]


def env() -> dict:
    from conftest import segdb_env
    return segdb_env()


def test_lock_is_released_after_a_failed_refresh_and_a_killed_process(live_pg, tmp_path):
    """The lock is session-level: a killed refresh's session ends and lets go; a refresh that fails
    lets go itself (the next one does not wait)."""
    first, _release = paused_refresh(live_pg, tmp_path)
    first.kill()
    finish(first)
    with segdb.connect(live_pg, lock_timeout=30) as db:
        waits = []
        db.on_wait = waits.append
        deadline = time.monotonic() + 30
        # the server notices the client's end a moment later; until then the lock may still be held
        while time.monotonic() < deadline and db.con.native(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchall()[0][0]:
            time.sleep(0.1)
        db.sql("ALTER TABLE customers RENAME COLUMN visits TO visits_gone")
        with pytest.raises(segdb.SegdbError):
            db.refresh("live")
        db.sql("ALTER TABLE customers RENAME COLUMN visits_gone TO visits")
        assert db.refresh("live").run_id == 2  # neither the killed nor the failed run drew an id
        assert waits == []


def test_redefinition_waits_for_a_refresh_then_fails_in_one_line(live_pg, tmp_path):
    """`create --replace` takes the segmentation's lock too: a new definition version never lands
    between a running refresh's reads and its commit."""
    pid, (code, out, err), (second,) = beside_paused_refresh(
        live_pg, tmp_path, ["--lock-timeout", "1", "create", "live", "--source", "customers", "--key",
                            "customer_id", "--feature", "spend", "--k", "2", "--replace"])
    assert_refused_naming_the_refresh(second, pid)
    assert code == 0, err
    with segdb.connect(live_pg, read_only=True) as db:
        assert db.definition("live").version == 1 and db.definition("live").k == 3


def test_lock_timeout_bounds_a_statement_outside_a_transaction(live_pg):
    """`segdb sql` runs in autocommit: its lock waits are bounded by --lock-timeout too."""
    import psycopg
    from engines import postgres_conninfo
    other = psycopg.connect(**postgres_conninfo(live_pg), application_name="analyst notebook")
    try:
        other.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")  # and keeps its transaction open
        started = time.monotonic()
        result = subprocess.run([*start_args(), "--db", live_pg, "--lock-timeout", "1", "sql",
                                 "SELECT count(*) FROM customers"],
                                env=env(), capture_output=True, text=True, timeout=180)
        waited = time.monotonic() - started
    finally:
        other.rollback()
        other.close()
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert re.fullmatch(r"Error: the query failed: waited 1 s for relation (public\.)?customers, held by another "
                        rf"session {holder_pattern('analyst notebook')}; end that session's transaction, or "
                        r"raise --lock-timeout\n", result.stderr), result.stderr
    assert waited < 100  # the server's default lock_timeout (0) would wait for ever


def test_recorded_drift_check_waits_for_a_refresh_and_a_read_only_one_does_not(live_pg, tmp_path):
    """A recorded drift check names the current run: it takes the lock, so it never records against a
    run being replaced; `--no-record` only reads and goes straight through."""
    _, (code, out, err), ((code_r, out_r, err_r), (code_n, out_n, err_n)) = beside_paused_refresh(
        live_pg, tmp_path, ["--lock-timeout", "1", "drift", "live"],
        ["--lock-timeout", "1", "drift", "live", "--no-record"])
    assert (code_r, out_r) == (1, "")
    assert err_r.splitlines()[-1].startswith("Error: segmentation 'live' is being changed by another session ")
    assert code_n in (0, 3) and "Error" not in err_n, err_n
    assert code == 0, err
    with segdb.connect(live_pg, read_only=True) as db:
        assert db.sql("SELECT count(*) AS n FROM segdb.drift_checks").to_pylist() == [{"n": 0}]
