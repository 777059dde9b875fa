"""The engines the engine-parametrized tests run on: DuckDB, PostgreSQL and Spark.

``engine_url`` (a fixture, imported into conftest.py) yields, per engine, the URL of a FRESH, empty
database; the URL is the only contract with the code under test (``segdb.connect(engine_url)``):

    duckdb      a new database file in the test's tmp_path
    postgresql  postgresql+psycopg://.../segdb_test_<random>: a database created on the server named
                by $SEGDB_TEST_POSTGRES_URL for this test, dropped after it (.ci/run starts one)
    spark       spark://local[2]?database=segdb_test_<random>: a database (schema) for the user's
                tables in ONE local[2] SparkSession shared by the whole test session (starting one
                takes seconds); every database, table and temporary view a test creates is dropped
                after it, so segdb's own `segdb` database is fresh in every test as well

An engine that is not available (no $SEGDB_TEST_POSTGRES_URL, server not reachable, pyspark or Java
missing) skips its tests locally and FAILS them when CI=true: CI must exercise all three.

``load_table(engine_url, name, arrow_table)`` creates a user table from a pyarrow Table on any of
them; ``wholesale_table()`` is tests/data/wholesale_customers.csv with customer_id 1..440 in front.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

ENGINES = ("duckdb", "postgresql", "spark")
DATA = Path(__file__).parent / "data"
SPARK_MASTER = "local[2]"

# The SparkSession of this test process (created on first use by the spark_session fixture).
_spark = None


def engine_of(url: str) -> str:
    """Which engine a URL names: 'postgresql', 'spark' or 'duckdb' (a file path)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""  # urlsplit rejects "local[2]"
    if scheme.startswith("postgresql"):
        return "postgresql"
    if scheme in ("spark", "sc"):
        return "spark"
    return "duckdb"


def engine_unavailable(reason: str):
    """Skip locally; fail in CI (CI=true), where every engine must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"engine not available in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _fresh_name() -> str:
    return f"segdb_test_{uuid.uuid4().hex[:12]}"


# -- PostgreSQL --------------------------------------------------------------------------------

def _psycopg():
    try:
        import psycopg
    except ImportError:
        engine_unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    return psycopg


def postgres_conninfo(url: str) -> dict:
    """psycopg.connect keyword arguments for a SQLAlchemy postgresql[+driver]:// URL."""
    from sqlalchemy.engine import make_url
    u = make_url(url)
    kwargs = {"host": u.host, "port": u.port, "user": u.username, "password": u.password,
              "dbname": u.database}
    kwargs.update({k: v for k, v in u.query.items() if isinstance(v, str)})
    return {k: v for k, v in kwargs.items() if v is not None}


def postgres_customers(db, rows: int) -> None:
    """``customers`` (customer_id, spend, visits) of ``rows`` rows on a PostgreSQL segdb.connect:
    spend 0-99 and visits 0-9, spread by multiplicative hashes of the id, the same on every run."""
    db.sql("CREATE TABLE customers AS SELECT i AS customer_id, ((i * 7919) %% 100)::float8 AS spend, "
           "((i * 104729) %% 10)::float8 AS visits FROM generate_series(1, %s) AS t(i)", [rows])


def with_postgres_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def postgres_server_url() -> str:
    """$SEGDB_TEST_POSTGRES_URL (skipped locally / failed in CI when it is not set)."""
    url = os.environ.get("SEGDB_TEST_POSTGRES_URL")
    if not url:
        engine_unavailable("SEGDB_TEST_POSTGRES_URL is not set (e.g. "
                           "postgresql+psycopg://postgres@127.0.0.1:55432/postgres; .ci/run starts a server)")
    return url


