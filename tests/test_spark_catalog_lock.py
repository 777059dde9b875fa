"""One writer per segmentation on Spark (issue 15, item 5), beyond the local warehouse's file lock
(tests/test_spark_warehouse_lock.py):

* threads of one process sharing a local session (a notebook, an orchestrator's workers) take a
  lock of the process: the second waits, then fails in one line naming the first;
* on a cluster or Spark Connect other processes write through the same catalog: a lock table
  (segdb.store.catalog_lock). No cluster here, so its protocol is run on the test's local session,
  through the same SQL a cluster's catalog would get."""

from __future__ import annotations

import os
import re
import socket
import threading

import pytest

import segdb
from segdb.errors import LockedError
from segdb.refresh.stages import listening
from segdb.store import catalog_lock


@pytest.fixture
def live(spark_url):
    with segdb.connect(spark_url) as db:
        db.sql("CREATE TABLE customers USING parquet AS SELECT id AS customer_id, "
               "CAST(id % 7 AS DOUBLE) AS spend, CAST(id % 5 AS DOUBLE) AS visits FROM range(1, 300)")
        db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=2)
    return spark_url


def test_second_thread_waits_then_fails_in_one_line_naming_the_first(live):
    paused, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def pause_first(stage, event):
        if (stage, event) == ("write", "write_labels") and threading.current_thread().name == "first":
            paused.set()
            release.wait(300)

    def first():
        with segdb.connect(live) as db:  # the process's session, found from another thread
            outcome["first"] = db.refresh("live")

    waits: list[str] = []
    with listening(pause_first):
        thread = threading.Thread(target=first, name="first")
        thread.start()
        try:
            assert paused.wait(300)
            with segdb.connect(live, lock_timeout=1) as db:
                db.on_wait = waits.append
                with pytest.raises(LockedError) as caught:
                    db.refresh("live")
        finally:
            release.set()
            thread.join(300)
    assert waits == ["waiting up to 1 s for segmentation 'live': another thread of this process is "
                     "changing it (refresh, thread 'first')"]
    assert str(caught.value) == ("segmentation 'live' is being changed by another thread of this process "
                                 "(refresh, thread 'first'); segdb waited 1 s; wait for it to finish, or "
                                 "raise lock_timeout")
    assert outcome["first"].run_id == 1
    with segdb.connect(live) as db:
        assert db.refresh("live").ordinal == 2  # the lock went with the first refresh
        assert [r["run_id"] for r in db.runs("live")] == [2, 1]  # nothing of the refused one


def holder_pattern(command: str) -> str:
    return (rf"\(host {re.escape(socket.gethostname())}, pid {os.getpid()}, {re.escape(command)}\S+, "
            r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)")


def test_catalog_lock_admits_one_session_and_names_it(live):
    with segdb.connect(live) as first, segdb.connect(live, lock_timeout=1) as second:
        waits: list[str] = []
        with catalog_lock.catalog_lock(first.con, "live", "refresh"):
            with pytest.raises(LockedError) as caught:
                with catalog_lock.catalog_lock(second.con, "live", "prune", on_wait=waits.append):
                    pass
            with catalog_lock.catalog_lock(second.con, "other", "refresh"):  # another segmentation: free
                pass
        command = "refresh live from "  # this test's program: pytest (its name depends on how it was started)
        assert re.fullmatch(r"waiting up to 1 s for segmentation 'live': another session is changing it "
                            + holder_pattern(command), waits[0]), waits
        assert re.fullmatch(r"segmentation 'live' is being changed by another session " + holder_pattern(command)
                            + r"; segdb waited 1 s; wait for it to finish, or raise lock_timeout; if that "
                            r"process is gone \(killed\), remove its lock with `segdb unlock live`",
                            str(caught.value)), caught.value
        with catalog_lock.catalog_lock(second.con, "live", "prune"):  # let go: free again
            pass


def test_a_killed_holders_catalog_lock_stays_until_unlocked(live):
    with segdb.connect(live, lock_timeout=0) as db:
        held = catalog_lock.catalog_lock(db.con, "live", "refresh")
        held.__enter__()  # and never left: as if its process had been killed
        with pytest.raises(LockedError, match=r"remove its lock with `segdb unlock live`$"):
            with catalog_lock.catalog_lock(db.con, "live", "refresh"):
                pass
        assert catalog_lock.unlock(db.con, "live").startswith(
            f"host {socket.gethostname()}, pid {os.getpid()}, refresh live")
        assert catalog_lock.unlock(db.con, "live") is None  # nothing left to remove
        with catalog_lock.catalog_lock(db.con, "live", "refresh"):
            pass
        # on a local master no lock outlives its process: `segdb unlock` has nothing to remove
        assert db.unlock("live") is None
