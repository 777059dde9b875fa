"""The demo: a 150-respondent insurance survey with two natural groups, segmented with k=2.

Group "agent seekers" (80 people) want a local agent and will pay more: they rate
"Premium savings very important" low and "Agent not important" low. Group "price hunters"
(70 people) do not care about agents but demand low premiums: both items high. Answers are
whole numbers 1..7 drawn from a fixed seed, so every machine gets the same table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..store.database import transaction
from ..engines import dialect_of
from ..engines.quoting import quote_identifier

TABLE = "survey_responses"
FEATURES = ("Premium savings very important", "Agent not important")
SEGMENTATION = "insurance"


def survey_table(seed: int = 20261126) -> pa.Table:
    rng = np.random.default_rng(seed)
    groups = [(80, (2.4, 2.0)), (70, (6.0, 5.8))]   # (size, mean answer per item)
    cols = {f: [] for f in FEATURES}
    for size, means in groups:
        for f, m in zip(FEATURES, means):
            answers = np.clip(np.rint(rng.normal(m, 0.9, size)), 1, 7).astype(np.int16)
            cols[f].append(answers)
    order = rng.permutation(150)
    data = {"customer_id": pa.array(np.arange(1001, 1151, dtype=np.int32))}
    for f in FEATURES:
        data[f] = pa.array(np.concatenate(cols[f])[order])
    return pa.table(data)


def load_survey(con, table: str = TABLE) -> int:
    """(Re)create the survey table; returns its row count."""
    data = survey_table()
    if dialect_of(con) != "duckdb":  # PostgreSQL, Spark: the engine's own bulk load
        from ..engines.load import load_batches
        return load_batches(con, table, pa.RecordBatchReader.from_batches(
            data.schema, data.sort_by("customer_id").to_batches()), replace=True)
    with transaction(con, f"loading the demo table {table}"):
        con.register("segdb_demo_survey", data)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {quote_identifier(table)} AS "
                        "SELECT * FROM segdb_demo_survey ORDER BY customer_id")
        finally:
            con.unregister("segdb_demo_survey")
    return data.num_rows
