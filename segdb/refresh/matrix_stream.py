"""Stream a query's standardised matrix into one preallocated, writable float64 array.

Filling batch by batch keeps the peak at the matrix plus one batch (no Arrow table of the whole
result, no combined copy), and the array is writable, so nothing downstream needs to copy it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..store.database import translate
from ..define.definitions import Definition
from .matrix import table_matrix
from ..define.sqlgen import matrix_query, scaled_params
from ..engines.base import ENGINE_ERRORS, Engine

BATCH_ROWS = 1 << 17


def _empty_small_pages(shape) -> np.ndarray:
    """``np.empty`` without numpy's transparent-huge-page advice.

    With the kernel's THP defrag set to "madvise" (the usual default), the first fault of each
    advised 2 MiB page may compact memory: a fresh 640 MB matrix took 3.6-4.2 s to fill that way
    and 0.6-0.7 s in 4 KiB pages on the development VM. The setting is restored at once.
    """
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy < 2
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return np.empty(shape, dtype=np.float64)
    previous = _set_madvise_hugepage(False)
    try:
        return np.empty(shape, dtype=np.float64)
    finally:
        _set_madvise_hugepage(previous)


def read_matrix(con: Engine, query: str, params, width: int, capacity: int,
                what: str, *, keys: list | None = None) -> np.ndarray:
    """The DOUBLE[width] column ``segdb_z`` of ``query`` as a (rows, width) array of at most
    ``capacity`` rows; with ``keys`` (a list), the ``segdb_key`` column's batches are appended to it."""
    out = _empty_small_pages((capacity, width))
    filled = 0
    try:
        reader = con.sql(query, params=params).to_arrow_reader(batch_size=BATCH_ROWS)
        for batch in reader:
            take = min(batch.num_rows, capacity - filled)
            if take <= 0:
                continue
            if "segdb_z" in batch.schema.names:
                column = batch.column("segdb_z")
                if column.null_count:
                    raise ValueError("the standardised matrix has NULL rows")
                flat = column.flatten().to_numpy(zero_copy_only=False)
                out[filled:filled + take] = flat[: take * width].reshape(take, width)
            else:  # other engines return one column per feature (segdb.engines.translate)
                out[filled:filled + take] = table_matrix(batch, width)[:take]
            if keys is not None:
                # a copy: a slice would keep the whole batch (the matrix column too) alive
                keys.append(pa.concat_arrays([batch.column("segdb_key").slice(0, take)]))
            filled += take
    except ENGINE_ERRORS as exc:
        raise translate(exc, what) from exc
    return out[:filled] if filled < capacity else out


def fetch_all(con: Engine, d: Definition, relation: str, stats, rows_used: int,
              where: str):
    """(keys as a chunked Arrow array, X) for every used row, in the order the source returns them."""
    chunks: list = []
    X = read_matrix(con, matrix_query(d, relation, ordered=False), scaled_params(d, stats),
                    len(d.features), rows_used, f"reading the standardised features of {where}",
                    keys=chunks)
    keys = pa.chunked_array(chunks) if chunks else pa.chunked_array([], type=pa.int64())
    return keys, X
