"""PostgreSQL keeps each run's labels in a partition of its own (segdb.store.run_partitions): a
refresh attaches the run's partition in its transaction without blocking readers, prune drops
partitions, and a labels table made before partitions (one heap table) still refreshes and prunes.
Real sessions on the test server."""

from __future__ import annotations

import psycopg
import pytest

import segdb
from engines import postgres_conninfo, postgres_customers
from segdb.store import run_partitions

ROWS = 500


def partitions(db, table="live_labels") -> list[str]:
    return [r["partition"] for r in db.sql(
        "SELECT c.relname AS partition FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s) ORDER BY c.oid", [f"segdb.{table}"]).to_pylist()]


def relkind(db, table="live_labels") -> str:
    return db.sql("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)",
                  [f"segdb.{table}"]).to_pylist()[0]["relkind"]


@pytest.fixture
def live(postgres_url):
    with segdb.connect(postgres_url) as db:
        postgres_customers(db, ROWS)
        db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=3)
    return postgres_url


def test_each_run_is_a_partition_holding_its_rows_and_prune_drops_it(live):
    with segdb.connect(live) as db:
        assert relkind(db) == "p"
        first = db.refresh("live").run_id
        db.sql("INSERT INTO customers SELECT customer_id + 10000, visits * 10, spend / 10 "
               "FROM customers WHERE customer_id <= 100")
        second = db.refresh("live").run_id
        assert partitions(db) == [f"labels_run_{first}", f"labels_run_{second}"]
        counts = db.sql(f"SELECT (SELECT count(*) FROM segdb.labels_run_{first}) AS a, "
                        f"(SELECT count(*) FROM segdb.labels_run_{second}) AS b, "
                        f"(SELECT count(DISTINCT run_id) FROM segdb.labels_run_{second}) AS runs").to_pylist()
        assert counts == [{"a": ROWS, "b": ROWS + 100, "runs": 1}]
        # the views and the transitions read the partitions through the labels table
        assert db.sql("SELECT count(*) AS n FROM live_segments").to_pylist() == [{"n": ROWS + 100}]
        moved = db.sql("SELECT sum(customers) AS n FROM segdb.transitions WHERE run_id = %s",
                       [second]).to_pylist()
        assert moved == [{"n": ROWS + 100}]
        result = db.prune("live", keep=1)
        assert result.pruned_run_ids == (first,) and result.labels_deleted == ROWS
        assert partitions(db) == [f"labels_run_{second}"]
        assert db.sql("SELECT to_regclass(%s) IS NULL AS gone", [f"segdb.labels_run_{first}"]).to_pylist() \
            == [{"gone": True}]
        # prune's other tables are not mistaken for per-run tables of their own
        assert db.sql("SELECT count(*) AS n FROM segdb.segments WHERE run_id = %s",
                      [first]).to_pylist() == [{"n": 0}]
        assert db.prune("live", keep=1).pruned_run_ids == ()


def test_a_run_being_written_blocks_no_reader_and_shows_at_commit_only(live):
    """The partition is attached inside the writer's transaction with a lock readers do not wait
    for; another session reads the labels (and the views) at once and sees the run only after it
    commits; a rollback leaves no partition."""
    with segdb.connect(live) as db:
        current = db.refresh("live").run_id
        writer = db.con
        writer.execute("BEGIN TRANSACTION")
        try:
            run_partitions.add(writer, "live_labels", 999_999)
            writer.native("INSERT INTO segdb.live_labels (run_id, segdb_key, segment_id, distance) "
                          "VALUES (999999, 1, 1, 0.5)")
            with psycopg.connect(**postgres_conninfo(live), autocommit=True) as reader:
                reader.execute("SET lock_timeout = '2s'")
                assert reader.execute("SELECT count(*) FROM segdb.live_labels WHERE run_id = 999999"
                                      ).fetchone() == (0,)
                assert reader.execute("SELECT count(*) FROM live_segments").fetchone() == (ROWS,)
                assert reader.execute("SELECT count(*) FROM segdb.live_labels").fetchone() == (ROWS,)
        finally:
            writer.execute("ROLLBACK")
        assert partitions(db) == [f"labels_run_{current}"]


def test_a_labels_table_made_before_partitions_stays_one_table(live):
    """A segmentation created by an earlier segdb has one heap labels table: refreshes append to
    it, prune deletes from it, and no partition appears."""
    with segdb.connect(live) as db:
        db.sql("CREATE TABLE segdb.heap (LIKE segdb.live_labels INCLUDING DEFAULTS); "
               "ALTER TABLE segdb.heap DROP COLUMN runner_up_id, DROP COLUMN runner_up_distance, "
               "DROP COLUMN confidence; "  # as before the runner-up columns, too
               "DROP TABLE segdb.live_labels; ALTER TABLE segdb.heap RENAME TO live_labels")
        first = db.refresh("live").run_id
        second = db.refresh("live").run_id
        assert relkind(db) == "r" and partitions(db) == []
        assert db.sql("SELECT run_id, count(*) AS n FROM segdb.live_labels GROUP BY run_id ORDER BY run_id"
                      ).to_pylist() == [{"run_id": first, "n": ROWS}, {"run_id": second, "n": ROWS}]
        result = db.prune("live", keep=1)
        assert result.pruned_run_ids == (first,) and result.labels_deleted == ROWS
        assert db.sql("SELECT DISTINCT run_id FROM segdb.live_labels").to_pylist() == [{"run_id": second}]


