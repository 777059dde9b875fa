"""Apache Spark SQL through pyspark: a SparkSession (``local[2]``, a cluster master) or Spark Connect.

segdb's statements are translated to Spark SQL (segdb.engines.translate) and run by the engine;
labels are written with ``INSERT INTO ... SELECT`` by Spark itself, never collected to the driver.
Spark's file tables have no transactions, UPDATE, DELETE or sequences, so this connection:

* ignores BEGIN/COMMIT/ROLLBACK. segdb does not rely on them here: a run becomes current by
  appending one row to segdb.run_commits (one INSERT writes one file, renamed into place when
  the job commits), and everything that shows the current run reads it through that record
  (segdb.store.commits); a failed run's rows stay behind under a run id that is never reused and
  that no commit record names;
* runs UPDATE and DELETE as a copy-and-swap (:meth:`SparkConnection._rewrite_table`): the new
  contents go to a new table, which then takes the old one's name by two renames. A kill leaves
  either the old table or the new one under the name, or both under their temporary names, which
  :func:`recover` (called when a connection opens) puts back; a local metastore renames a table's
  directory before its name, and a directory a kill left under the other name is put back too. An UPDATE or DELETE that matches no
  row writes nothing. segdb's commands no longer send either (names, retirements, definition
  versions and prune marks are appended rows, migration 0006; prune drops the partitions of tables
  partitioned by run, :meth:`SparkConnection.drop_run_partitions`): they remain for a migration's
  UPDATE at ``init``, the prune of a table an older segdb made unpartitioned, and a user's
  ``segdb sql``;
* keeps a sequence as a one-column table of the values handed out.

One process at a time on a local master: the local metastore (Derby, in the warehouse folder) admits
one JVM, so segdb locks the warehouse (:func:`lock_local_warehouse`) before it starts a session; a
second process waits up to ``lock_timeout`` seconds, then stops in one line naming the first. On a
cluster or Spark Connect (a shared metastore) segdb takes no lock: schedule refreshes of one
database one after another (docs/engines.md).
"""

from __future__ import annotations

import contextlib
import decimal
import os
import re
import sys
from urllib.parse import parse_qs, urlsplit

import sqlglot
from sqlglot import exp

from .duckdb import DEFAULT_LOCK_TIMEOUT
from .adapter import Adapter, AdapterRelation
from .quoting import quote_identifier
from .result import EngineError, Result, first_line, plain
from .translate import translate

_NEXTVAL = re.compile(r"\s*SELECT\s+nextval\('(?P<seq>[A-Za-z0-9_.]+)'\)", re.IGNORECASE)
_SEQUENCE = re.compile(r"\s*CREATE\s+SEQUENCE\s+(?P<seq>[A-Za-z0-9_.]+)", re.IGNORECASE)

_TYPE_NAMES = {
    "tinyint": "TINYINT", "smallint": "SMALLINT", "int": "INTEGER", "bigint": "BIGINT",
    "float": "FLOAT", "double": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP", "binary": "BLOB",
}

DEFAULT_WAREHOUSE = "spark-warehouse"


def duckdb_type(spark_type: str) -> str:
    t = spark_type.lower()
    if t.startswith("decimal"):
        return t.upper()
    if t.startswith("varchar") or t.startswith("char"):
        return "VARCHAR"
    return _TYPE_NAMES.get(t, t.upper())


