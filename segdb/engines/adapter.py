"""What the PostgreSQL and Spark connections share: the :class:`segdb.engines.base.Engine` members
over a driver, with segdb's statements (DuckDB's SQL) translated into the engine's dialect.

A subclass says how one translated statement runs (``_statement``), how a statement in the engine's
own dialect runs (``_native``), what BEGIN/COMMIT/ROLLBACK do (``_transaction``), and how DuckDB's
DESCRIBE is answered (``describe``); every driver error leaves it as segdb.errors.EngineError.
"""

from __future__ import annotations

from .result import DESCRIBE, LEADING_COMMENTS, TRANSACTION, LazyRelation, Result, plain
from .translate import translate


def bound(params):
    """The values of a statement as the drivers take them: a list of Python values, or None."""
    return plain(list(params)) if params else None


class AdapterRelation(LazyRelation):
    """DuckDB's lazy relation, for the calls segdb makes on ``con.sql(...)``: every translated
    statement run in turn, the last one's result kept."""

    def _run(self) -> Result:
        result = Result()
        for statement in translate(self._sql, self.con.dialect, bool(self._params)):
            result = self.con._statement(statement, self._params)
        return result


class Adapter:
    """An :class:`~segdb.engines.base.Engine` over another database's driver (see the module)."""

    dialect: str = ""                              # 'postgresql' or 'spark'
    relation: type[LazyRelation] = AdapterRelation  # what ``sql`` returns

    # -- DuckDB's connection methods -----------------------------------------------------------
    def execute(self, query, parameters=None, /) -> Result:
        query = LEADING_COMMENTS.sub("", str(query))
        params = bound(parameters)
        if TRANSACTION.match(query):
            return self._transaction(query.strip().rstrip(";"))
        described = DESCRIBE.match(query)
        if described:
            return self.describe(described.group("query"), params)
        intercepted = self._intercept(query)
        if intercepted is not None:
            return intercepted
        result = Result()
        for statement in translate(query, self.dialect, bool(params)):
            result = self._statement(statement, params)
        return result

    def executemany(self, query, parameters, /) -> None:
        raise NotImplementedError

    def sql(self, query, /, params=None) -> LazyRelation:
        return self.relation(self, str(query), bound(params))

    def native(self, query: str, params=None, /) -> Result:
        """A statement in the engine's own dialect (the user's, for `segdb sql`), untranslated."""
        return self._native(query, bound(params))

    def extract_statements(self, query: str, /):
        from .statements import extract
        return extract(query, self.dialect)

    def begin(self) -> Result:
        return self.execute("BEGIN TRANSACTION")

    def commit(self) -> Result:
        return self.execute("COMMIT")

    def rollback(self) -> Result:
        return self.execute("ROLLBACK")

    def describe(self, query: str, params=None) -> Result:
        """Column names and DuckDB-style types of ``query`` (DuckDB's DESCRIBE), without reading rows."""
        raise NotImplementedError

    def cursor(self) -> "Adapter":
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- what a subclass says ------------------------------------------------------------------
    def _transaction(self, statement: str) -> Result:
        """BEGIN [TRANSACTION], COMMIT or ROLLBACK (without its ';')."""
        raise NotImplementedError

    def _intercept(self, query: str) -> Result | None:
        """A statement the engine answers itself, before translation (None: translate and run it)."""
        return None

    def _statement(self, statement: str, params) -> Result:
        """One statement, already translated into the engine's dialect."""
        raise NotImplementedError

    def _native(self, statement: str, params) -> Result:
        raise NotImplementedError
