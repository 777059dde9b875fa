"""PostgreSQL's side of the write-back: the labels of rows fitted in Python, appended with COPY.

When every used row was fetched (an exact or fast fit, up to max_fit_rows), the labels are in
memory, as on DuckDB: they are appended to the run's labels with ``COPY ... FROM STDIN`` inside the
write-back transaction (binary for integer keys, segdb.engines.pg_copy), instead of labelling every
row in SQL again (at 1M rows that ``INSERT ... SELECT`` took 2.4 s; the COPY takes a fraction).
A bounded fit still labels every row in SQL (segdb.refresh.scalable.labels_writer).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..define.definitions import LABEL_PLACE_COLUMNS
from ..engines.base import Engine

# the labels table's key column (segdb.define.definitions: the source key's type) -> binary COPY type
_KEY_TYPES = {"BIGINT": "int8", "INTEGER": "int4", "SMALLINT": "int2"}
_COPY_TYPES = {"INTEGER": "int4", "DOUBLE": "float8"}  # of LABEL_PLACE_COLUMNS


def copy_labels(con: Engine, table: str, run_id: int, labels: pa.Table, key_type: str) -> None:
    """Append ``labels`` (segdb_key, segment_id, distance, and the place columns when present:
    runner_up_id, runner_up_distance, confidence) as run ``run_id``'s rows of ``table`` (quoted:
    the labels table or the run's partition of it), whose key column has ``key_type``."""
    n = labels.num_rows
    key_type = _KEY_TYPES.get(str(key_type).upper())
    keys = labels.column("segdb_key").combine_chunks()
    if key_type is not None:
        keys = keys.to_numpy(zero_copy_only=False)
    places = [(c, t) for c, t in LABEL_PLACE_COLUMNS if c in labels.column_names]
    con.copy_in(table, ["run_id", "segdb_key", "segment_id", "distance", *(c for c, _ in places)],
                [np.full(n, int(run_id), dtype=np.int64), keys,
                 labels.column("segment_id").to_numpy(), labels.column("distance").to_numpy(),
                 *(labels.column(c).to_numpy() for c, _ in places)],
                ["int8", key_type or "text", "int4", "float8", *(_COPY_TYPES[t] for _, t in places)])