def session_for(url: str):
    """(SparkSession, created) for ``spark://MASTER[?database=DB]`` or ``sc://HOST:PORT``."""
    from pyspark.sql import SparkSession

    if url.startswith("sc://"):
        # the Connect client's own builder: the generic one refuses when this process also runs a
        # classic session (a notebook may well have both). segdb made it, so segdb closes it: an
        # unclosed Connect client calls the server at exit and retries for minutes if it has gone.
        from pyspark.sql.connect.session import SparkSession as ConnectSession
        return ConnectSession.builder.remote(url.split("?")[0]).getOrCreate(), True
    active = existing_session()
    if active is not None:
        return active, False
    master = url.split("?")[0]
    master = master[len("spark://"):] if re.match(r"spark://local(\[|\Z)", master) else master
    warehouse = os.path.abspath(os.environ.get("SEGDB_SPARK_WAREHOUSE", DEFAULT_WAREHOUSE))
    builder = (SparkSession.builder.master(master).appName("segdb")
               .config("spark.sql.warehouse.dir", warehouse)
               # the local (Derby) metastore and its log live beside the warehouse, not in the
               # working directory
               .config("spark.driver.extraJavaOptions",
                       f"-Dderby.system.home={warehouse} -Dderby.stream.error.file={warehouse}/derby.log")
               .config("spark.sql.legacy.createHiveTableByDefault", "false")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")  # segdb draws its own progress
               .config("spark.sql.shuffle.partitions", os.environ.get("SEGDB_SPARK_SHUFFLE_PARTITIONS", "8"))
               .enableHiveSupport())
    with _jvm_output_to(os.path.join(warehouse, "spark-driver.log")):
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pyspark before 4
        pass
    else:
        # pyspark logs every failed query to stderr as a JSON record with the JVM's stack (its
        # "query context" loggers); segdb's own error says it in one line. Only in a session segdb
        # started: a notebook's own session keeps its logging.
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            PySparkLogger.getLogger(name).disabled = True
    return session, True


@contextlib.contextmanager
def _jvm_output_to(log_path: str):
    """While the JVM starts, this process's stdout and stderr point at ``log_path``. The JVM inherits
    them and keeps them: its own warnings, log4j's and py4j's lines (about 10 on every command,
    more on an error) go to that log, and the terminal shows segdb's one `Error:` line only. A JVM
    already running (a notebook's session) is left as it is."""
    import warnings
    from pyspark import SparkContext

    if SparkContext._gateway is not None:
        yield
        return
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        with warnings.catch_warnings():  # pyspark's own FutureWarnings (pandas versions) at start-up
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log):
            os.close(fd)
LOCK_FILE = ".segdb.lock"


def local_warehouse(url: str) -> str | None:
    """The warehouse folder of the local session segdb would start for ``url``; None when it would
    not start one (Spark Connect, a cluster master, or a session already active in this process)."""
    master = url.split("?")[0]
    if not re.match(r"spark://local(\[|\Z)", master) or existing_session() is not None:
        return None
    return os.path.abspath(os.environ.get("SEGDB_SPARK_WAREHOUSE", DEFAULT_WAREHOUSE))


def existing_session():
    """The classic SparkSession this process already runs, or None. pyspark's "active" session is
    per thread: a session started on another thread (a notebook's, or another segdb connection's)
    is found through the default session, which is per process."""
    from pyspark.sql import SparkSession
    return SparkSession.getActiveSession() or getattr(SparkSession, "_instantiatedSession", None)


def lock_local_warehouse(url: str, lock_timeout: float, on_wait=None):
    """The warehouse's lock (segdb.engines.filelock) for a local master, or None (no local session)."""
    from .filelock import acquire
    warehouse = local_warehouse(url)
    if warehouse is None:
        return None
    try:
        os.makedirs(warehouse, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create the Spark warehouse {warehouse}: {exc.strerror}; set "
                          "$SEGDB_SPARK_WAREHOUSE to a writable folder") from None
    return acquire(os.path.join(warehouse, LOCK_FILE), lock_timeout,
                   f"the Spark warehouse {warehouse} (its local metastore admits one process)", on_wait)


def database_of(url: str) -> str:
    query = parse_qs(urlsplit(url.replace("local[", "local%5B").replace("]", "%5D")).query)
    return query.get("database", ["default"])[0]


