"""Load a CSV, Parquet or JSON file into a table through DuckDB's own readers."""

from __future__ import annotations

from pathlib import Path

import duckdb

from . import csvstrict
from ..store.database import transaction
from ..engines import catalog, dialect_of, load
from ..errors import DataError, DefinitionError, NotFoundError
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


def table_exists(con: Engine, table: str) -> bool:
    return catalog.table_type(con, catalog.current_schema(con), table) is not None


def import_file(con: Engine, path, table: str, *, replace: bool = False) -> int:
    """Create ``table`` from the file; returns the number of rows loaded."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"file {path} not found")
    if not table or table.startswith("segdb"):
        raise DefinitionError(f"invalid table name {table!r}: choose a name not starting with 'segdb'")
    reader = reader_for(path)
    exists = table_exists(con, table)
    if exists and not replace:
        raise DefinitionError(f"table {table!r} already exists; pass replace=True to overwrite it")
    verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
    options, params = "", [str(path)]
    if reader == "read_csv":  # a fixed dialect: a malformed file is refused, not half-read
        options, params = ", " + csvstrict.STRICT_OPTIONS, [str(path), csvstrict.delimiter_for(path)]
    try:
        if dialect_of(con) != "duckdb":
            # another engine: DuckDB (in memory, in this process) reads the file with the same
            # strict rules, and the rows are loaded into the engine in batches
            reading = duckdb.connect()
            try:
                reader_batches = reading.sql(f"SELECT * FROM {reader}(?{options})",
                                             params=params).to_arrow_reader(batch_size=100_000)
                return load.load_batches(con, table, reader_batches, replace=replace)
            finally:
                reading.close()
        with transaction(con, f"importing {path.name}"):
            con.execute(f"{verb} {quote_identifier(table)} AS SELECT * FROM {reader}(?{options})", params)
            rows = con.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchall()[0][0]
    except Exception as exc:
        detail = str(exc)
        if detail.startswith("importing"):
            detail = detail.split(" failed: ", 1)[-1]
        if reader == "read_csv":
            detail = csvstrict.problem(con if dialect_of(con) == "duckdb" else duckdb.connect(), path, params[1])
        raise DataError(f"cannot read {path.name} as {reader.split('_')[1].upper()}: {detail}; "
                        "fix the file (nothing was imported)") from None
    return int(rows)