def test_prune_waits_for_a_reader_of_the_runs_it_drops_then_stops_in_one_line(live):
    """Dropping a run's partition needs the readers of the labels to finish (DELETE did not): an
    analyst's transaction left open after reading the view makes prune stop after --lock-timeout
    with one line naming that session, nothing pruned; once it ends, prune goes through."""
    with segdb.connect(live) as db:
        first = db.refresh("live").run_id
        second = db.refresh("live").run_id
    idle = psycopg.connect(**postgres_conninfo(live))  # not autocommit: the SELECT opens a transaction
    try:
        assert idle.execute("SELECT count(*) FROM live_segments").fetchone() == (ROWS,)
        with segdb.connect(live, lock_timeout=1) as db:
            with pytest.raises(segdb.SegdbError) as caught:
                db.prune("live", keep=1)
            message = str(caught.value)
            assert message.startswith("pruning 1 runs of 'live' failed: waited 1 s for relation "), message
            assert "idle in transaction" in message and message.endswith("nothing was changed"), message
            assert partitions(db) == [f"labels_run_{first}", f"labels_run_{second}"]
            assert [r["pruned_at"] for r in db.runs("live")] == [None, None]
        idle.commit()
        with segdb.connect(live, lock_timeout=1) as db:
            assert db.prune("live", keep=1).pruned_run_ids == (first,)
            assert partitions(db) == [f"labels_run_{second}"]
    finally:
        idle.close()


def to_heap(db, table: str) -> None:
    """Turn segdb.<table> into one heap table, as an earlier segdb made it."""
    db.sql(f"CREATE TABLE segdb.heap (LIKE segdb.{table} INCLUDING DEFAULTS); "
           f"DROP TABLE segdb.{table}; ALTER TABLE segdb.heap RENAME TO {table}")


def test_a_bounded_fit_fills_its_partition_by_create_table_as_with_the_same_labels(live):
    """Every row labelled in SQL (a 200-row fit sample of 500): the run's partition is made by
    CREATE TABLE ... AS and attached; its columns match the labels table's, and its rows equal
    those the INSERT ... SELECT writes into a heap labels table for the same definition."""
    with segdb.connect(live) as db:
        for name in ("live", "heap"):
            db.create(name, source="customers", key="customer_id", features=["spend", "visits"], k=3,
                      max_fit_rows=200, replace=name == "live")
        to_heap(db, "heap_labels")
        run = db.refresh("live").run_id
        other = db.refresh("heap").run_id
        assert partitions(db) == [f"labels_run_{run}"] and relkind(db, "heap_labels") == "r"
        shape = ("SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS kind, a.attnotnull "
                 "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                 "AND NOT a.attisdropped ORDER BY a.attname")
        assert db.sql(shape, [f"segdb.labels_run_{run}"]).to_pylist() == \
            db.sql(shape, ["segdb.live_labels"]).to_pylist()
        assert db.sql("SELECT pg_get_constraintdef(oid) AS c FROM pg_constraint WHERE conrelid = "
                      "to_regclass(%s) AND contype = 'c'", [f"segdb.labels_run_{run}"]).to_pylist() \
            == [{"c": f"CHECK ((run_id = {run}))"}]
        columns = "segdb_key, segment_id, distance, fitted, runner_up_id, runner_up_distance, confidence"
        mine = db.sql(f"SELECT {columns} FROM segdb.live_labels WHERE run_id = %s ORDER BY segdb_key", [run])
        theirs = db.sql(f"SELECT {columns} FROM segdb.heap_labels WHERE run_id = %s ORDER BY segdb_key", [other])
        assert mine.num_rows == ROWS and mine.to_pylist() == theirs.to_pylist()
        assert 0 < sum(mine.column("fitted").to_pylist()) < ROWS  # a sample was fitted, every row labelled
        assert db.sql("SELECT sum(size) AS n FROM segdb.segments WHERE run_id = %s", [run]).to_pylist() \
            == [{"n": ROWS}]


@pytest.mark.parametrize("max_fit_rows", [None, 200], ids=["copied-in", "create-table-as"])
def test_a_snapshot_taken_before_a_refresh_does_not_see_its_run_after_the_commit(live, max_fit_rows):
    """A REPEATABLE READ reader whose snapshot predates a refresh sees the same labels after the
    refresh commits: the partition appears in the catalog at once, but its rows carry the
    refresh's transaction id. (``COPY ... FREEZE`` would write them visible to every snapshot: the
    reader would see the new run's labels without its run row.)"""
    with segdb.connect(live) as db:
        if max_fit_rows:
            db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=3,
                      max_fit_rows=max_fit_rows, replace=True)
        first = db.refresh("live").run_id
        with psycopg.connect(**postgres_conninfo(live)) as reader:
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            seen = "SELECT run_id, count(*) FROM segdb.live_labels GROUP BY run_id ORDER BY run_id"
            assert reader.execute(seen).fetchall() == [(first, ROWS)]
            second = db.refresh("live").run_id
            assert partitions(db) == [f"labels_run_{first}", f"labels_run_{second}"]
            assert reader.execute(seen).fetchall() == [(first, ROWS)]
            assert reader.execute("SELECT count(*) FROM segdb.runs WHERE run_id = %s", [second]).fetchone() == (0,)
            reader.rollback()
            assert reader.execute(seen).fetchall() == [(first, ROWS), (second, ROWS)]