class SparkConnection(Adapter):
    dialect = "spark"

    def __init__(self, session, *, url: str = "spark", database: str = "default", read_only: bool = False,
                 owns_session: bool = False, warehouse_lock=None, lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        self.session = session
        self.lock_timeout = lock_timeout  # seconds a segmentation's catalog lock is waited for (segdb.store.locks)
        self._warehouse_lock = warehouse_lock  # released when the session it guards has stopped
        self.url = url
        self.database = database
        self.read_only = read_only
        self._owns_session = owns_session
        if database != "default":
            self._sql(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'spark')}", None)
        self._sql(f"USE {quote_identifier(database, 'spark')}", None)
        recover(self)  # also for reading: a table may be under its temporary name after a kill

    @property
    def local_metastore(self) -> bool:
        """True for a session on a local master: its metastore (Derby, in the warehouse) admits
        this one JVM, so every writer is a thread of this process (segdb.store.locks locks them
        apart in the process); False on a cluster or Spark Connect, where other processes write."""
        try:
            return str(self.session.sparkContext.master).startswith("local")
        except Exception:  # Spark Connect has no SparkContext on the client
            return False

    # -- DuckDB's connection methods (the rest: segdb.engines.adapter.Adapter) -------------------
    def executemany(self, query, parameters, /) -> None:
        rows = [list(r) for r in parameters]
        if not rows:
            return
        tree = sqlglot.parse_one(translate(query, self.dialect, True)[0], read="spark")
        values = tree.expression if isinstance(tree, exp.Insert) else None
        if isinstance(values, exp.Values) and len(values.expressions) == 1:
            # one INSERT of every row: one Spark job instead of one per row
            template = values.expressions[0]
            values.set("expressions", [template.copy() for _ in rows])
            self._statement(tree.sql(dialect="spark"), [v for r in rows for v in plain(r)])
            return
        for r in rows:
            self.execute(query, r)

    def describe(self, query: str, params=None) -> Result:
        (statement,) = translate(f"SELECT * FROM ({query}) AS segdb_described", self.dialect, bool(params))
        df = self._sql(statement, params)  # analysed, not run
        rows = [(f.name, duckdb_type(f.dataType.simpleString())) for f in df.schema.fields]
        return Result(["column_name", "column_type"], rows)

    def cursor(self) -> "SparkConnection":
        return SparkConnection(self.session, url=self.url, database=self.database, read_only=self.read_only,
                               lock_timeout=self.lock_timeout)

    def close(self) -> None:
        try:
            if self._owns_session:
                self.session.stop()
        finally:
            if self._warehouse_lock is not None:
                self._warehouse_lock.release()
                self._warehouse_lock = None

    # -- partitions by run (segdb.living.history.prune) -----------------------------------------
    def partitioned_by_run(self, database: str, table: str) -> bool:
        """True when ``database.table`` is partitioned by run_id alone: segdb creates its labels
        and per-run tables so (segdb.store.migrations); an older segdb's are not."""
        rows = self._collect(self._sql(f"DESCRIBE TABLE {_full(database, table)}", None)).fetchall()
        names = [str(r[0]).strip() for r in rows]
        if "# Partition Information" not in names:
            return False
        spec = names[names.index("# Partition Information") + 1:]
        spec = spec[1:] if spec[:1] == ["# col_name"] else spec
        columns = [n.lower() for n in spec[:spec.index("")]] if "" in spec else [n.lower() for n in spec]
        return columns == ["run_id"]

    def drop_run_partitions(self, database: str, table: str, run_ids) -> None:
        """Drop the partitions of ``run_ids`` from a table partitioned by run_id (a catalog operation
        that deletes their directories: no copy, no rename); a run without one is skipped."""
        run_ids = sorted({int(r) for r in run_ids})  # integers: a partition spec takes no parameters
        if run_ids:
            specs = ", ".join(f"PARTITION (run_id = {r})" for r in run_ids)
            self._collect(self._sql(f"ALTER TABLE {_full(database, table)} DROP IF EXISTS {specs}", None))

    # -- internals -----------------------------------------------------------------------------
    def _transaction(self, statement: str) -> Result:
        return Result()  # no transactions on Spark (see the module's docstring)

    def _intercept(self, query: str) -> Result | None:
        if _SEQUENCE.match(query):
            return self._create_sequence(_SEQUENCE.match(query).group("seq"))
        if _NEXTVAL.match(query):
            return self._nextval(_NEXTVAL.match(query).group("seq"))
        return None

    def _native(self, statement: str, params) -> Result:
        return self._collect(self._sql(statement, params))

    def _sql(self, statement: str, params):
        try:
            if isinstance(params, dict):  # already named (see _rewrite_table)
                return self.session.sql(statement, args=params)
            if params:
                names, args = _named(statement, params)
                return self.session.sql(names, args=args)
            return self.session.sql(statement)
        except Exception as exc:  # pyspark raises its own exception classes, not a common base
            raise EngineError(first_line(exc)) from exc

    def _collect(self, df) -> Result:
        try:
            if not df.columns:
                df.collect()
                return Result()
            return Result(table=df.toArrow())
        except Exception as exc:
            raise EngineError(first_line(exc)) from exc

    def _statement(self, statement: str, params) -> Result:
        if re.match(r"\s*(UPDATE|DELETE)\b", statement, re.IGNORECASE):
            named, args = _named(statement, params) if params else (statement, None)
            return self._rewrite_table(sqlglot.parse_one(named, read="spark"), args)
        return self._collect(self._sql(statement, params))

    def _rewrite_table(self, tree, params) -> Result:
        """UPDATE / DELETE as a copy-and-swap (see the module's docstring): the table is never
        overwritten in place, so a kill at any moment leaves its old or its new contents."""
        table = tree.this
        db = table.db or self.database
        name = table.name
        full = f"{quote_identifier(db, 'spark')}.{quote_identifier(name, 'spark')}"
        condition = tree.args.get("where")
        cond = condition.this.sql(dialect="spark") if condition is not None else "TRUE"
        try:
            columns = self.session.table(full).columns
        except Exception as exc:
            raise EngineError(first_line(exc)) from exc

        def q(column):
            return quote_identifier(column, "spark")
        if isinstance(tree, exp.Update):
            sets = {e.this.name: e.expression.sql(dialect="spark") for e in tree.expressions}
            select = ", ".join(
                f"CASE WHEN coalesce({cond}, FALSE) THEN {sets[c]} ELSE {q(c)} END AS {q(c)}"
                if c in sets else q(c) for c in columns)
            query = f"SELECT {select} FROM {full}"
        else:
            query = f"SELECT * FROM {full} WHERE NOT coalesce({cond}, FALSE)"
        before = self._collect(self._sql(f"SELECT count(*) AS n FROM {full} WHERE coalesce({cond}, FALSE)",
                                         params)).fetchall()[0][0]
        if not before:
            return Result(["count"], [(0,)])
        new, old = (f"{quote_identifier(db, 'spark')}.{quote_identifier(name + suffix, 'spark')}"
                    for suffix in (SWAP_NEW, SWAP_OLD))
        recover(self, db)  # leftovers of an earlier kill, before their names are reused
        # LIKE keeps the columns' DEFAULTs, the format and the partitioning; the copy is complete
        # before the first rename, so whichever name holds it after a kill holds all of it
        self._collect(self._sql(f"DROP TABLE IF EXISTS {new}", None))
        self._collect(self._sql(f"CREATE TABLE {new} LIKE {full}", None))
        self._collect(self._sql(f"INSERT INTO {new} SELECT {', '.join(q(c) for c in columns)} "
                                f"FROM ({query}) AS segdb_rewritten", params))
        self._collect(self._sql(f"ALTER TABLE {full} RENAME TO {old}", None))
        self._collect(self._sql(f"ALTER TABLE {new} RENAME TO {full}", None))
        self._collect(self._sql(f"DROP TABLE IF EXISTS {old}", None))
        return Result(["count"], [(int(before),)])

    def _create_sequence(self, name: str) -> Result:
        self._sql(f"CREATE TABLE IF NOT EXISTS {name} (value BIGINT)", None).collect()
        return Result()

    def _nextval(self, name: str) -> Result:
        current = self._collect(self._sql(f"SELECT coalesce(max(value), 0) AS v FROM {name}", None)).fetchall()[0][0]
        value = int(current) + 1
        self._sql(f"INSERT INTO {name} VALUES (?)", [value]).collect()
        return Result(["nextval"], [(value,)])


