"""Spark's copy-and-swap (UPDATE/DELETE as a new table renamed into place) after a kill inside a
rename. A local metastore renames a managed table in two steps, its directory first, then its
name; a kill between them leaves a table whose rows sit in a directory the catalog does not name.
Found by `benchmarks/kill_soak.py --engine spark --seed 15` (segdb.segments read empty). Here the
directory is moved by hand, as the killed rename left it, and the next connection must put it back.
"""

import os
from urllib.parse import unquote, urlsplit

import segdb
from segdb.engines.spark import SWAP_NEW, SWAP_OLD, recover


def _setup(db):
    session = db.con.session
    session.sql("CREATE TABLE segdb.swapped (x INT) USING parquet")
    session.sql("INSERT INTO segdb.swapped VALUES (1), (2), (3)")
    folder = unquote(urlsplit(session.catalog.getDatabase("segdb").locationUri).path)
    return session, folder


def _rows(session, table):
    session.catalog.refreshTable(f"segdb.{table}")  # this test's session cached the old listing
    return sorted(r[0] for r in session.sql(f"SELECT x FROM segdb.{table}").collect())


def _tables(session):
    return sorted(t.name for t in session.catalog.listTables(dbName="segdb") if t.name.startswith("swapped"))


def test_first_rename_killed_after_the_directory_moved(spark_url):
    with segdb.connect(spark_url) as db:
        db.init()
        session, folder = _setup(db)
        session.sql(f"CREATE TABLE segdb.swapped{SWAP_NEW} LIKE segdb.swapped")
        session.sql(f"INSERT INTO segdb.swapped{SWAP_NEW} VALUES (10), (20)")  # the complete copy
        # `ALTER TABLE swapped RENAME TO swapped__segdb_old`, killed after its directory moved
        os.rename(os.path.join(folder, "swapped"), os.path.join(folder, "swapped" + SWAP_OLD))
        assert _rows(session, "swapped") == []  # what a reader saw: every row gone
        recover(db.con)
        assert _rows(session, "swapped") == [1, 2, 3]  # the old contents: the swap never happened
        assert _tables(session) == ["swapped"]
        assert sorted(os.listdir(folder)).count("swapped" + SWAP_OLD) == 0


def test_second_rename_killed_after_the_directory_moved(spark_url):
    with segdb.connect(spark_url) as db:
        db.init()
        session, folder = _setup(db)
        session.sql(f"CREATE TABLE segdb.swapped{SWAP_NEW} LIKE segdb.swapped")
        session.sql(f"INSERT INTO segdb.swapped{SWAP_NEW} VALUES (10), (20)")
        session.sql(f"ALTER TABLE segdb.swapped RENAME TO segdb.swapped{SWAP_OLD}")
        # `ALTER TABLE swapped__segdb_new RENAME TO swapped`, killed after its directory moved
        os.rename(os.path.join(folder, "swapped" + SWAP_NEW), os.path.join(folder, "swapped"))
        recover(db.con)
        assert _rows(session, "swapped") == [10, 20]  # the new contents: the swap is finished
        assert _tables(session) == ["swapped"]


def test_a_drop_killed_after_the_catalog_let_go_leaves_no_name_taken(spark_url):
    with segdb.connect(spark_url) as db:
        db.init()
        session, folder = _setup(db)
        # `DROP TABLE swapped__segdb_old` after a finished swap, killed with its directory still there
        stray = os.path.join(folder, "swapped" + SWAP_OLD)
        os.makedirs(stray)
        with open(os.path.join(stray, "part-0.parquet"), "wb") as fh:
            fh.write(b"rows of the old copy")
        recover(db.con)
        assert not os.path.exists(stray)  # moved aside, so the next swap can use the name ...
        kept = [d for d in os.listdir(folder) if d.startswith("swapped" + SWAP_OLD + "_stray_")]
        assert len(kept) == 1 and os.listdir(os.path.join(folder, kept[0])) == ["part-0.parquet"]  # ... not deleted
        assert _rows(session, "swapped") == [1, 2, 3]
        db.con.execute("DELETE FROM segdb.swapped WHERE x = ?", [2])  # a swap through the same names works
        assert _rows(session, "swapped") == [1, 3]
