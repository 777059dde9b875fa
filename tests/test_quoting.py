import duckdb
import pytest

from segdb.errors import DefinitionError
from segdb.engines.quoting import check_segmentation_name, quote_identifier, sql_literal

NASTY = ['x"; DROP TABLE customers; --', "Premium savings very important", "größe €", "select",
         "a,b", "cost ($)", 'say "hi"', "agent's view", "1st"]


@pytest.mark.parametrize("name", NASTY)
def test_quoted_identifier_round_trips_through_duckdb(name):
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({quote_identifier(name)} INTEGER)")
    con.execute("INSERT INTO t VALUES (7)")
    assert [d[0] for d in con.execute("SELECT * FROM t").description] == [name]
    assert con.execute(f"SELECT {quote_identifier(name)} FROM t").fetchall() == [(7,)]
    assert con.execute("SELECT count(*) FROM information_schema.tables").fetchall() == [(1,)]


def test_quote_identifier_rejects_empty_and_nul():
    with pytest.raises(DefinitionError):
        quote_identifier("")
    with pytest.raises(DefinitionError):
        quote_identifier("a\x00b")


@pytest.mark.parametrize("value", [0, -3, 1.5, -2.25e-7, "it's", 'x"; DROP TABLE t; --'])
def test_sql_literal_round_trips(value):
    con = duckdb.connect()
    assert con.execute(f"SELECT {sql_literal(value)}").fetchall()[0][0] == value


def test_sql_literal_refuses_other_types():
    with pytest.raises(TypeError):
        sql_literal([1])
    with pytest.raises(DefinitionError):
        sql_literal(float("nan"))


@pytest.mark.parametrize("name", ["insurance", "seg_2026", "A"])
def test_valid_segmentation_names(name):
    assert check_segmentation_name(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "my seg", "x-y", "naïve", "a" * 49, "drop;"])
def test_invalid_segmentation_names(name):
    with pytest.raises(DefinitionError, match="invalid segmentation name"):
        check_segmentation_name(name)
