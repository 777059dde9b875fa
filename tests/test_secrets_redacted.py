"""Issue 13, item 5: no error, printed name or stored row ever holds a password (no server needed).

The rules live in segdb.errors.redact_secrets; this file checks them on hand-written text, then
through segdb.connect and the CLI for every engine's malformed and well-formed URLs, then in the
rows a DuckDB run stores (segdb.runs.triggered_by and every other segdb.* column).
"""

from __future__ import annotations

import pytest

import segdb
from conftest import run_cli
from segdb.engines import open_connection
from segdb.engines.result import first_line
from segdb.errors import DatabaseError, SegdbError, redact_secrets

SECRET = "s3cret"

# -- the helper on hand-written text ---------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    # user:password@host, also where SQLAlchemy cannot parse the URL
    ("postgresql+psycopg://bob:s3cret@host:54x32/db", "postgresql+psycopg://bob:***@host:54x32/db"),
    ("cannot connect to postgresql://bob:s3cret@/db: no host",
     "cannot connect to postgresql://bob:***@/db: no host"),
    ("postgresql+nosuchdriver://bob:s3cret@h/db", "postgresql+nosuchdriver://bob:***@h/db"),
    ("postgresql://:s3cret@h/db", "postgresql://:***@h/db"),
    # percent-encoded, '@', '/', '?', ':' in the password: masked up to the last '@' before the host
    ("postgresql://bob:s3%40cret@h:5432/db", "postgresql://bob:***@h:5432/db"),
    ("postgresql://bob:s3@cret@h:5432/db", "postgresql://bob:***@h:5432/db"),
    ("postgresql://bob:s3/c?r:et@h/db", "postgresql://bob:***@h/db"),
    ("'postgresql://bob:s3cret@h/db'", "'postgresql://bob:***@h/db'"),
    # an '@' in the user name (user@server) is the user's; one in a query parameter is the parameter's
    ("postgresql://bob@srv:s3cret@h/db", "postgresql://bob@srv:***@h/db"),
    ("postgresql://bob:s3cret@h/db?application_name=me@corp",
     "postgresql://bob:***@h/db?application_name=me@corp"),
    ("postgresql://bob@h:5432/db?application_name=me@corp",
     "postgresql://bob@h:5432/db?application_name=me@corp"),
    # no password: nothing changes
    ("postgresql+psycopg://analyst@db.internal:5432/crm",
     "postgresql+psycopg://analyst@db.internal:5432/crm"),
    ("spark://local[2]?database=crm", "spark://local[2]?database=crm"),
    ("spark://bad master", "spark://bad master"),
    ("k8s://https://k8s.internal:443", "k8s://https://k8s.internal:443"),
    ("/data/customers.duckdb", "/data/customers.duckdb"),
    ('password authentication failed for user "bob"', 'password authentication failed for user "bob"'),
    # query strings
    ("postgresql://bob@h/db?password=s3cret", "postgresql://bob@h/db?password=***"),
    ("postgresql://h/db?sslmode=require&password=s3cret&application_name=x",
     "postgresql://h/db?sslmode=require&password=***&application_name=x"),
    ("postgresql://h/db?sslpassword=s3cret", "postgresql://h/db?sslpassword=***"),
    ("md:crm?motherduck_token=s3cret", "md:crm?motherduck_token=***"),
    # Spark Connect: the token is secret, user_id is not (an '@' in it is no userinfo)
    ("sc://host:15002/;token=s3cret", "sc://host:15002/;token=***"),
    ("sc://host:15002/;user_id=me@corp;token=s3cret;use_ssl=true",
     "sc://host:15002/;user_id=me@corp;token=***;use_ssl=true"),
    ("sc://host:notaport/;token=s3cret", "sc://host:notaport/;token=***"),
    # libpq DSNs, environment, reprs
    ("host=h port=5432 password=s3cret dbname=crm", "host=h port=5432 password=*** dbname=crm"),
    ("host=h password = 's3 cr\\'et' dbname=crm", "host=h password = *** dbname=crm"),
    ("PGPASSWORD=s3cret psql -h h", "PGPASSWORD=*** psql -h h"),
    ("{'host': 'h', 'password': 's3cret'}", "{'host': 'h', 'password': '***'}"),
    ('{"api_key": "s3cret"}', "{\"api_key\": '***'}"),
    # twice is once: the colon after a masked value stays
    ("cannot connect to postgresql://h/db?password=***: refused",
     "cannot connect to postgresql://h/db?password=***: refused"),
])
def test_redact_secrets(text, expected):
    assert redact_secrets(text) == expected
    assert redact_secrets(expected) == expected