def _full(database: str, table: str) -> str:
    return f"{quote_identifier(database, 'spark')}.{quote_identifier(table, 'spark')}"


SWAP_NEW = "__segdb_new"  # a table's next contents, complete once it is renamed (see _rewrite_table)
SWAP_OLD = "__segdb_old"  # a table's previous contents, between the two renames


def recover(con: SparkConnection, database: str = "segdb") -> None:
    """Finish or undo a copy-and-swap that a kill interrupted (see ``_rewrite_table``).

    ``t__segdb_old`` exists only between the two renames, when ``t__segdb_new`` is already
    complete: without ``t`` the new contents take the name, and with it the old ones are dropped.
    ``t__segdb_new`` beside ``t`` (no old) is an unfinished copy: dropped."""
    catalog = con.session.catalog
    if not catalog.databaseExists(database) or _nothing_to_recover(con, catalog, database):
        return
    tables = [t for t in catalog.listTables(dbName=database) if not t.isTemporary]
    _put_back_directories(catalog, database, tables)
    names = {t.name.lower() for t in tables}
    if not any(n.endswith((SWAP_NEW, SWAP_OLD)) for n in names):
        return

    def full(n):
        return f"{quote_identifier(database, 'spark')}.{quote_identifier(n, 'spark')}"
    for n in sorted(names):
        if not n.endswith(SWAP_OLD):
            continue
        base = n[:-len(SWAP_OLD)]
        if base not in names and base + SWAP_NEW in names:
            con._collect(con._sql(f"ALTER TABLE {full(base + SWAP_NEW)} RENAME TO {full(base)}", None))
            names |= {base}
            names.discard(base + SWAP_NEW)
        if base in names:
            con._collect(con._sql(f"DROP TABLE IF EXISTS {full(n)}", None))
        else:  # the copy never finished and the original was renamed: cannot happen, but keep the data
            con._collect(con._sql(f"ALTER TABLE {full(n)} RENAME TO {full(base)}", None))
            names |= {base}
    for n in sorted(names):
        if n.endswith(SWAP_NEW) and n[:-len(SWAP_NEW)] in names:
            con._collect(con._sql(f"DROP TABLE IF EXISTS {full(n)}", None))


