"""Fetch the standardised matrix: keys plus one C-contiguous float64 array, through Arrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..store.database import translate
from ..define.definitions import Definition
from ..define.sqlgen import matrix_query, scaled_params
from ..engines.base import ENGINE_ERRORS, Engine


def arrow_matrix(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """The values of a FixedSizeList<double>[width] column as an (n, width) array.

    One chunk is read without a copy (the array is then read-only); several chunks are combined
    into one buffer, copied once.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.null_count:
        raise ValueError("the standardised matrix has NULL rows")
    values = column.flatten()  # honours the array's offset, unlike .values
    flat = values.to_numpy(zero_copy_only=True)
    return flat.reshape(-1, width)


def table_matrix(table, width: int) -> np.ndarray:
    """The matrix of a fetched table or batch: DuckDB's ``segdb_z`` array column, or the columns
    ``segdb_z_1`` ... ``segdb_z_<width>`` other engines return (segdb.engines.translate)."""
    if "segdb_z" in table.column_names:
        return arrow_matrix(table.column("segdb_z"), width)
    out = np.empty((table.num_rows, width), dtype=np.float64)
    for i in range(width):
        column = table.column(f"segdb_z_{i + 1}")
        if column.null_count:
            raise ValueError("the standardised matrix has NULL rows")
        out[:, i] = column.to_numpy()
    return out


def fetch(con: Engine, d: Definition, relation: str, stats, where: str, *,
          weights: bool = False):
    """Return (keys as an Arrow array, X as an (n, d) float64 array); with ``weights=True`` also
    the rows' survey weights (float64, or None when the definition has no weight column)."""
    try:
        table = con.sql(matrix_query(d, relation), params=scaled_params(d, stats)).to_arrow_table()
    except ENGINE_ERRORS as exc:
        raise translate(exc, f"reading the standardised features of {where}") from exc
    keys = table.column("segdb_key").combine_chunks()
    X = table_matrix(table, len(d.features))
    if not weights:
        return keys, X
    w = None
    if "segdb_w" in table.column_names:
        w = table.column("segdb_w").to_numpy().astype(np.float64, copy=False)
    return keys, X, w
