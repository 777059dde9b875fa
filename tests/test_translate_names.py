"""segdb's statements keep the case of the functions they call when translated (a quoted name is
case-sensitive on PostgreSQL: ``"shop_assign"(x)`` must not become ``"SHOP_ASSIGN"(x)``)."""

import pytest

from segdb.engines.translate import translate


@pytest.mark.parametrize("dialect, quote", [("postgresql", '"'), ("spark", "`")])
def test_a_quoted_function_name_keeps_its_case(dialect, quote):
    (statement,) = translate('SELECT "shop_assign"(x, "Mixed Case") FROM t', dialect, False)
    assert f"{quote}shop_assign{quote}(" in statement


def test_postgresql_finds_a_scoring_function_called_through_a_translated_statement(engine_url):
    import segdb
    from tests.engines import engine_of
    if engine_of(engine_url) != "postgresql":
        pytest.skip("PostgreSQL's quoted names are case-sensitive; DuckDB and Spark ignore the case")
    db = segdb.connect(engine_url)
    try:
        db.con.native('CREATE FUNCTION "shop_assign"(x double precision) RETURNS integer '
                      'LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN x > 1 THEN 2 ELSE 1 END $$')
        assert db.con.execute('SELECT "shop_assign"(?) AS s', [3.0]).fetchall() == [(2,)]
    finally:
        db.close()