@pytest.fixture(scope="session")
def postgres_admin():
    """An autocommit connection to $SEGDB_TEST_POSTGRES_URL's database (to create/drop databases)."""
    url = postgres_server_url()
    psycopg = _psycopg()
    try:
        con = psycopg.connect(**postgres_conninfo(url), autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        engine_unavailable(f"PostgreSQL at {url} is not reachable: {str(exc).strip().splitlines()[0]}")
    yield url, con
    con.close()


def _drop_postgres_database(con, name: str) -> None:
    from psycopg import sql
    # DROP DATABASE refuses while a connection the code under test forgot is still open
    con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
    con.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url(postgres_admin):
    from psycopg import sql
    url, con = postgres_admin
    name = _fresh_name()
    con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_postgres_database(url, name)
    finally:
        _drop_postgres_database(con, name)


# -- Spark -------------------------------------------------------------------------------------

def spark_session_builder(warehouse: str | os.PathLike, master: str = SPARK_MASTER):
    """local[2], no UI, 4 shuffle partitions, Hive catalog; the Derby metastore and its log inside
    the warehouse directory, where segdb.engines.spark puts them (Derby's default is the current
    directory). segdb's adapter reuses this session: it is the active one."""
    from pyspark.sql import SparkSession
    warehouse = str(Path(warehouse).resolve())
    return (SparkSession.builder.master(master).appName("segdb-tests")
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.warehouse.dir", warehouse)
            .config("spark.driver.extraJavaOptions",
                    f"-Dderby.system.home={warehouse} -Dderby.stream.error.file={warehouse}/derby.log")
            .config("spark.sql.legacy.createHiveTableByDefault", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .enableHiveSupport())


def require_spark() -> None:
    """pyspark importable and a Java runtime present (skipped locally / failed in CI otherwise)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        engine_unavailable("pyspark is not installed (pip install -e '.[spark]')")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        engine_unavailable("Java is not installed (pyspark needs a Java 17 runtime)")


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """One SparkSession for the whole test session, in a fresh warehouse directory (never the
    user's $SEGDB_SPARK_WAREHOUSE: the tests create and drop databases); $SEGDB_SPARK_WAREHOUSE
    names it while the session lives, for the code under test."""
    global _spark
    require_spark()
    warehouse = str(tmp_path_factory.mktemp("spark-warehouse"))
    previous = os.environ.get("SEGDB_SPARK_WAREHOUSE")
    os.environ["SEGDB_SPARK_WAREHOUSE"] = warehouse
    try:
        session = spark_session_builder(warehouse).getOrCreate()
    except Exception as exc:  # no JVM, wrong Java version: pyspark raises several types
        engine_unavailable(f"a local SparkSession does not start: {str(exc).strip().splitlines()[0]}")
    session.sparkContext.setLogLevel("ERROR")
    _spark = session
    yield session
    _spark = None
    session.stop()
    if previous is None:
        os.environ.pop("SEGDB_SPARK_WAREHOUSE", None)
    else:
        os.environ["SEGDB_SPARK_WAREHOUSE"] = previous


def _spark_objects(session) -> tuple[set, set, set]:
    databases = {d.name for d in session.catalog.listDatabases()}
    default_tables = {t.name for t in session.catalog.listTables("default") if not t.isTemporary}
    temp_views = {t.name for t in session.catalog.listTables() if t.isTemporary}
    return databases, default_tables, temp_views


def _quote_spark(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture
def spark_url(spark_session):
    before = _spark_objects(spark_session)
    name = _fresh_name()
    spark_session.sql(f"CREATE DATABASE {_quote_spark(name)}")
    try:
        yield f"spark://{SPARK_MASTER}?database={name}"
    finally:
        spark_session.catalog.setCurrentDatabase("default")
        databases, default_tables, temp_views = _spark_objects(spark_session)
        for db in sorted(databases - before[0]):  # the test's database and segdb's own
            spark_session.sql(f"DROP DATABASE IF EXISTS {_quote_spark(db)} CASCADE")
        for table in sorted(default_tables - before[1]):
            spark_session.sql(f"DROP TABLE IF EXISTS default.{_quote_spark(table)}")
        for view in sorted(temp_views - before[2]):
            spark_session.catalog.dropTempView(view)


def spark_database(url: str) -> str:
    """The database a spark:// URL names for the user's tables (`database=`), else 'default'."""
    query_string = url.split("?", 1)[1] if "?" in url else ""  # urlsplit rejects "local[2]"
    return parse_qs(query_string).get("database", ["default"])[0]


# -- the fixture the engine tests use ----------------------------------------------------------

@pytest.fixture(params=ENGINES)
def engine_url(request, tmp_path):
    """The URL of a fresh, empty database on each engine in turn (see the module docstring)."""
    if request.param == "duckdb":
        yield str(tmp_path / "engine.duckdb")
    elif request.param == "postgresql":
        yield request.getfixturevalue("postgres_url")
    else:
        yield request.getfixturevalue("spark_url")


# -- putting user data on an engine ------------------------------------------------------------

_PG_TYPES = [(pa.types.is_boolean, "boolean"), (pa.types.is_int8, "smallint"), (pa.types.is_int16, "smallint"),
             (pa.types.is_int32, "integer"), (pa.types.is_int64, "bigint"), (pa.types.is_floating, "double precision"),
             (pa.types.is_string, "text"), (pa.types.is_large_string, "text"), (pa.types.is_date, "date"),
             (pa.types.is_timestamp, "timestamp")]


def _postgres_type(arrow_type: pa.DataType) -> str:
    for test, pg_type in _PG_TYPES:
        if test(arrow_type):
            return pg_type
    raise TypeError(f"load_table: no PostgreSQL type for Arrow type {arrow_type}")


def _load_duckdb(path: str, name: str, table: pa.Table) -> None:
    from segdb.engines.quoting import quote_identifier
    con = duckdb.connect(path)
    try:
        con.register("load_table_arrow", table)
        con.execute(f"CREATE TABLE {quote_identifier(name)} AS SELECT * FROM load_table_arrow")
        con.unregister("load_table_arrow")
    finally:
        con.close()


def _load_postgres(url: str, name: str, table: pa.Table) -> None:
    psycopg = _psycopg()
    from psycopg import sql
    columns = [sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_postgres_type(f.type)))
               for f in table.schema]
    with psycopg.connect(**postgres_conninfo(url)) as con:  # one transaction, committed on exit
        con.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), sql.SQL(", ").join(columns)))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names))
        with con.cursor().copy(copy_sql) as copy:
            for batch in table.to_batches():
                for row in zip(*(col.to_pylist() for col in batch.columns)):
                    copy.write_row(row)


