"""Living segments on every engine: name, assign new customers, drift, refresh, transitions,
rollback and prune, each checked against what the engine's own tables then hold.

One scenario per engine (Spark runs each statement as a job, so its scenario takes minutes)."""

from __future__ import annotations

import pytest

import segdb
from conftest import run_cli
from engines import engine_of, load_table, wholesale_table

pytestmark = pytest.mark.usefixtures("one_blas_thread")

FEATURES = ["Fresh", "Milk", "Grocery"]


def rows(db, sql):
    table = db.sql(sql)
    return list(zip(*(c.to_pylist() for c in table.columns)))


def test_living_segments_end_to_end(engine_url):
    url = engine_url
    load_table(url, "wholesale", wholesale_table().slice(0, 400))  # customers 1..400 first
    with segdb.connect(url) as db:
        db.create("ws", source="wholesale", key="customer_id", features=FEATURES, k=3)
        first = db.refresh("ws")
        assert first.rows_used == 400
        # a name follows the segment id
        db.name_segment("ws", 1, "Big spenders")
        assert rows(db, "SELECT DISTINCT segment_name FROM ws_segments WHERE segment_id = 1") == [("Big spenders",)]

    # 40 new customers arrive: assign labels them with the current run, in SQL
    load_table(url, "wholesale_new", wholesale_table().slice(400, 40))
    with segdb.connect(url) as db:
        db.sql("INSERT INTO wholesale SELECT * FROM wholesale_new")
        assigned = run_cli(["assign", "ws"], url)
        assert assigned.exit_code == 0, assigned.output
        assert "assigned 40 new customers to run" in assigned.output
        labelled = rows(db, "SELECT count(*) AS n, count(CASE WHEN fitted THEN 1 END) AS n_fitted FROM ws_segments")
        assert labelled == [(440, 400)]
        # the engine's scoring function agrees with the labels assign wrote
        q = (lambda c: f"`{c}`") if engine_of(url) == "spark" else (lambda c: f'"{c}"')
        disagree = rows(db, "SELECT count(*) FROM ws_segments AS s JOIN wholesale AS w "
                            "ON w.customer_id = s.customer_id "
                            f"WHERE ws_assign({', '.join('w.' + q(c) for c in FEATURES)}) <> s.segment_id")
        assert disagree == [(0,)]

        # drift: the engine counts the 40 new customers; with a 5% limit on new customers it
        # advises a refresh (exit 3)
        drift = run_cli(["drift", "ws", "--limit", "new_share=0.05"], url)
        assert drift.exit_code == 3, drift.output
        assert "440 now, 400 in the fit; 40 new (9.1%), 0 gone (0.0%)" in drift.output, drift.output
        assert "refresh advisable" in drift.output

        second = db.refresh("ws")
        assert second.rows_used == 440
        moved = rows(db, "SELECT sum(customers) FROM segdb.transitions WHERE run_id = "
                         f"{int(second.run_id)}")
        # every customer labelled by run 1 (fitted or assigned) is counted once in the transitions
        assert int(moved[0][0]) == 440
        assert rows(db, "SELECT DISTINCT segment_name FROM ws_segments WHERE segment_id = 1") in (
            [("Big spenders",)], [(None,)])  # kept if segment 1 still matches its old self

        # rollback: the views follow the previous run
        rolled = run_cli(["rollback", "ws"], url)
        assert rolled.exit_code == 0, rolled.output
        assert rows(db, "SELECT DISTINCT run_id FROM ws_segments") == [(first.run_id,)]
        # a third run; prune --keep 1 then deletes the rows of runs 1 and 2 (in the engine)
        third = db.refresh("ws")
        pruned = run_cli(["prune", "ws", "--keep", "1"], url)
        assert pruned.exit_code == 0, pruned.output
        assert rows(db, "SELECT DISTINCT run_id FROM segdb.ws_labels") == [(third.run_id,)]
        assert rows(db, "SELECT count(*) FROM segdb.ws_labels") == [(440,)]
        assert rows(db, "SELECT count(*) FROM segdb.centroids WHERE run_id <> "
                        f"{int(third.run_id)}") == [(0,)]
        assert rows(db, "SELECT count(*) FROM ws_segments") == [(440,)]
