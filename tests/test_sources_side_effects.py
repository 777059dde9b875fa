"""Sources and feature expressions are read without side effects (issue 15, item 9).

PostgreSQL: the checks, statistics and sample reads run in a READ ONLY transaction that is rolled
back; a source calling nextval() or lo_import() fails there, in one line naming the segmentation
and the cause, with nothing written. DuckDB: file-reading and extension-installing functions in a
source are refused unless the definition allows external access (segdb.define.access). A feature's
expr is parsed as one expression."""

from __future__ import annotations

import pytest

import segdb
from conftest import run_cli


# -- PostgreSQL --------------------------------------------------------------------------------

@pytest.fixture
def pg(postgres_url):
    with segdb.connect(postgres_url) as db:
        db.sql("CREATE TABLE customers AS SELECT i AS customer_id, ((i * 7919) % 100)::float8 AS spend, "
               "((i * 104729) % 10)::float8 AS visits FROM generate_series(1, 300) AS t(i)")
        db.sql("CREATE SEQUENCE counter")
        db.sql("CREATE VIEW customers_v AS SELECT * FROM customers")
        db.create("shop", source="SELECT * FROM customers_v", key="customer_id",
                  features=["spend", "visits"], k=3)
        yield db


def side_effects(db) -> tuple:
    return (db.sql("SELECT last_value, is_called FROM counter").to_pylist(),
            db.sql("SELECT count(*) AS n FROM pg_largeobject_metadata").to_pylist(),
            db.sql("SELECT count(*) AS n FROM segdb.runs").to_pylist(),
            db.sql("SELECT count(*) AS n FROM segdb.definitions").to_pylist())


NEXTVAL = "spend + 0 * nextval('counter')"
LO_IMPORT = "spend + 0 * lo_import('/etc/hostname')::int8"
CAUSES = {NEXTVAL: "(cannot execute nextval() in a read-only transaction)",
          LO_IMPORT: "(a function it calls wrote inside segdb's read-only transaction, e.g. lo_import())"}


@pytest.mark.parametrize("call", [NEXTVAL, LO_IMPORT], ids=["nextval", "lo_import"])
def test_postgres_create_refuses_a_source_with_side_effects(pg, call):
    before = side_effects(pg)
    with pytest.raises(segdb.SegdbError) as info:
        pg.create("bad", source=f"SELECT customer_id, {call} AS spend FROM customers", key="customer_id",
                  features=["spend"], k=3)
    assert info.value.message == (
        f"the source of 'bad' changes the database {CAUSES[call]}; segdb reads sources without side "
        "effects: remove that call from the source SELECT and the feature expressions; nothing was written")
    assert side_effects(pg) == before


@pytest.mark.parametrize("call", [NEXTVAL, LO_IMPORT], ids=["nextval", "lo_import"])
def test_postgres_refresh_refuses_a_source_that_gained_side_effects(pg, call):
    """The view the source reads is redefined after create: the refresh's reads fail, before the
    write-back could run the source again in its own transaction."""
    pg.sql(f"CREATE OR REPLACE VIEW customers_v AS SELECT customer_id, {call} AS spend, visits FROM customers")
    before = side_effects(pg)
    result = run_cli(["refresh", "shop"], pg.path)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: the source of 'shop' changes the database {CAUSES[call]}; segdb reads sources without "
        "side effects: remove that call from the source SELECT and the feature expressions; nothing "
        "was written\n")
    assert side_effects(pg) == before


def test_postgres_feature_expression_with_side_effects_is_refused(pg):
    """create only describes an expression (no row is read); the refresh's first read refuses it."""
    pg.create("expr", source="customers", key="customer_id",
              features=["spend", {"name": "n", "expr": "visits + 0 * nextval('counter')"}], k=3)
    before = side_effects(pg)
    with pytest.raises(segdb.SegdbError, match=r"^the source of 'expr' changes the database \(cannot "
                                               r"execute nextval\(\) in a read-only transaction\)"):
        pg.refresh("expr")
    assert side_effects(pg) == before


def test_postgres_refresh_still_works(pg):
    assert pg.refresh("shop").run_id == 1
    assert pg.sql("SELECT count(*) AS n FROM shop_segments").to_pylist() == [{"n": 300}]
