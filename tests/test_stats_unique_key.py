"""The distinct-key count is skipped when the source table declares the key PRIMARY KEY or UNIQUE
(DuckDB enforces both), and only then; the statistics and the run are the same either way."""

from __future__ import annotations

import numpy as np
import pytest

from segdb.define import definitions, sqlgen
from segdb.define.source import key_declared_unique

FEATURES = ["x", "y"]


def _load(con, table, constraint=""):
    rng = np.random.default_rng(0)
    con.execute(f'CREATE TABLE {table} (id BIGINT, "x" DOUBLE, "y" DOUBLE, other INTEGER{constraint})')
    rows = [(i, float(v), float(w), i % 7) for i, (v, w) in enumerate(rng.normal(size=(300, 2)), start=1)]
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)


@pytest.mark.parametrize("constraint, expected", [
    (", PRIMARY KEY (id)", True),
    (", UNIQUE (id)", True),
    ("", False),
    (", PRIMARY KEY (id, other)", False),   # unique together, not alone
    (", UNIQUE (other, id)", False),
])
def test_declared_uniqueness_is_read_from_the_catalog(db, constraint, expected):
    _load(db.con, "t", constraint)
    db.create("s", source="t", key="id", features=FEATURES, k=2)
    d = definitions.get(db.con, "s")
    assert key_declared_unique(db.con, d.resolve(db.con), "id") is expected


def test_views_selects_and_other_columns_are_not_taken_as_unique(db):
    _load(db.con, "t", ", PRIMARY KEY (id)")
    db.con.execute("CREATE VIEW v AS SELECT * FROM t")
    db.create("over_view", source="v", key="id", features=FEATURES, k=2)
    db.create("over_select", source="SELECT * FROM t", key="id", features=FEATURES, k=2)
    for name in ("over_view", "over_select"):
        assert not key_declared_unique(db.con, definitions.get(db.con, name).resolve(db.con), "id")
    db.con.execute("CREATE TABLE u (id BIGINT, x DOUBLE, y DOUBLE, code INTEGER UNIQUE)")
    db.create("other_unique", source="u", key="id", features=FEATURES, k=2)
    assert not key_declared_unique(db.con, definitions.get(db.con, "other_unique").resolve(db.con), "id")


def test_awkward_names_are_matched(db):
    db.con.execute('CREATE SCHEMA "survey ""2026"""')
    db.con.execute('CREATE TABLE "survey ""2026"""."réponses clients" ("n° client" BIGINT PRIMARY KEY, '
                   'x DOUBLE, y DOUBLE)')
    db.con.execute('INSERT INTO "survey ""2026"""."réponses clients" VALUES (1, 0, 0), (2, 1, 1), (3, 5, 5)')
    db.create("a", source='"survey ""2026"""."réponses clients"', key="n° client", features=FEATURES, k=2)
    d = definitions.get(db.con, "a")
    assert key_declared_unique(db.con, d.resolve(db.con), "n° client")
    assert db.refresh("a").rows_used == 3


def test_the_same_statistics_and_run_with_and_without_the_count(db):
    _load(db.con, "keyed", ", PRIMARY KEY (id)")
    _load(db.con, "plain")
    for table in ("keyed", "plain"):
        db.create(table, source=table, key="id", features=FEATURES, k=3, seed=4)
    d = definitions.get(db.con, "keyed")
    skipped = sqlgen.stats_query(d, d.resolve(db.con).relation, key_declared_unique=True)
    counted = sqlgen.stats_query(d, d.resolve(db.con).relation)
    assert "segdb_distinct_keys" not in skipped and "segdb_distinct_keys" in counted
    assert db.con.execute(skipped).fetchall() == db.con.execute(counted).fetchall()
    runs = [db.refresh(t) for t in ("keyed", "plain")]
    stats = [db.con.execute("SELECT feature, n_rows, mean, stddev FROM segdb.feature_stats WHERE run_id = ? "
                            "ORDER BY feature_no", [r.run_id]).fetchall() for r in runs]
    assert stats[0] == stats[1]
    assert runs[0].inertia == pytest.approx(runs[1].inertia, rel=1e-12)


def test_duplicates_are_still_found_without_a_declared_key(db):
    _load(db.con, "t")
    db.con.execute("INSERT INTO t VALUES (1, 0.5, 0.5, 1)")
    db.create("s", source="t", key="id", features=FEATURES, k=2)
    with pytest.raises(Exception, match="not unique"):
        db.refresh("s")


