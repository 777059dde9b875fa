"""Strict CSV reading for `segdb import`: a malformed file is refused, never half-read.

DuckDB's CSV sniffer is forgiving to a fault: on a file with an unbalanced quote it may decide to
skip the first lines, or to read every line as one text column, and load a fraction of the rows
without a word. segdb therefore fixes the dialect (the delimiter, double quotes, a header line, no
skipped lines, strict mode) and lets DuckDB detect only the column types; a file that does not
parse under that dialect is reported with its first offending line.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb

DELIMITERS = (",", ";", "\t", "|")

# read_csv with a fixed dialect; ? = path, delimiter. The column types are still detected.
STRICT_OPTIONS = "delim = ?, quote = '\"', escape = '\"', header = true, skip = 0, strict_mode = true"


def _first_line(path: Path) -> str:
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.readline()
    except OSError:
        return ""


def delimiter_for(path: Path) -> str:
    """Tab for .tsv; otherwise the first of , ; TAB | that the header line contains (comma if none)."""
    if path.name.lower().endswith(".tsv"):
        return "\t"
    header = _first_line(path)
    for candidate in DELIMITERS:
        if candidate in header:
            return candidate
    return ","


def _delimiter_name(delim: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delim, repr(delim))


# DuckDB's type on purpose: DuckDB's CSV sniffer and reject_errors table explain the file; on other
# engines the importer hands this a fresh duckdb.connect() (segdb.define.importer)
def problem(con: duckdb.DuckDBPyConnection, path: Path, delim: str) -> str:
    """One line naming the first line DuckDB rejects under the strict dialect (for the error)."""
    what = f"it is not valid {_delimiter_name(delim)}-separated CSV with double quotes"
    try:
        con.execute(
            "SELECT count(*) FROM read_csv(?, delim = ?, quote = '\"', escape = '\"', header = true, "
            "skip = 0, store_rejects = true)", [str(path), delim]).fetchall()
        rows = con.execute("SELECT line, error_message FROM reject_errors WHERE scan_id = "
                           "(SELECT max(scan_id) FROM reject_errors) ORDER BY line LIMIT 1").fetchall()
    except duckdb.Error:
        # Not even the sniffer with our dialect copes: typically an unbalanced quote.
        return f"{what} (an unbalanced quote, or rows of different lengths)"
    if rows:
        line, message = rows[0]
        return f"{what}: line {line}: {message}"
    return what
