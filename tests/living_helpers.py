"""Data for the living-segments tests: well separated blobs whose membership is known."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Feature names that need quoting, to exercise identifiers in views and macros.
FEATURES = ["Premium savings very important", 'Agent "not" important', "price"]
BLOB_CENTERS = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])


def blobs(rng: np.random.Generator, sizes, centers=BLOB_CENTERS, sd: float = 0.5):
    """(X, blob) with sizes[b] rows around centers[b]."""
    X = np.vstack([centers[b] + sd * rng.standard_normal((n, centers.shape[1]))
                   for b, n in enumerate(sizes)])
    blob = np.repeat(np.arange(len(sizes)), sizes)
    return X, blob


def write_table(con, table: str, keys, X, features=FEATURES) -> None:
    """CREATE OR REPLACE ``table`` (customer_id BIGINT, one DOUBLE per feature) in the given row order."""
    data = {"customer_id": pa.array(np.asarray(keys), type=pa.int64())}
    for i, f in enumerate(features):
        data[f] = pa.array(np.asarray(X)[:, i], type=pa.float64())
    con.register("segdb_test_rows", pa.table(data))
    try:
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM segdb_test_rows')
    finally:
        con.unregister("segdb_test_rows")


def labels(db, name: str) -> dict:
    rows = db.sql(f"SELECT customer_id, segment_id FROM {name}_segments").to_pylist()
    return {r["customer_id"]: r["segment_id"] for r in rows}


def small_segmentation(db, seed: int, name: str = "s", table: str = "t"):
    """Table ``table`` of 50 customers in two blobs (30 + 20) and segmentation ``name`` (k=2) on it,
    not yet refreshed; returns the feature matrix."""
    X, _ = blobs(np.random.default_rng(seed), [30, 20])
    write_table(db.con, table, np.arange(1, 51), X)
    db.create(name, source=table, key="customer_id", features=FEATURES, k=2)
    return X