def test_every_segdb_error_is_redacted_at_construction():
    # a driver's text that echoes a DSN, wrapped by any SegdbError subclass
    error = DatabaseError("connect failed for 'postgresql://bob:s3cret@h/db' (host=h password=s3cret)")
    assert error.message == "connect failed for 'postgresql://bob:***@h/db' (host=h password=***"
    assert SECRET not in str(error)
    assert SECRET not in str(SegdbError(f"x\nsc://h:1/;token={SECRET}"))


def test_engine_errors_are_redacted():
    # every PostgreSQL and Spark error reaches segdb through first_line
    assert first_line(RuntimeError(f"bad DSN password={SECRET}\nmore")) == "bad DSN password=***"


# -- through segdb.connect and the CLI -----------------------------------------------------------------

CANNOT = "; check the URL, the server and its credentials"
SPARK_FIX = "; check the master URL and that Java 17+ is installed"

# (URL, text the message must hold so the user can act, the exact message when it is deterministic)
POSTGRES = [
    ("postgresql+psycopg://bob:s3cret@host:54x32/db", "postgresql+psycopg://bob:***@host:54x32/db",
     "cannot connect to postgresql+psycopg://bob:***@host:54x32/db: invalid literal for int() with base 10: "
     "'54x32'" + CANNOT),
    ("postgresql://bob:s3cret@host:54x32/db", "postgresql+psycopg://bob:***@host:54x32/db", None),
    ("postgresql+nosuchdriver://bob:s3cret@h/db", "postgresql+nosuchdriver://bob:***@h/db",
     "cannot connect to postgresql+nosuchdriver://bob:***@h/db: Can't load plugin: "
     "sqlalchemy.dialects:postgresql.nosuchdriver" + CANNOT),
    ("postgresql+psycopg://bob:s3cret@/db", "postgresql+psycopg://bob:***@/db", None),  # no host: the socket
    ("postgresql+psycopg://bob:s3cret@127.0.0.1:1/db", "postgresql+psycopg://bob:***@127.0.0.1:1/db", None),
    ("postgresql+psycopg://bob:s3@cret@127.0.0.1:1/db", "postgresql+psycopg://bob:***@127.0.0.1:1/db", None),
    ("postgresql+psycopg://bob:s3%40cret@127.0.0.1:1/db", "postgresql+psycopg://bob:***@127.0.0.1:1/db",
     None),
    ("postgresql+psycopg://bob@127.0.0.1:1/db?password=s3cret",
     "postgresql+psycopg://bob@127.0.0.1:1/db?password=***", None),
    ("postgres://bob:s3cret@127.0.0.1:1/db?sslmode=disable&password=s3cret",
     "postgresql+psycopg://bob:***@127.0.0.1:1/db?sslmode=disable&password=***", None),
]
# fragments of the password that must not show either (SQLAlchemy alone would take 'cret@127.0.0.1'
# for the host of bob:s3@cret@127.0.0.1 and psycopg would print it)
FRAGMENTS = (SECRET, "s3@cret", "s3%40cret", "cret@")


def _refused_or_bad(message: str, shown: str, exact: str | None) -> None:
    assert not any(f in message for f in FRAGMENTS), message
    assert "\n" not in message
    if exact is not None:
        assert message == exact
    else:
        assert message.startswith(f"cannot connect to {shown}: ") and message.endswith(CANNOT), message


@pytest.mark.parametrize("url, shown, exact", POSTGRES)
def test_postgres_connect(url, shown, exact):
    pytest.importorskip("psycopg")
    with pytest.raises(DatabaseError) as caught:
        segdb.connect(url)
    _refused_or_bad(caught.value.message, shown, exact)


@pytest.mark.parametrize("url, shown, exact", POSTGRES)
def test_postgres_cli(url, shown, exact):
    pytest.importorskip("psycopg")
    out = run_cli(["list"], url)
    assert out.exit_code == 1
    assert out.output.startswith("Error: ") and out.output.endswith("\n") and out.output.count("\n") == 1
    _refused_or_bad(out.output[len("Error: "):-1], shown, exact)


def test_postgres_password_reaches_sqlalchemy_whole(monkeypatch):
    """The printable name is redacted; the driver still gets the password, '@' and all."""
    pytest.importorskip("psycopg")
    seen = {}

    class FakeConnection:
        def __init__(self, engine, **kwargs):
            seen["password"], seen["host"] = engine.url.password, engine.url.host

    monkeypatch.setattr("segdb.engines.postgres.PostgresConnection", FakeConnection)
    con, name = open_connection("postgresql://bob:s3@cr et@db.internal:5432/crm?password=s3cret")
    assert name == "postgresql+psycopg://bob:***@db.internal:5432/crm?password=***"
    assert seen == {"password": "s3@cr et", "host": "db.internal"}


