"""What a source and a feature expression may do on DuckDB: read the database, and nothing outside it.

DuckDB's SQL can read any file the process can (``read_csv('/etc/passwd')``, ``FROM 'data.csv'``,
``glob``), reach the network (``FROM 'https://...'`` through httpfs) and install and load
extensions on first use of one of their functions. A source or expression that does any of it is
refused at ``create`` and at every refresh, unless its definition allows external access
explicitly (``external_access=True``, ``external_access = true`` in TOML; stored with the
definition, in its options).

How: DuckDB's own parser (``json_serialize_sql``) turns the text into its parse tree, which is then
walked. A regex over SQL text cannot tell a string literal, a quoted identifier or a comment from a
call; the parse tree can. What the walk refuses:

* every table function except a few that generate rows (``range``, ``generate_series``, ``unnest``)
  and the database's own table macros:
  the readers (read_csv, read_parquet, read_json, read_text, read_blob, glob, sniff_csv,
  parquet_scan, the scanners of other databases, ``query``, ...) are all table functions;
* a table name that DuckDB would resolve by a replacement scan: a path or URL (``'x.csv'``,
  ``'s3://b/k'``), i.e. a name with '/', '\\', ':', '.', '*' or '?' that is no table or view of the
  database;
* ``getenv``.

And while segdb reads the source (at ``create`` and at every refresh), DuckDB's
``autoinstall_known_extensions`` and ``autoload_known_extensions`` are off (:func:`guarded`): a
function of an extension that is not loaded fails with one line saying so instead of installing it
from the network. (Asking ``duckdb_functions()`` which functions are loaded instead costs 100-300 ms
per call; the settings cost nothing and are put back afterwards.)

Running the reads with DuckDB's ``enable_external_access = false`` would be stricter, but that
setting cannot be turned back on in a running database: the user's connection (the Python API's
``Database``) would lose file access for good. Statements other than one SELECT (ATTACH, INSTALL,
LOAD, COPY, ...) never get this far: segdb.define.source refuses them.

The same parser checks that a feature's ``expr`` is one expression (:func:`check_expression`), on
every engine (expressions are DuckDB SQL everywhere, translated for the others).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading

import duckdb

from ..errors import DefinitionError, SegdbError

OPTION = "external_access"  # the definition option that allows it

# table functions that only generate rows
ROW_GENERATORS = frozenset({"range", "generate_series", "unnest", "repeat_row"})
# scalar functions that read the process's environment
ENVIRONMENT_FUNCTIONS = frozenset({"getenv"})
_REPLACEMENT_SCAN_CHARS = set("/\\:.*?")

_parser_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _parser() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB used only to parse (it never reads anything)."""
    return duckdb.connect(":memory:")


def parse(sql: str) -> dict:
    """DuckDB's parse tree of ``sql`` (json_serialize_sql): {"error": bool, "statements": [...]}."""
    with _parser_lock:
        text = _parser().execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    return json.loads(text)


def check_expression(name: str, expr: str) -> None:
    """``expr`` is one SQL expression: ``SELECT <expr>`` parses as one select item and nothing else
    (``b) AS v FROM t UNION ALL SELECT 999, (1`` does not)."""
    tree = parse(f"SELECT {expr}")
    node = tree["statements"][0]["node"] if not tree.get("error") and len(tree["statements"]) == 1 else {}
    single = (node.get("type") == "SELECT_NODE" and node["from_table"]["type"] == "EMPTY"
              and len(node["select_list"]) == 1 and not node["select_list"][0].get("alias")
              and not node.get("modifiers") and not node["cte_map"]["map"]
              and node.get("where_clause") is None and not node.get("group_expressions")
              and node.get("having") is None and node.get("qualify") is None)
    if not single:
        raise DefinitionError(f"feature {name!r}: expr must be one SQL expression, not {expr!r}")


def allowed(options: dict) -> bool:
    return bool(options.get(OPTION))