def _nothing_to_recover(con: SparkConnection, catalog, database: str) -> bool:
    """True when neither the catalog nor the database's folder shows a trace of a copy-and-swap or
    a rename a kill interrupted: no table or directory under a swap name, and every table with a
    directory of its own name. Names only (SHOW TABLES, SHOW VIEWS: one metastore call each),
    where ``catalog.listTables`` reads every table's metadata (seconds on a local metastore, at
    every connection); anything else is left to the full check of :func:`recover`."""
    from urllib.parse import unquote, urlsplit
    db = quote_identifier(database, "spark")
    try:
        names = {r[1].lower() for r in con._sql(f"SHOW TABLES IN {db}", None).collect() if not r[2]}
        views = {r[1].lower() for r in con._sql(f"SHOW VIEWS IN {db}", None).collect() if not r[2]}
        location = urlsplit(catalog.getDatabase(database).locationUri)
    except Exception:  # the full check reports what is wrong
        return False
    if any(n.endswith((SWAP_NEW, SWAP_OLD)) for n in names):
        return False
    if location.scheme not in ("", "file"):
        return True  # a cluster's storage is not listed (see _put_back_directories)
    try:
        folder = unquote(location.path)
        on_disk = {d.lower() for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))}
    except OSError:
        return False
    if any(_swap_base(d) != d for d in on_disk):
        return False
    return (names - views) <= on_disk


