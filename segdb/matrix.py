"""Fetch the standardised matrix: keys plus one C-contiguous float64 array, through Arrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import duckdb

from .database import translate
from .definitions import Definition
from .sqlgen import matrix_query, scaled_params


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


def fetch(con: duckdb.DuckDBPyConnection, d: Definition, relation: str, stats, where: str):
    """Return (keys as an Arrow array, X as an (n, d) float64 array)."""
    try:
        table = con.sql(matrix_query(d, relation), params=scaled_params(d, stats)).to_arrow_table()
    except duckdb.Error as exc:
        raise translate(exc, f"reading the standardised features of {where}") from exc
    keys = table.column("segdb_key").combine_chunks()
    X = arrow_matrix(table.column("segdb_z"), len(d.features))
    return keys, X
