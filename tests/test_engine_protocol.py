"""The Engine protocol (segdb.engines.base): DuckDB's connection and both adapters satisfy it, the
adapters' driver errors arrive as segdb errors, and identifiers are quoted per dialect. No server."""

from __future__ import annotations

import inspect

import duckdb
import pytest

from segdb.engines.adapter import Adapter
from segdb.engines.base import ENGINE_ERRORS, Engine, Relation, Rows
from segdb.engines.postgres import PostgresConnection
from segdb.engines.quoting import quote_identifier
from segdb.engines.spark import SparkConnection
from segdb.errors import DatabaseError, DefinitionError, EngineError, SegdbError
from segdb.store.database import transaction

ADAPTERS = [PostgresConnection, SparkConnection]


def _members(protocol) -> list[str]:
    return sorted(n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))


def test_duckdb_connection_is_an_engine_as_it_is():
    con = duckdb.connect()
    assert isinstance(con, Engine)
    assert isinstance(con.execute("SELECT 1"), Rows)
    assert isinstance(con.sql("SELECT 1"), Relation)


def _calls(method) -> list[tuple[list, dict]]:
    """The argument shapes a protocol method's signature allows: every parameter given, and only the
    required ones (positional-only and positional ones by position, keyword-only ones by name)."""
    params = list(inspect.signature(method).parameters.values())[1:]  # without self
    shapes = []
    for everything in (True, False):
        args, kwargs = [], {}
        for p in params:
            if not everything and p.default is not inspect.Parameter.empty:
                continue
            if p.kind is inspect.Parameter.KEYWORD_ONLY:
                kwargs[p.name] = object()
            else:
                args.append(object())
        shapes.append((args, kwargs))
    return shapes


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
def test_adapter_classes_have_every_engine_member_with_a_compatible_signature(cls):
    assert issubclass(cls, Adapter)
    for name in _members(Engine):
        member = getattr(cls, name, None)
        assert callable(member), f"{cls.__name__} has no {name}"
        signature = inspect.signature(member)
        for args, kwargs in _calls(getattr(Engine, name)):
            signature.bind(None, *args, **kwargs)  # raises TypeError when a call segdb makes would fail
    assert isinstance(cls.dialect, str) and cls.dialect in ("postgresql", "spark")


def test_the_protocol_members_are_what_duckdb_offers():
    con = duckdb.connect()
    for name in _members(Engine):
        assert callable(getattr(con, name)), name


class _DriverError(Exception):
    """Stands for psycopg's / pyspark's own exception classes."""


class _FailingSession:
    def sql(self, *args, **kwargs):
        raise _DriverError("[TABLE_OR_VIEW_NOT_FOUND] The table `nowhere` cannot be found.\nmore lines")


def _spark_without_a_server() -> SparkConnection:
    con = SparkConnection.__new__(SparkConnection)  # no session: the driver is the stand-in above
    con.session, con.url, con.database, con.read_only, con._owns_session = (
        _FailingSession(), "spark", "default", False, False)
    return con


def test_an_adapter_driver_error_arrives_as_a_segdb_error():
    con = _spark_without_a_server()
    with pytest.raises(EngineError) as caught:
        con.execute("SELECT * FROM nowhere")
    exc = caught.value
    assert isinstance(exc, DatabaseError) and isinstance(exc, SegdbError)
    assert not isinstance(exc, duckdb.Error)
    assert not issubclass(EngineError, duckdb.Error)
    assert isinstance(exc.__cause__, _DriverError)
    assert exc.message == "[TABLE_OR_VIEW_NOT_FOUND] The table `nowhere` cannot be found."
    assert isinstance(exc, ENGINE_ERRORS)


def test_a_transaction_translates_adapter_and_duckdb_errors_alike():
    con = _spark_without_a_server()
    with pytest.raises(DatabaseError) as caught:
        with transaction(con, "writing the run"):
            con.execute("SELECT * FROM nowhere")
    assert caught.value.message == ("writing the run failed: [TABLE_OR_VIEW_NOT_FOUND] The table "
                                    "`nowhere` cannot be found.")
    duck = duckdb.connect()
    with pytest.raises(DatabaseError) as caught:
        with transaction(duck, "writing the run"):
            duck.execute("SELECT * FROM nowhere")
    assert caught.value.message.startswith("writing the run failed: Catalog Error: Table with name nowhere")


@pytest.mark.parametrize("name, duckdb_sql, postgres_sql, spark_sql", [
    ("plain", '"plain"', '"plain"', "`plain`"),
    ("with space", '"with space"', '"with space"', "`with space`"),
    ('say "hi"', '"say ""hi"""', '"say ""hi"""', '`say "hi"`'),
    ("agent's view", '"agent\'s view"', '"agent\'s view"', "`agent's view`"),
    ("back`tick", '"back`tick"', '"back`tick"', "`back``tick`"),
    ("größe €", '"größe €"', '"größe €"', "`größe €`"),
    ('x"; DROP TABLE t; --', '"x""; DROP TABLE t; --"', '"x""; DROP TABLE t; --"',
     '`x"; DROP TABLE t; --`'),
])
def test_quote_identifier_per_dialect(name, duckdb_sql, postgres_sql, spark_sql):
    assert quote_identifier(name) == duckdb_sql
    assert quote_identifier(name, "duckdb") == duckdb_sql
    assert quote_identifier(name, "postgresql") == postgres_sql
    assert quote_identifier(name, "spark") == spark_sql


def test_quote_identifier_matches_psycopg():
    sql = pytest.importorskip("psycopg.sql")
    for name in ["with space", 'say "hi"', "back`tick", "größe €"]:
        assert sql.Identifier(name).as_string(None) == quote_identifier(name, "postgresql")


@pytest.mark.parametrize("dialect", ["duckdb", "postgresql", "spark"])
def test_quote_identifier_rejects_empty_and_nul_in_every_dialect(dialect):
    with pytest.raises(DefinitionError):
        quote_identifier("", dialect)
    with pytest.raises(DefinitionError):
        quote_identifier("a\x00b", dialect)


def test_quote_identifier_refuses_an_unknown_dialect():
    with pytest.raises(ValueError):
        quote_identifier("x", "mysql")