def _swap_base(name: str) -> str:
    for suffix in (SWAP_NEW, SWAP_OLD):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _put_back_directories(catalog, database: str, tables) -> None:
    """A local metastore renames a managed table in two steps, its directory first and then its
    name in the catalog, so a kill between them leaves the table named as before but with its rows
    in the directory of the new name, which the catalog does not know. Such a directory goes back
    where the catalog looks; one left over after the catalog let go of its table (a DROP killed
    midway) is moved aside (``<name>_stray_<time>_<pid>``, never deleted) when the table it was a
    copy of is whole, so that the next rename to that name does not fail. Local warehouses only (a path segdb can list); a cluster's storage is
    left alone (docs/safety.md)."""
    import time
    from urllib.parse import unquote, urlsplit
    try:
        location = urlsplit(catalog.getDatabase(database).locationUri)
        if location.scheme not in ("", "file"):
            return
        folder = unquote(location.path)
        on_disk = {d.lower(): d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))}
    except (OSError, ValueError, AttributeError):
        return
    managed = {t.name.lower() for t in tables if (t.tableType or "").upper() == "MANAGED"}
    in_catalog = {t.name.lower() for t in tables}
    for name in sorted(managed - set(on_disk)):
        base = _swap_base(name)
        strays = [d for d in (base, base + SWAP_NEW, base + SWAP_OLD)
                  if d in on_disk and d not in in_catalog]
        if len(strays) == 1:
            os.rename(os.path.join(folder, on_disk[strays[0]]), os.path.join(folder, name))
            on_disk[name] = name
            del on_disk[strays[0]]
    for d in sorted(on_disk):
        base = _swap_base(d)
        if d != base and d not in in_catalog and base in managed and base in on_disk:
            # moved aside, never deleted: segdb cannot tell a finished DROP's leftover from rows
            aside = f"{on_disk[d]}_stray_{time.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}"
            os.rename(os.path.join(folder, on_disk[d]), os.path.join(folder, aside))


def _named(statement: str, params: list):
    """Spark SQL with ``:segdb_pN`` markers for the positional ``?`` (so a rewrite may repeat one).

    The markers are numbered in the order the ``?`` appear in the text, outside quoted strings
    and identifiers, which is the order the values were given in."""
    out, names, i, n = [], {}, 0, len(statement)
    quote = None
    while i < n:
        ch = statement[i]
        if quote:
            out.append(ch)
            if ch == "\\" and quote == "'" and i + 1 < n:  # Spark strings take backslash escapes
                out.append(statement[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
            out.append(ch)
        elif ch == "?":
            name = f"segdb_p{len(names)}"
            value = params[len(names)]
            if isinstance(value, int) and not isinstance(value, bool) and not -2 ** 63 <= value < 2 ** 63:
                # a hash threshold up to 2^64 - 1: Spark binds a Python int as a BIGINT literal and
                # refuses a larger one (NumberFormatException); as a DECIMAL it is exact
                value = decimal.Decimal(value)
            names[name] = value
            out.append(":" + name)
        else:
            out.append(ch)
        i += 1
    if len(names) != len(params):
        raise EngineError(f"a statement has {len(names)} placeholders but {len(params)} values were given"
                          + (f": {statement}" if os.environ.get("SEGDB_DEBUG_SQL") else ""))
    return "".join(out), names


SparkRelation = AdapterRelation  # what ``sql`` returns: segdb.engines.adapter's, unchanged
