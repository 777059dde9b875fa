"""A bounded fit that samples more than half of the rows: its hash thresholds exceed 2^63, which
Spark refused to bind as a BIGINT (NumberFormatException); every engine must take them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import segdb
from engines import load_table

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def test_bounded_fit_of_most_rows(engine_url):
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(0, 1, (20, 2)), rng.normal(8, 1, (20, 2))])
    load_table(engine_url, "small", pa.table({"id": pa.array(np.arange(1, 41), pa.int64()),
                                              "a": pa.array(xy[:, 0]), "b": pa.array(xy[:, 1])}))
    with segdb.connect(engine_url) as db:
        db.create("s", source="small", key="id", features=["a", "b"], k=2, max_fit_rows=30)
        run = db.refresh("s")
        assert (run.rows_used, run.k) == (40, 2)
        sizes = sorted(r[0] for r in zip(*(c.to_pylist() for c in db.sql(
            "SELECT count(*) FROM s_segments GROUP BY segment_id").columns)))
        assert sizes == [20, 20]  # the two groups, 8 standard deviations apart