@pytest.mark.parametrize("key", [
    "i",            # dense: DuckDB's perfect hash table (segdb.refresh.stats.PERFECT_HASH_BITS)
    "i * 8000",     # spread over almost 2**24: still the perfect table
    "i * 2 ** 40",  # wider than 24 bits: the ordinary hash table
])
def test_duplicate_keys_are_found_whichever_hash_table_groups_them(db, key):
    """The distinct-key count runs with DuckDB's perfect hash table for integer keys of a narrow
    range; a duplicate is refused either way, and the session's threshold is put back."""
    import segdb
    db.con.execute(f"CREATE TABLE k AS SELECT ({key})::BIGINT AS id, (i % 97)::DOUBLE AS x, "
                   "(i % 13)::DOUBLE AS y FROM range(1, 2001) t(i)")
    db.create("s", source="k", key="id", features=FEATURES, k=2)
    threshold = db.con.execute("SELECT current_setting('perfect_ht_threshold')").fetchall()[0][0]
    assert db.refresh("s").rows_used == 2000
    db.con.execute("INSERT INTO k SELECT id, x + 1, y FROM k WHERE id = (SELECT max(id) FROM k)")
    with pytest.raises(segdb.errors.DataError, match="not unique .* 1 duplicate rows"):
        db.refresh("s")
    assert db.con.execute("SELECT current_setting('perfect_ht_threshold')").fetchall()[0][0] == threshold


@pytest.mark.parametrize("rows, bits", [
    (None, 24), (0, 24), (1_000, 24), (2 ** 23, 24),   # the default: 2 * rows fits in 24 bits
    (2 ** 23 + 1, 25), (10_000_000, 25), (2 ** 25, 26), (50_000_000, 27), (100_000_000, 27),  # at most 27
])
def test_the_perfect_hash_bound_follows_the_rows(rows, bits):
    from segdb.refresh.stats import perfect_hash_bits
    assert perfect_hash_bits(rows) == bits


def test_the_rows_estimate_is_read_for_tables_only(db):
    from segdb.define.source import table_rows_estimate
    _load(db.con, "t")
    db.con.execute("CREATE VIEW v AS SELECT * FROM t")
    for name, source in (("over_table", "t"), ("over_view", "v"), ("over_select", "SELECT * FROM t")):
        db.create(name, source=source, key="id", features=FEATURES, k=2)
    assert [table_rows_estimate(db.con, definitions.get(db.con, name).resolve(db.con))
            for name in ("over_table", "over_view", "over_select")] == [300, None, None]


def test_a_table_of_more_rows_groups_a_wider_key_range_perfectly(db):
    """9M keys spread over 27M values (25 bits): the statistics of a table DuckDB estimates at 9M
    rows group them in the perfect hash table, and still refuse one duplicate."""
    import segdb
    from segdb.define.source import table_rows_estimate
    from segdb.refresh import stats
    db.con.execute("CREATE TABLE k AS SELECT (i * 3)::BIGINT AS id, (i % 97)::DOUBLE AS x, "
                   "(i % 13)::DOUBLE AS y FROM range(1, 9000001) t(i)")
    db.create("s", source="k", key="id", features=FEATURES, k=2)
    d = definitions.get(db.con, "s")
    src = d.resolve(db.con)
    rows = table_rows_estimate(db.con, src)
    assert rows == 9_000_000
    explain = "EXPLAIN " + sqlgen.stats_query(d, src.relation)
    assert "Perfect Hash Group By" not in db.con.execute(explain).fetchall()[0][1]  # 24 bits: too narrow
    with stats._perfect_hash_keys(db.con, stats.perfect_hash_bits(rows)):
        assert "Perfect Hash Group By" in db.con.execute(explain).fetchall()[0][1]
    assert stats.compute(db.con, d, src.relation, "table k", rows_estimate=rows).rows_total == 9_000_000
    db.con.execute("INSERT INTO k VALUES (27000000, 1, 1)")  # the last key again
    with pytest.raises(segdb.errors.DataError, match="not unique .* 1 duplicate rows"):
        stats.compute(db.con, d, src.relation, "table k", rows_estimate=table_rows_estimate(db.con, src))
    assert db.con.execute("SELECT current_setting('perfect_ht_threshold')").fetchall()[0][0] == 12