def check_external_access(con, name: str, source: str | None, expressions) -> None:
    """Refuse a source SELECT (``source``; None for a table) or feature expression of segmentation
    ``name`` that reads outside the database, in one line naming what and how to allow it."""
    texts = ([("the source SELECT", source)] if source is not None else [])
    texts += [(f"the expr of feature {f!r}", f"SELECT {e}") for f, e in expressions]
    for where, sql in texts:
        tree = parse(sql)
        if tree.get("error"):
            continue  # not valid SQL: the checks that run it say so in DuckDB's words
        reason = _first_external(con, tree)
        if reason is not None:
            raise DefinitionError(
                f"{where} of {name!r} {reason}, outside the database; segdb reads sources without side "
                f"effects and refuses file, network and extension access unless the definition allows "
                f"it: set {OPTION}=True if you mean it")


def _first_external(con, tree) -> str | None:
    for kind, node in _walk(tree):
        if kind == "TABLE_FUNCTION":
            fn = node.get("function") or {}
            fname = str(fn.get("function_name", "")).lower()
            if fname not in ROW_GENERATORS and not _is_table_macro(con, fname):
                return f"calls the table function {fname}()"
        elif kind == "BASE_TABLE":
            table = str(node.get("table_name", ""))
            if _REPLACEMENT_SCAN_CHARS & set(table) and not _is_relation(con, node):
                return f"reads {table!r} (a file or URL)"
        elif kind == "FUNCTION" and not node.get("is_operator"):
            fname = str(node.get("function_name", "")).lower()
            if fname in ENVIRONMENT_FUNCTIONS:
                return f"calls {fname}()"
    return None


def _walk(value, parent_is_table_function: bool = False):
    """(kind, node) of every node of a parse tree: table references by their "type", expressions
    by their "class"; a table function's own FUNCTION node is reported once, as the table function."""
    if isinstance(value, dict):
        kind = value.get("type") if value.get("type") in ("TABLE_FUNCTION", "BASE_TABLE") else value.get("class")
        if kind is not None and not (parent_is_table_function and kind == "FUNCTION"):
            yield kind, value
        for key, child in value.items():
            yield from _walk(child, kind == "TABLE_FUNCTION" and key == "function")
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _is_table_macro(con, name: str) -> bool:
    """A table macro of the database: SQL the user defined there, not a reader."""
    from ..engines import dialect_of
    if dialect_of(con) != "duckdb":
        return False
    return bool(con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_type = 'table_macro' "
                            "AND NOT internal AND lower(function_name) = ?", [name]).fetchall()[0][0])


def _is_relation(con, node) -> bool:
    """Whether the table reference names an existing table or view (a quoted name may hold a '.')."""
    from ..engines import dialect_of
    if dialect_of(con) != "duckdb":
        return True
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND (? = '' OR schema_name = ?) "
        "UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND (? = '' OR schema_name = ?)",
        [node["table_name"], node.get("schema_name", ""), node.get("schema_name", ""),
         node["table_name"], node.get("schema_name", ""), node.get("schema_name", "")]).fetchall()
    return any(r[0] for r in rows)


_EXTENSION_SETTINGS = ("autoinstall_known_extensions", "autoload_known_extensions")
# DuckDB's words for a function, table function or file of an extension that is not loaded
_NOT_LOADED = re.compile(r"(?:Catalog Error: )?[^:;]*? is not in the catalog, but it exists in the \w+ extension"
                         r"|File \S+ requires the extension \w+ to be loaded")


@contextlib.contextmanager
def guarded(con, name: str, allow: bool):
    """While segmentation ``name``'s source is read on DuckDB: no extension is installed or loaded on
    the fly (unless ``allow``: the definition allows external access), and a source that needs one
    fails with one line saying so. The settings are put back afterwards."""
    from ..engines import dialect_of
    if allow or dialect_of(con) != "duckdb":
        yield
        return
    saved = con.execute("SELECT " + ", ".join(f"current_setting('{s}')" for s in _EXTENSION_SETTINGS)).fetchall()[0]
    for setting in _EXTENSION_SETTINGS:
        con.execute(f"SET {setting} = false")
    try:
        yield
    except SegdbError as exc:
        found = _NOT_LOADED.search(exc.message)
        if found is None:
            raise
        raise DefinitionError(
            f"the source of {name!r} needs a DuckDB extension that is not loaded ({found.group(0)}); segdb "
            f"does not install or load extensions for a source unless the definition allows it: set "
            f"{OPTION}=True if you mean it") from None
    finally:
        for setting, value in zip(_EXTENSION_SETTINGS, saved):
            con.execute(f"SET {setting} = {'true' if value else 'false'}")
