"""PostgreSQL's transitions (segdb.living.transitions.write_transitions: a parallel LEFT join and
the previous run's sizes instead of a FULL join) against the pairs counted in Python from both
runs' labels: customers kept, moved, gone and new, and a first run's."""

from __future__ import annotations

from collections import Counter

import segdb
from engines import postgres_customers

ROWS = 800


def counted(db, previous: int | None, run: int) -> dict:
    rows = db.sql("SELECT run_id, segdb_key, segment_id FROM segdb.live_labels").to_pylist()
    before = {r["segdb_key"]: r["segment_id"] for r in rows if r["run_id"] == previous}
    after = {r["segdb_key"]: r["segment_id"] for r in rows if r["run_id"] == run}
    return dict(Counter((before.get(key), after.get(key)) for key in before.keys() | after.keys()))


def stored(db, run: int) -> tuple[dict, set]:
    rows = db.sql("SELECT previous_run_id, from_segment_id, to_segment_id, customers FROM segdb.transitions "
                  "WHERE run_id = %s", [run]).to_pylist()
    return ({(r["from_segment_id"], r["to_segment_id"]): r["customers"] for r in rows},
            {r["previous_run_id"] for r in rows})


def test_transitions_equal_the_pairs_counted_from_the_labels(postgres_url):
    with segdb.connect(postgres_url) as db:
        postgres_customers(db, ROWS)
        db.create("live", source="customers", key="customer_id", features=["spend", "visits"], k=3)
        first = db.refresh("live").run_id
        pairs, previous = stored(db, first)
        assert pairs == counted(db, None, first) and previous == {None}
        assert set(pairs) == {(None, s) for s in (1, 2, 3)}  # a first run: every customer new
        # 150 customers gone, 120 new, 200 changed: kept, moved, gone and new all occur
        db.sql("DELETE FROM customers WHERE customer_id <= 150; "
               "UPDATE customers SET spend = 99 - spend WHERE customer_id BETWEEN 151 AND 350; "
               "INSERT INTO customers SELECT customer_id + 10000, visits * 10, spend / 10 "
               "FROM customers WHERE customer_id BETWEEN 400 AND 519")
        second = db.refresh("live").run_id
        pairs, previous = stored(db, second)
        want = counted(db, first, second)
        assert pairs == want and previous == {first}
        assert sum(n for (f, t), n in want.items() if t is None) == 150
        assert sum(n for (f, t), n in want.items() if f is None) == 120
        assert sum(n for (f, t), n in want.items() if f is not None and t is not None and f != t) > 0
        assert 0 not in pairs.values()
