"""On Spark no segdb command renames a table on its normal paths (issue 15): a name, a refresh that
retires a segment id, a new definition version, a rollback that reinstates it, and prune write
appended rows and drop partitions, never a copy-and-swap (UPDATE / DELETE as a new table renamed
into place, which a kill on a cluster's storage can leave reading empty).

A spy records every statement the real SparkConnection sends to the real session and every
copy-and-swap it starts; the database is not mocked.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

import pytest

import segdb
from engines import load_table, wholesale_table
from segdb.engines.spark import SWAP_NEW, SWAP_OLD, SparkConnection

pytestmark = pytest.mark.usefixtures("one_blas_thread")

FEATURES = ["Fresh", "Milk", "Grocery"]


@pytest.fixture
def spied(monkeypatch):
    """(statements, rewrites): what every SparkConnection of this test ran, as it ran it."""
    statements, rewrites = [], []
    sql, rewrite = SparkConnection._sql, SparkConnection._rewrite_table

    def recording_sql(self, statement, params):
        statements.append(statement)
        return sql(self, statement, params)

    def recording_rewrite(self, tree, params):
        rewrites.append(tree.sql(dialect="spark"))
        return rewrite(self, tree, params)
    monkeypatch.setattr(SparkConnection, "_sql", recording_sql)
    monkeypatch.setattr(SparkConnection, "_rewrite_table", recording_rewrite)
    return statements, rewrites


def _renames(statements) -> list[str]:
    return [s for s in statements if re.search(r"\bRENAME\b|__segdb_(new|old)", s, re.IGNORECASE)]


def _view_writes(statements) -> list[str]:
    """Each statement that writes a view, up to the view's name."""
    found = [re.match(r"\s*((CREATE|ALTER)\b.*?\bVIEW\s+\S+)", s, re.IGNORECASE | re.DOTALL) for s in statements]
    return [" ".join(m.group(1).split()) for m in found if m]


def _ledger(db):
    return {r["segment_id"]: (r["name"], r["retired_run_id"]) for r in db.segment_ids("ws")}


def test_name_retire_replace_rollback_prune_rename_no_table(spark_url, spied):
    statements, rewrites = spied
    load_table(spark_url, "wholesale", wholesale_table().slice(0, 400))
    with segdb.connect(spark_url) as db:
        db.create("ws", source="wholesale", key="customer_id", features=FEATURES, k=3)
        first = db.refresh("ws").run_id
        second = db.refresh("ws").run_id
        session = db.con.session
        folder = unquote(urlsplit(session.catalog.getDatabase("segdb").locationUri).path)
        del statements[:], rewrites[:]  # init's migrations (0005 has an UPDATE) are not watched

        db.name_segment("ws", 1, "Big spenders")
        shown = db.sql("SELECT DISTINCT segment_name FROM ws_segments WHERE segment_id = 1")
        assert shown.column(0).to_pylist() == ["Big spenders"]
        assert _view_writes(statements) == []  # the views read the names already
        same = db.refresh("ws").run_id  # the same definition version: the views stay as they are
        assert _view_writes(statements) == []

        # a new definition version with one segment fewer: its first refresh retires one id
        db.create("ws", source="wholesale", key="customer_id", features=FEATURES, k=2, replace=True)
        assert db.definition("ws").version == 2
        third = db.refresh("ws").run_id
        ledger = _ledger(db)
        retired = [sid for sid, (_, by) in ledger.items() if by is not None]
        assert len(retired) == 1 and ledger[retired[0]][1] == third, ledger
        assert ledger[1][0] == "Big spenders"

        # back to the second run: its three ids are in use again
        db.rollback("ws", second)
        assert all(by is None for _, by in _ledger(db).values()), _ledger(db)
        assert db.definition("ws").version == 2  # a rollback does not change the definition

        # prune keeps the current run (2) and the newest (4); runs 1 and 3 go
        result = db.prune("ws", 1)
        assert result.pruned_run_ids == (first, same) and result.labels_deleted == 800
        labelled = db.sql("SELECT DISTINCT run_id FROM segdb.ws_labels ORDER BY run_id")
        assert labelled.column(0).to_pylist() == [second, third]
        for table in ("segments", "centroids", "feature_stats", "profiles"):
            runs = db.sql(f"SELECT DISTINCT run_id FROM segdb.{table} ORDER BY run_id").column(0).to_pylist()
            assert first not in runs and same not in runs, (table, runs)
        assert sorted(r["run_id"] for r in db.runs("ws") if r["pruned_at"] is not None) == [first, same]

        assert rewrites == [], rewrites
        assert _renames(statements) == [], _renames(statements)
        # the definition version in the centroids view changed (k=2, then the rollback to version
        # 1's run): altered in one catalog write each time, never replaced (a drop and a create)
        assert _view_writes(statements) == ["ALTER VIEW `ws_centroids`"] * 2, _view_writes(statements)
        assert any("DROP IF EXISTS PARTITION" in s for s in statements)
        assert not [d for d in os.listdir(folder) if d.endswith((SWAP_NEW, SWAP_OLD))]
        assert db.con.partitioned_by_run("segdb", "ws_labels")
        assert db.con.partitioned_by_run("segdb", "segments")
        assert not db.con.partitioned_by_run("segdb", "runs")


def test_prune_still_deletes_from_an_unpartitioned_labels_table(spark_url, spied):
    """A labels table an older segdb made (no partitions) keeps today's DELETE: a copy-and-swap."""
    statements, rewrites = spied
    load_table(spark_url, "wholesale", wholesale_table().slice(0, 100))
    with segdb.connect(spark_url) as db:
        db.create("ws", source="wholesale", key="customer_id", features=FEATURES, k=2)
        session = db.con.session
        session.sql("DROP TABLE segdb.ws_labels")
        session.sql("CREATE TABLE segdb.ws_labels (run_id BIGINT, segdb_key BIGINT, segment_id INT, "
                    "distance DOUBLE, fitted BOOLEAN DEFAULT TRUE) USING parquet")
        first = db.refresh("ws").run_id
        db.refresh("ws")
        assert not db.con.partitioned_by_run("segdb", "ws_labels")
        del rewrites[:]
        result = db.prune("ws", 1)
        assert result.pruned_run_ids == (first,) and result.labels_deleted == 100
        assert db.sql("SELECT count(*) FROM segdb.ws_labels WHERE run_id = ?", [first]).column(0).to_pylist() == [0]
        assert [r.split(" WHERE ")[0] for r in rewrites] == ["DELETE FROM segdb.`ws_labels`"], rewrites
