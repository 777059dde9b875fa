"""Why segdb fences its scoring subquery on PostgreSQL: the labelling query with and without OFFSET 0.

    python benchmarks/pg_scoring_fence.py [--url postgresql://postgres@127.0.0.1:55432/DB] [--table customers]

Needs a table with a key and at least 8 numeric columns (bench_engines.py loads one: database
segdb_bench_n1000000_d8_k6_s0, table customers). Runs segdb's nearest-centroid labelling (k = 6,
d = 8, as segdb.living.scoring writes it and segdb.engines.translate renders it for PostgreSQL) grouped by
segment, fenced and not, twice each, and prints the seconds and the ratio. Without the fence
PostgreSQL inlines the subquery and recomputes every squared distance in each CASE branch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segdb.engines.translate import translate  # noqa: E402
from segdb.engines.quoting import quote_identifier  # noqa: E402
from segdb.living.scoring import labelling_query  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="postgresql://postgres@127.0.0.1:55432/segdb_bench_n1000000_d8_k6_s0")
    p.add_argument("--table", default="customers")
    p.add_argument("--key", default="customer_id")
    args = p.parse_args(argv)
    import psycopg

    con = psycopg.connect(args.url, autocommit=True)
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND data_type IN ('double precision', 'integer', 'bigint', 'smallint', 'real', 'numeric') "
        "AND column_name <> %s ORDER BY ordinal_position", [args.table, args.key]).fetchall()][:8]
    rows = con.execute(f"SELECT count(*) FROM {quote_identifier(args.table)}").fetchall()[0][0]
    centroids = np.random.default_rng(0).normal(size=(6, len(columns))).tolist()
    query = labelling_query(quote_identifier(args.key), [quote_identifier(c) for c in columns],
                            quote_identifier(args.table), centers=[0.0] * len(columns),
                            scales=[1.0] * len(columns), centroids=centroids, segment_ids=range(1, 7))
    query = f"SELECT segment_id, count(*) FROM ({query}) AS segdb_labelled GROUP BY segment_id"
    (fenced,) = translate(query, "postgresql", False)
    unfenced = fenced.replace(" OFFSET 0", "")
    best = {}
    for name, sql in [("fenced (OFFSET 0)", fenced), ("unfenced", unfenced)] * 2:
        t = time.perf_counter()
        con.execute(sql).fetchall()
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - t)
    print(f"{rows:,} rows, k = 6, d = {len(columns)}")
    for name, seconds in best.items():
        print(f"{name:18s} {seconds:7.2f} s  {rows / seconds / 1e6:6.2f}M rows/s")
    print(f"unfenced / fenced: {best['unfenced'] / best['fenced (OFFSET 0)']:.1f}x")


if __name__ == "__main__":
    main()