def _load_spark(url: str, name: str, table: pa.Table) -> None:
    if _spark is None:
        raise RuntimeError("load_table on Spark needs the spark_session fixture (use engine_url)")
    import pyspark
    data = table if int(pyspark.__version__.split(".")[0]) >= 4 else table.to_pandas()  # Arrow input: 4.0+
    target = f"{_quote_spark(spark_database(url))}.{_quote_spark(name)}"
    _spark.createDataFrame(data).write.mode("errorifexists").saveAsTable(target)


def load_table(engine_url: str, name: str, arrow_table: pa.Table) -> None:
    """Create the user table ``name`` holding ``arrow_table`` in the database ``engine_url`` names."""
    engine = engine_of(engine_url)
    if engine == "duckdb":
        _load_duckdb(engine_url, name, arrow_table)
    elif engine == "postgresql":
        _load_postgres(engine_url, name, arrow_table)
    else:
        _load_spark(engine_url, name, arrow_table)


def wholesale_table() -> pa.Table:
    """tests/data/wholesale_customers.csv with customer_id 1..440 (BIGINT) as its first column."""
    table = pa_csv.read_csv(DATA / "wholesale_customers.csv")
    table = table.cast(pa.schema([pa.field(f.name, pa.int64()) for f in table.schema]))
    return table.add_column(0, "customer_id", pa.array(range(1, table.num_rows + 1), pa.int64()))


# -- reading back, engine-natively (to check what the code under test wrote) -------------------

def query(engine_url: str, sql_text: str) -> list[tuple]:
    """Rows of one query run natively on the engine (Spark: in the URL's database)."""
    engine = engine_of(engine_url)
    if engine == "duckdb":
        con = duckdb.connect(engine_url)
        try:
            return con.execute(sql_text).fetchall()
        finally:
            con.close()
    if engine == "postgresql":
        psycopg = _psycopg()
        with psycopg.connect(**postgres_conninfo(engine_url), autocommit=True) as con:
            return con.execute(sql_text).fetchall()
    if _spark is None:
        raise RuntimeError("query on Spark needs the spark_session fixture (use engine_url)")
    previous = _spark.catalog.currentDatabase()
    _spark.catalog.setCurrentDatabase(spark_database(engine_url))
    try:
        return [tuple(row) for row in _spark.sql(sql_text).collect()]
    finally:
        _spark.catalog.setCurrentDatabase(previous)


def user_tables(engine_url: str) -> list[str]:
    """Names of the tables and views in the database the URL names (Spark: its `database=`)."""
    engine = engine_of(engine_url)
    if engine == "spark":
        return sorted(row[1] for row in query(engine_url, f"SHOW TABLES IN {_quote_spark(spark_database(engine_url))}")
                      if not row[2])
    system = "('pg_catalog', 'information_schema')" if engine == "postgresql" else "('information_schema', 'pg_catalog')"
    return sorted(f"{schema}.{name}" for schema, name in query(
        engine_url, f"SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN {system}"))
