"""Load a CSV, Parquet or JSON file into a table through DuckDB's own readers."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from . import csvstrict
from ..store.database import transaction, translate
from ..engines import catalog, dialect_of, load
from ..errors import DataError, DefinitionError, NotFoundError, SegdbError
from ..engines.result import first_line
from ..engines.quoting import quote_identifier
from ..engines.base import Engine

READERS = {
    ".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".csv.gz": "read_csv",
    ".parquet": "read_parquet", ".pq": "read_parquet",
    ".json": "read_json", ".jsonl": "read_json", ".ndjson": "read_json",
}


def reader_for(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(READERS, key=len, reverse=True):
        if name.endswith(suffix):
            return READERS[suffix]
    raise DefinitionError(f"cannot tell the format of {path.name}: use a .csv, .tsv, .parquet, "
                          ".json or .jsonl file")


ENCODINGS = ("utf-8", "latin-1", "utf-16")  # what DuckDB's CSV reader decodes


def import_file(con: Engine, path, table: str, *, replace: bool = False, encoding: str = "utf-8") -> int:
    """Create ``table`` from the file; returns the number of rows loaded. ``encoding`` is a delimited
    text file's (one of :data:`ENCODINGS`)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"file {path} not found")
    if not table or table.startswith("segdb"):
        raise DefinitionError(f"invalid table name {table!r}: choose a name not starting with 'segdb'")
    reader = reader_for(path)
    if encoding not in ENCODINGS:
        raise DefinitionError(f"unknown encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
    kind = catalog.table_type(con, catalog.current_schema(con), table)
    if kind == "VIEW":
        # never replaced by an import: it may be segdb's <name>_segments or _centroids, or an analyst's
        raise DefinitionError(f"{table!r} is an existing view, not a table; import into another "
                              "table name (nothing was imported)")
    if kind is not None and not replace:
        raise DefinitionError(f"table {table!r} already exists; pass replace=True to overwrite it")
    verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
    options, params = "", [str(path)]
    if reader == "read_csv":  # a fixed dialect: a malformed file is refused, not half-read
        options = ", " + csvstrict.STRICT_OPTIONS + ", encoding = ?"
        params = [str(path), csvstrict.delimiter_for(path), encoding]
    try:
        if dialect_of(con) != "duckdb":
            # another engine: DuckDB (in memory, in this process) reads the file with the same
            # strict rules, and the rows are loaded into the engine in batches
            reading = duckdb.connect()
            try:
                reader_batches = reading.sql(f"SELECT * FROM {reader}(?{options})",
                                             params=params).to_arrow_reader(batch_size=100_000)
                return load.load_batches(con, table, reader_batches, replace=replace)
            except duckdb.Error as exc:
                raise _unreadable(path, reader, params, exc) from None
            finally:
                reading.close()
        with transaction(con, f"importing {path.name} into {table}"):
            try:
                con.execute(f"{verb} {quote_identifier(table)} AS SELECT * FROM {reader}(?{options})", params)
            except duckdb.Error as exc:
                raise _unreadable(path, reader, params, exc) from None
            rows = con.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchall()[0][0]
    except SegdbError as exc:
        raise type(exc)(exc.message if "nothing was" in exc.message
                        else f"{exc.message} (nothing was imported)") from exc.__cause__
    return int(rows)


def _unreadable(path: Path, reader: str, params: list, exc: duckdb.Error) -> SegdbError:
    """The reader's own failure: the file's fault only when DuckDB says it cannot parse or decode
    it; anything else (a full disk, a missing permission) is said as DuckDB says it."""
    text = str(exc)
    fmt = reader.split("_")[1].upper()
    if reader == "read_csv" and ("not utf-8 encoded" in text or "Invalid unicode" in text):
        line = re.search(r"on Line: (\d+)", text)
        where = f"line {line.group(1)} holds" if line else "it holds"
        return DataError(f"{path.name} is not {params[2].upper()} text: {where} bytes that are not "
                         f"{params[2].upper()} (latin-1, Windows-1252?); re-save it as UTF-8 (e.g. "
                         f"`iconv -f latin1 -t utf-8 {path.name} > utf8.csv`) or pass its encoding, "
                         "encoding='latin-1' (or 'utf-16') (nothing was imported)")
    if isinstance(exc, (duckdb.InvalidInputException, duckdb.ConversionException)) and (
            reader != "read_csv" or "CSV Error" in text or "sniffing" in text):
        # a connection of its own: the caller's transaction has failed
        detail = csvstrict.problem(duckdb.connect(), path, params[1]) if reader == "read_csv" else first_line(exc)
        return DataError(f"cannot read {path.name} as {fmt}: {detail}; fix the file (nothing was imported)")
    return translate(exc, f"importing {path.name}")