SPARK_CONNECT = "sc://host:notaport/;user_id=bob;token=s3cret"


def _assert_refused(via: str, url: str, expected: str) -> None:
    """segdb.connect(url) raises ``expected``, or `segdb --db url list` prints it as one Error line."""
    if via == "connect":
        with pytest.raises(DatabaseError) as caught:
            segdb.connect(url)
        assert caught.value.message == expected
    else:
        out = run_cli(["list"], url)
        assert (out.exit_code, out.output) == (1, f"Error: {expected}\n")


@pytest.mark.parametrize("via", ["connect", "cli"])
def test_spark_connect_token(via):
    """The Connect client refuses the port in Python: no server, no JVM."""
    pytest.importorskip("pyspark")
    expected = ("cannot start Spark for sc://host:notaport/;user_id=bob;token=***: Port could not be cast "
                "to integer value as 'notaport'" + SPARK_FIX)
    _assert_refused(via, SPARK_CONNECT, expected)


@pytest.mark.parametrize("via", ["connect", "cli"])
def test_spark_master_error_echoing_the_url(monkeypatch, via):
    """Spark's JVM says 'Invalid master URL: <url>' for spark://bad master; stand in for it (no JVM)."""
    pytest.importorskip("pyspark")
    url = "spark://bob:s3cret@bad master?token=s3cret"

    def refuse(url):
        raise RuntimeError(f"Invalid master URL: {url}\n\tat org.apache.spark.util.Utils")

    monkeypatch.setattr("segdb.engines.spark.session_for", refuse)
    expected = ("cannot start Spark for spark://bob:***@bad master?token=***: Invalid master URL: "
                "spark://bob:***@bad master?token=***" + SPARK_FIX)
    _assert_refused(via, url, expected)


def test_duckdb_path(tmp_path):
    path = tmp_path / "no such folder" / "crm?motherduck_token=s3cret.duckdb"
    with pytest.raises(SegdbError) as caught:  # the folder does not exist
        segdb.connect(path)
    assert SECRET not in caught.value.message and "crm?motherduck_token=***" in caught.value.message
    out = run_cli(["list"], str(path))
    assert out.exit_code == 1 and out.output.count("\n") == 1
    assert SECRET not in out.output and "no such folder" in out.output


# -- what a run stores ------------------------------------------------------------------------------


def test_stored_rows_and_printed_names_hold_no_password(tmp_path):
    path = str(tmp_path / "crm.duckdb")
    trigger = f"cron postgresql://bob:{SECRET}@db.internal/crm password={SECRET}"
    with segdb.connect(path) as db:
        db.con.execute("CREATE TABLE customers AS SELECT i AS id, (i % 2) * 10.0 + i / 100 AS x, "
                       "(i % 3) * 1.0 AS y FROM range(40) t(i)")
        db.create("seg", source="customers", key="id", features=["x", "y"], k=2)
        first = db.refresh("seg", triggered_by=trigger)
        db.refresh("seg")  # the default: who and where, never a URL
        db.rollback("seg", first.run_id, triggered_by=trigger)
        db.drift("seg", triggered_by=trigger)
        triggers = [r[0] for r in db.con.execute(
            "SELECT triggered_by FROM segdb.runs ORDER BY run_id").fetchall()]
        assert triggers[0] == "cron postgresql://bob:***@db.internal/crm password=***"
        assert triggers[1].startswith("api by ") and "://" not in triggers[1]
        # every text column of every segdb table
        columns = db.con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                 "WHERE table_schema = 'segdb' AND data_type = 'VARCHAR'").fetchall()
        stored = [(t, c) for t, c in columns if db.con.execute(
            f'SELECT count(*) FROM segdb."{t}" WHERE "{c}" LIKE ?', [f"%{SECRET}%"]).fetchone()[0]]
        assert stored == []
        assert {t for t, c in columns if c == "triggered_by"} >= {"runs", "rollbacks", "drift_checks"}
    out = run_cli(["runs", "seg"], path)
    assert out.exit_code == 0 and SECRET not in out.output
    assert "postgresql://bob:***@db.internal/crm" in out.output


def test_cli_init_prints_the_redacted_name(tmp_path):
    path = str(tmp_path / f"password={SECRET}.duckdb")  # a file name that looks like a DSN
    out = run_cli(["init"], path)
    assert out.exit_code == 0 and SECRET not in out.output
    assert out.output.endswith(f" in {tmp_path}/password=***\n")
