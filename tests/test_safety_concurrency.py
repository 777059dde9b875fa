"""Concurrent use: two refresh processes, an analyst's session holding the file, and a reader
iterating over `<name>_segments` while a refresh commits on another thread of the same process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import segdb
from conftest import (finish, paused_refresh, run_segdb_process, segdb_env,
                      start_segdb_process, table_checksums, view_checksum, wait_for_file)

ROWS = 2000


@pytest.fixture
def live_db(tmp_path):
    path = str(tmp_path / "live.duckdb")
    with segdb.connect(path) as db:
        db.sql("CREATE TABLE customers AS SELECT i AS customer_id, (hash(i) % 100)::DOUBLE AS spend, "
               "(hash(i + 1) % 10)::DOUBLE AS visits FROM range(1, ?) t(i)", [ROWS + 1])
        db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=3)
        db.refresh("live")
        db.sql("INSERT INTO customers SELECT customer_id + 10000, visits * 10, spend / 10 "
               "FROM customers WHERE customer_id <= 300")
    return path


def lock_message(path: str, pid: int) -> str:
    # DuckDB names the holding program by its executable: the same Python as this one.
    holder = os.path.realpath(sys.executable)
    return (f"Error: database {path} is locked by {holder} (PID {pid}); close that session or wait "
            "for it to finish, or raise --lock-timeout\n")






def test_second_refresh_gives_up_after_lock_timeout(live_db, tmp_path):
    first, release = paused_refresh(live_db, tmp_path)
    try:
        second = run_segdb_process(["--lock-timeout", "0.5", "refresh", "live"], live_db)
    finally:
        release()
        code, out, err = finish(first)
    assert (second.returncode, second.stdout) == (1, "")
    assert second.stderr == lock_message(live_db, first.pid)
    # The first refresh was not disturbed: it finished and its run is current and complete.
    assert code == 0 and out.startswith("live: run 2 (its 2nd run),"), err
    assert view_checksum(live_db, "live_segments")[0::2] == (ROWS + 300, [2])


def test_second_refresh_waits_for_the_first(live_db, tmp_path):
    first, release = paused_refresh(live_db, tmp_path)
    try:
        # The second process starts while the first holds the file, waits, and goes on after it.
        second = start_segdb_process(["--lock-timeout", "120", "refresh", "live"], live_db)
        wait_for_file(tmp_path / "marker", second)
        time.sleep(2)  # let the second process reach its lock wait (it is slow to start)
        assert second.poll() is None
    finally:
        release()
        code, out, err = finish(first)
    code2, out2, err2 = finish(second)
    assert code == 0 and out.startswith("live: run 2 (its 2nd run),"), err
    assert code2 == 0 and out2.startswith("live: run 3 (its 3rd run),"), err2
    # No run lost: both are recorded, the later one is current and complete.
    with segdb.connect(live_db, read_only=True) as db:
        assert [(r["run_id"], r["status"], r["is_current"]) for r in db.runs("live")] == [
            (3, "succeeded", True), (2, "succeeded", False), (1, "succeeded", False)]
        assert db.sql("SELECT run_id, count(*) AS n FROM segdb.live_labels GROUP BY ALL "
                      "ORDER BY run_id").to_pylist() == [
            {"run_id": 1, "n": ROWS}, {"run_id": 2, "n": ROWS + 300}, {"run_id": 3, "n": ROWS + 300}]


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
con.execute("SELECT count(*) FROM customers").fetchall()
print("holding", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_refresh_names_the_analyst_session_holding_the_file(live_db, mode):
    before = table_checksums(live_db)
    analyst = subprocess.Popen([sys.executable, "-c", HOLD, live_db, mode], env=segdb_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert analyst.stdout.readline() == "holding\n"
        result = run_segdb_process(["--lock-timeout", "0.3", "refresh", "live"], live_db)
    finally:
        analyst.kill()
        analyst.communicate()
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == lock_message(live_db, analyst.pid)
    assert table_checksums(live_db) == before


def test_reader_sees_old_or_new_run_never_a_mix(live_db):
    """A reader streams `live_segments` on another connection of the same process; the refresh
    commits halfway through its iteration. The reader's rows all belong to the old run."""
    at_commit, reader_started, committed = threading.Event(), threading.Event(), threading.Event()

    def hook(stage, event):          # the refresh's progress callback: every stage boundary
        if event == "commit":        # everything written, COMMIT not yet run
            at_commit.set()
            assert reader_started.wait(30)
        elif event == "committed":
            committed.set()

    old_count, old_digest, _ = view_checksum(live_db, "live_segments")
    errors = []
    with segdb.connect(live_db) as db:
        reader = db.cursor()

        def refresh():
            try:
                db.refresh("live", progress=hook)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                at_commit.set()
        writer = threading.Thread(target=refresh)
        writer.start()
        try:
            assert at_commit.wait(60) and not errors
            # Before COMMIT: the whole view is the old run.
            assert reader.con.execute("SELECT count(*), bit_xor(hash(t)) FROM live_segments AS t"
                                      ).fetchall() == [(old_count, old_digest)]
            # Start streaming, let the refresh commit, then read the rest.
            stream = reader.con.sql("SELECT * FROM live_segments").to_arrow_reader(256)
            first = stream.read_next_batch()
            reader_started.set()
            assert committed.wait(60)
            batches = [first] + list(stream)
        finally:
            reader_started.set()
            writer.join(60)
        assert not errors
        run_ids = {r for b in batches for r in b.column("run_id").to_pylist()}
        assert run_ids == {1}
        assert sum(b.num_rows for b in batches) == old_count
        # After COMMIT a new read sees the new run, all of it.
        assert reader.con.execute("SELECT count(*), min(run_id), max(run_id) FROM live_segments"
                                  ).fetchall() == [(ROWS + 300, 2, 2)]
        reader.close()


def test_two_refreshes_in_one_process_one_wins(live_db):
    """Two threads refresh the same segmentation on two connections, both inside the write
    transaction at once: one commits, the other fails with one line and writes nothing."""
    both_writing = threading.Barrier(2)

    def hook(stage, event):
        if event == "write_labels":  # inside the write transaction, no label written yet
            both_writing.wait(60)

    outcomes = {}
    with segdb.connect(live_db) as db:
        cursors = [db.cursor(), db.cursor()]

        def refresh(i):
            try:
                outcomes[i] = cursors[i].refresh("live", progress=hook).run_id
            except segdb.SegdbError as exc:
                outcomes[i] = exc.message
        threads = [threading.Thread(target=refresh, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        won = [v for v in outcomes.values() if isinstance(v, int)]
        lost = [v for v in outcomes.values() if isinstance(v, str)]
        assert len(won) == 1 and lost == [
            "writing the new run of 'live' failed: another connection wrote the same rows or views "
            "at the same time and committed first; nothing was changed; run it again"]
        assert [(r["run_id"], r["is_current"]) for r in db.runs("live")] == [(won[0], True), (1, False)]
        assert db.sql("SELECT run_id, count(*) AS n FROM segdb.live_labels GROUP BY ALL "
                      "ORDER BY run_id").to_pylist() == [{"run_id": 1, "n": ROWS},
                                                         {"run_id": won[0], "n": ROWS + 300}]
        assert db.sql("SELECT count(*) AS n, max(run_id) AS r FROM live_segments").to_pylist() == [
            {"n": ROWS + 300, "r": won[0]}]
        for c in cursors:
            c.close()
