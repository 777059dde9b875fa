"""PostgreSQL through SQLAlchemy (psycopg 3): segdb's statements, translated, on a raw DBAPI cursor.

SQLAlchemy makes the connection from the user's URL (or takes the user's ``Engine``); statements
then run on the psycopg connection underneath it, because row objects cost about 4x a raw cursor
for the sample fetch, and the sample (the only data-sized result Python reads) comes through
``COPY (query) TO STDOUT`` as CSV, parsed by pyarrow.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import redact_secrets
from . import pg_copy
from .adapter import Adapter
from .result import EngineError, LazyRelation, Result, first_line, plain
from .duckdb import DEFAULT_LOCK_TIMEOUT
from .translate import translate

# PostgreSQL type names -> the DuckDB names segdb's checks and stored definitions use.
_TYPE_NAMES = {
    "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float4": "FLOAT", "float8": "DOUBLE",
    "numeric": "DECIMAL", "text": "VARCHAR", "varchar": "VARCHAR", "bpchar": "VARCHAR", "bool": "BOOLEAN",
    "date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP WITH TIME ZONE", "uuid": "UUID",
    "json": "JSON", "jsonb": "JSON", "interval": "INTERVAL", "bytea": "BLOB", "name": "VARCHAR",
}
_ARROW_TYPES = {"SMALLINT": pa.int16(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "FLOAT": pa.float32(),
                "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_(), "DECIMAL": pa.float64()}


def lock_timeout_setting(seconds: float) -> str:
    """PostgreSQL's lock_timeout for ``seconds`` (at least 1 ms: 0 would disable the timeout)."""
    return f"{max(1, round(seconds * 1000))}ms"


def _engine_error(exc, statement: str) -> EngineError:
    """The driver's error as segdb's, with its SQLSTATE and statement for handlers that explain it
    (a lock timeout, 55P03, is explained by segdb.store.locks with the session holding the lock)."""
    error = EngineError(first_line(exc))
    error.sqlstate = getattr(exc, "sqlstate", None)
    error.statement = statement
    return error


class PostgresRelation(LazyRelation):
    """DuckDB's lazy relation, for the calls segdb makes on ``con.sql(...)``; the sample through COPY."""

    def _run(self) -> Result:
        *before, last = translate(self._sql, self.con.dialect, bool(self._params))
        for statement in before:
            self.con._run(statement, self._params)
        if "segdb_z_1" in last:
            # the standardised matrix (a sample): COPY is several times faster than row tuples
            return Result(table=self.con.copy_arrow(last, self._params))
        return self.con._run(last, self._params)


