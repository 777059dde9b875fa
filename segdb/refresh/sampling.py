"""Seeded samples of the standardised matrix, drawn in SQL.

Both samples are defined by a hash of the key and the seed, not by where rows are stored, so the
same data give the same sample whatever order the source returns rows in:

* the initialisation sample: the ``m`` rows with the smallest ``hash(key, seed)`` (ties by key),
  in that order, among the rows a streaming hash filter keeps (about 5% more than ``m``);
* the bounded fit sample: every row with ``hash(key, seed) < threshold``, a streaming filter that
  keeps each row with probability ``fraction`` (no sort, memory = the sample).

``hash`` is DuckDB's 64-bit hash; another database uses its own (PostgreSQL's
``hashint8extended(key, seed)`` for an integer key, ``hashtextextended`` of its text otherwise:
segdb.engines.dialects.key_hash) -- the sample differs, the method does not.
"""

from __future__ import annotations

import math

import numpy as np

from ..define.definitions import Definition
from .matrix_stream import read_matrix
from ..engines.quoting import quote_identifier as q
from ..define.sqlgen import scaled_expressions, scaled_params, used_condition
from ..engines import dialect_of
from ..engines.dialects import key_hash

HASH_RANGE = 2 ** 64


def _z_list(d: Definition) -> str:
    exprs, _ = scaled_expressions(d)
    return f"[{', '.join(exprs)}]::DOUBLE[{len(d.features)}]"


def init_sample_query(d: Definition, relation: str, dialect: str = "duckdb") -> str:
    """Parameters: the scaling parameters, the seed, a hash threshold, the seed, m.

    The threshold filter streams (it keeps about 5% more than m rows) and only those are sorted:
    a plain ORDER BY hash LIMIT m over ten million rows took 5.6 s and 1.4 GB here.
    """
    h = key_hash(dialect, q(d.key), d.key_type)
    return (
        f"SELECT {_z_list(d)} AS segdb_z\n"
        f"FROM {relation} AS segdb_source\n"
        f"WHERE {used_condition(d)} AND {h} < ?::UBIGINT\n"
        f"ORDER BY {h}, {q(d.key)}\n"
        f"LIMIT ?"
    )


def fit_sample_query(d: Definition, relation: str, *, every_row: bool = False,
                     dialect: str = "duckdb") -> str:
    """Parameters: the scaling parameters, then (unless ``every_row``) the seed and the hash threshold."""
    sample = "" if every_row else f" AND {key_hash(dialect, q(d.key), d.key_type)} < ?::UBIGINT"
    return (
        f"SELECT {_z_list(d)} AS segdb_z\n"
        f"FROM {relation} AS segdb_source\n"
        f"WHERE {used_condition(d)}{sample}"
    )


def threshold_for(target_rows: int, rows_used: int) -> int:
    """A hash threshold keeping about ``target_rows`` rows, 4 standard deviations below the target
    so that the sample exceeds it essentially never (it is cut to ``target_rows`` if it does)."""
    p = target_rows / rows_used
    expected = max(1.0, target_rows - 4.0 * math.sqrt(target_rows * (1 - p)))
    return min(HASH_RANGE - 1, int(expected / rows_used * HASH_RANGE))


def _init_threshold(rows: int, rows_used: int | None) -> int:
    share = 1.0 if not rows_used else min(1.0, 1.05 * rows / rows_used + 1e-3)
    return min(HASH_RANGE - 1, int(share * HASH_RANGE))


def init_positions(keys, seed: int, rows: int, rows_used: int) -> np.ndarray:
    """Positions in ``keys`` of the rows :func:`init_sample` would draw, by DuckDB's own hash run in
    this process: another engine whose whole table was fetched (it is under max_fit_rows) then starts
    the fit from exactly the sample DuckDB would, so both give the same segments."""
    import duckdb
    import pyarrow as pa

    local = duckdb.connect()
    try:
        local.register("segdb_keys", pa.table({"k": keys, "pos": pa.array(np.arange(len(keys)))}))
        rows_ = local.execute(
            "SELECT pos FROM segdb_keys WHERE hash(k, ?::BIGINT) < ?::UBIGINT "
            "ORDER BY hash(k, ?::BIGINT), k LIMIT ?",
            [seed, _init_threshold(rows, rows_used), seed, rows]).fetchall()
    finally:
        local.close()
    return np.fromiter((r[0] for r in rows_), dtype=np.int64, count=len(rows_))


def init_sample(con, d: Definition, relation: str, stats, rows: int, where: str,
                rows_used: int | None = None) -> np.ndarray:
    """The ``rows`` used rows of smallest ``hash(key, seed)`` (about: see init_sample_query)."""
    threshold = _init_threshold(rows, rows_used)
    params = scaled_params(d, stats) + [d.seed, threshold, d.seed, rows]
    return read_matrix(con, init_sample_query(d, relation, dialect_of(con)), params, len(d.features), rows,
                       f"drawing the initialisation sample of {where}")


def fit_sample(con, d: Definition, relation: str, stats, max_rows: int, rows_used: int,
               where: str) -> np.ndarray:
    if max_rows >= rows_used:  # under the bound (other engines' plans): the sample is every row
        return read_matrix(con, fit_sample_query(d, relation, every_row=True), scaled_params(d, stats),
                           len(d.features), rows_used, f"reading the standardised features of {where}")
    params = scaled_params(d, stats) + [d.seed, threshold_for(max_rows, rows_used)]
    return read_matrix(con, fit_sample_query(d, relation, dialect=dialect_of(con)), params, len(d.features), max_rows,
                       f"drawing the fit sample of {where}")