class PostgresConnection(Adapter):
    dialect = "postgresql"
    relation = PostgresRelation

    def __init__(self, engine, *, read_only: bool = False, owns_engine: bool = True,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        import psycopg
        from psycopg.types.numeric import FloatLoader

        self.engine = engine
        self.read_only = read_only
        self.lock_timeout = lock_timeout  # seconds any lock of a transaction may wait (SET LOCAL)
        self._owns_engine = owns_engine
        self._psycopg = psycopg
        self.url = redact_secrets(engine.url.render_as_string(hide_password=True))  # and ?password=
        self._fairy = engine.raw_connection()          # SQLAlchemy's pooled DBAPI connection
        self.raw = self._fairy.driver_connection         # the psycopg.Connection underneath
        self._autocommit_before = self.raw.autocommit     # a user's pool gets its connection back as it was
        self._ensure_alive()                             # and autocommit: segdb's BEGIN/COMMIT delimit transactions
        # avg() over integers and sum() of bigints are numeric in PostgreSQL: read them as floats,
        # as DuckDB returns doubles (the only numerics segdb reads are such aggregates)
        self.raw.adapters.register_loader("numeric", FloatLoader)
        if read_only:
            self.raw.execute("SET default_transaction_read_only = on")
        # A statement segdb runs outside BEGIN (autocommit: a read, `segdb sql`, DDL of init) waits
        # for a lock at most lock_timeout too; BEGIN sets it again per transaction (SET LOCAL). A
        # user's pooled connection gets its own value back at close (_restore_for_pool).
        self._lock_timeout_before = None if owns_engine else self._run(
            "SELECT current_setting('lock_timeout')", None).fetchall()[0][0]
        if owns_engine:
            # other sessions see who holds a lock (segdb.store.locks names it in its messages)
            self._run("SELECT set_config('application_name', 'segdb', false), "
                      "set_config('lock_timeout', %s, false)", [lock_timeout_setting(lock_timeout)])
        else:
            self._run("SELECT set_config('lock_timeout', %s, false)", [lock_timeout_setting(lock_timeout)])

    # -- DuckDB's connection methods (the rest: segdb.engines.adapter.Adapter) -------------------
    def executemany(self, query, parameters, /) -> None:
        rows = [plain(list(r)) for r in parameters]
        if not rows:
            return
        (statement,) = translate(str(query), self.dialect, True)
        try:
            with self.raw.cursor() as cur:
                cur.executemany(statement, rows)  # psycopg pipelines the rows: one round trip
        except self._psycopg.Error as exc:
            raise self._error(exc, statement) from exc

    def describe(self, query: str, params=None) -> Result:
        (statement,) = translate(f"SELECT * FROM ({query}) AS segdb_described LIMIT 0", self.dialect,
                                 bool(params))
        try:
            with self.raw.cursor() as cur:
                cur.execute(statement, params)
                rows = []
                for column in cur.description:
                    info = self.raw.adapters.types.get(column.type_code)
                    name = info.name if info is not None else str(column.type_code)
                    array = info is not None and column.type_code == info.array_oid  # int4[]: int4's info
                    rows.append((column.name, _TYPE_NAMES.get(name, name.upper()) + ("[]" if array else "")))
        except self._psycopg.Error as exc:
            raise self._error(exc, statement) from exc
        return Result(["column_name", "column_type"], rows)

    def cursor(self) -> "PostgresConnection":
        return PostgresConnection(self.engine, read_only=self.read_only, owns_engine=False,
                                  lock_timeout=self.lock_timeout)

    def label(self, application_name: str) -> None:
        """Name this session in pg_stat_activity (e.g. "segdb refresh shop"), so that a session
        waiting for one of its locks can say who holds it. Only on segdb's own connections: a
        connection from the user's Engine goes back to their pool with their own name."""
        if self._owns_engine:
            self._run("SELECT set_config('application_name', %s, false)", [application_name[:63]])

    def close(self) -> None:
        try:
            if not self._owns_engine:
                self._restore_for_pool()
            self._fairy.close()
        finally:
            if self._owns_engine:
                self.engine.dispose()

    # -- internals -----------------------------------------------------------------------------
    def _restore_for_pool(self) -> None:
        """A connection of the user's own Engine goes back to their pool as segdb found it: a later
        checkout (their own code's) must not be read-only or in autocommit because segdb was."""
        try:
            if self.read_only and not self.raw.closed:
                self.raw.execute("RESET default_transaction_read_only")
            if self._lock_timeout_before is not None and not self.raw.closed:
                self.raw.execute("SELECT set_config('lock_timeout', %s, false)", [self._lock_timeout_before])
            if not self.raw.closed:
                self.raw.autocommit = self._autocommit_before
        except self._psycopg.Error:
            self._fairy.invalidate()  # it cannot be put back as it was: the pool opens a new one

    def _ensure_alive(self) -> None:
        """A pooled connection may have outlived its server process (a restart, a crash, an
        administrator's pg_terminate_backend): test it before use, and replace it once. Safe, since
        nothing has run on it yet. A connection that does not come from a pool (segdb's own URLs
        use NullPool) was just opened: no round trip for it."""
        from sqlalchemy.pool import NullPool
        if isinstance(self.engine.pool, NullPool):
            self.raw.autocommit = True
            return
        try:
            self.raw.autocommit = True
            self.raw.execute("SELECT 1")
        except self._psycopg.OperationalError:
            self._fairy.invalidate()
            try:
                self._fairy = self.engine.raw_connection()
            except Exception as exc:
                raise EngineError(f"lost the connection to {self.url} and cannot reconnect "
                                  f"({first_line(exc)}); check the server and run again") from exc
            self.raw = self._fairy.driver_connection
            self.raw.autocommit = True

    def _error(self, exc: BaseException, statement: str) -> EngineError:
        """The driver's error as one line (with its SQLSTATE and statement: see _engine_error); a
        connection lost in the middle of a command says so."""
        if isinstance(exc, self._psycopg.OperationalError) and (
                self.raw.closed or getattr(exc, "sqlstate", None) in ("57P01", "57P02", "57P03")):
            return EngineError(f"lost the connection to {self.url} ({first_line(exc)}; the server "
                               "restarted?); nothing more was written; run the command again")
        return _engine_error(exc, statement)

    def _transaction(self, statement: str) -> Result:
        result = self._run(statement, None)
        if statement.upper().startswith("BEGIN"):
            # every lock the transaction takes (a view's DDL behind a reader's open transaction,
            # rows, an advisory lock) waits at most lock_timeout; 0 would mean "forever" here
            self._run("SELECT set_config('lock_timeout', %s, true)", [lock_timeout_setting(self.lock_timeout)])
        return result

    def _statement(self, statement: str, params) -> Result:
        return self._run(statement, params)

    def _native(self, statement: str, params) -> Result:
        return self._run(statement, params)

    def _run(self, statement: str, params) -> Result:
        try:
            with self.raw.cursor() as cur:
                cur.execute(statement, params)
                while cur.nextset():  # a script (`segdb sql`): its last statement's result, as DuckDB
                    pass
                if cur.description is None:
                    # DuckDB returns the number of rows an INSERT/UPDATE/DELETE changed; so do we
                    return Result(["Count"], [(cur.rowcount,)]) if cur.rowcount >= 0 else Result()
                return Result([c.name for c in cur.description], cur.fetchall())
        except self._psycopg.Error as exc:
            raise self._error(exc, statement) from exc

    def copy_arrow(self, statement: str, params) -> pa.Table:
        """``statement``'s result through COPY ... TO STDOUT, as Arrow: in the binary format when
        every column is an integer or a double (segdb.engines.pg_copy; keys and the standardised
        matrix), else, or if a value is NULL, as CSV."""
        columns = self._column_types(statement, params)
        if all(kind in pg_copy.WIDTHS for _, kind in columns):
            data = self._copy_out(statement, params, "FORMAT binary")
            table = pg_copy.read(data, [name for name, _ in columns], [kind for _, kind in columns])
            if table is not None:
                return table
        return self.copy_csv(statement, params, columns)

    def copy_csv(self, statement: str, params, columns=None) -> pa.Table:
        """``statement``'s result through COPY ... TO STDOUT (CSV), as Arrow; values rendered by
        psycopg's own client-side binding, since COPY takes no parameters."""
        buf = io.BytesIO(self._copy_out(statement, params, "FORMAT csv, HEADER true"))
        columns = self._column_types(statement, params) if columns is None else columns
        types = {name: _ARROW_TYPES.get(_TYPE_NAMES.get(kind, "VARCHAR"), pa.string()) for name, kind in columns}
        return pacsv.read_csv(buf, convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False))

    def _copy_out(self, statement: str, params, options: str) -> bytearray:
        from psycopg import ClientCursor

        try:
            with ClientCursor(self.raw) as cur:
                query = cur.mogrify(statement, params) if params else statement
            buf = bytearray()
            with self.raw.cursor() as cur:
                with cur.copy(f"COPY ({query}) TO STDOUT WITH ({options})") as copy:
                    for block in copy:
                        buf += block
        except self._psycopg.Error as exc:
            raise self._error(exc, statement) from exc
        return buf

    def copy_in(self, table: str, columns: list[str], values: list, types: list[str]) -> None:
        """Append rows to ``table`` (quoted) with COPY ... FROM STDIN, in the current transaction:
        ``values`` one array per column of ``columns`` (quoted), ``types`` their PostgreSQL type
        names. Binary when every type is an integer or a double (segdb.engines.pg_copy), else
        row by row in COPY's text format (a text key: psycopg escapes it)."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        try:
            with self.raw.cursor() as cur:
                if all(t in pg_copy.WIDTHS for t in types):
                    with cur.copy(statement + " WITH (FORMAT binary)") as copy:
                        for piece in pg_copy.encode(list(zip(values, types))):
                            copy.write(piece)
                else:
                    rows = zip(*[v.to_pylist() if hasattr(v, "to_pylist") else v.tolist() for v in values])
                    with cur.copy(statement) as copy:
                        for row in rows:
                            copy.write_row(row)
        except self._psycopg.Error as exc:
            raise self._error(exc, statement) from exc

    def _column_types(self, statement: str, params) -> list[tuple[str, str]]:
        """(name, PostgreSQL type name) of ``statement``'s columns, from a LIMIT 0 run (no rows
        read): CSV carries no types, and a text key like '007' must stay text."""
        try:
            with self.raw.cursor() as cur:
                cur.execute(f"SELECT * FROM ({statement}) AS segdb_typed LIMIT 0", params)
                out = []
                for column in cur.description:
                    info = self.raw.adapters.types.get(column.type_code)
                    out.append((column.name, info.name if info is not None else ""))
        except self._psycopg.Error as exc:
            raise self._error(exc, statement) from exc
        return out
