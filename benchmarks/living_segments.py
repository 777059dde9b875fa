"""Figures for living segments on generated data: refresh with matching and transitions, the
scoring macros, `assign` and `drift`, in SQL over N rows.

    PYTHONPATH=$PWD python benchmarks/living_segments.py --rows 1000000 --features 6 --k 6
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pyarrow as pa

import segdb


def table(con, name, keys, X):
    data = {"customer_id": pa.array(keys, type=pa.int64())}
    data.update({f"f{i + 1}": pa.array(X[:, i]) for i in range(X.shape[1])})
    con.register("bench_rows", pa.table(data))
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM bench_rows")
    con.unregister("bench_rows")


def timed(label, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label:<48} {time.perf_counter() - t:8.2f} s")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=6)
    ap.add_argument("--k", type=int, default=6)
    args = ap.parse_args()
    n, d, k = args.rows, args.features, args.k
    rng = np.random.default_rng(0)
    centers = rng.uniform(-10, 10, size=(k, d))
    X = centers[rng.integers(0, k, n)] + rng.standard_normal((n, d))
    with tempfile.TemporaryDirectory() as tmp:
        db = segdb.connect(os.path.join(tmp, "bench.duckdb"))
        table(db.con, "src", np.arange(n), X)
        feats = [f"f{i + 1}" for i in range(d)]
        db.create("b", source="src", key="customer_id", features=feats, k=k, n_init=1)
        timed(f"first refresh ({n} rows, d={d}, k={k})", lambda: db.refresh("b"))
        r = timed("second refresh (matching + transitions)", lambda: db.refresh("b"))
        print(f"{'  of which write stage':<48} {r.stage_seconds['write']:8.2f} s")
        args_sql = ", ".join(feats)
        timed(f"b_assign + b_distance over {n} rows",
              lambda: db.sql(f"SELECT count(b_assign({args_sql})), sum(b_distance({args_sql})) FROM src"))
        new = X[: n // 10] + 0.1
        db.con.execute("DROP TABLE IF EXISTS more")
        table(db.con, "more", np.arange(n, n + n // 10), new)
        db.sql("INSERT INTO src SELECT * FROM more")
        res = timed(f"assign ({n // 10} new customers)", lambda: db.assign("b"))
        assert res.assigned == n // 10
        rep = timed(f"drift ({n + n // 10} rows now)", lambda: db.drift("b"))
        print(f"drift: changed_share {rep.changed_share:.4f}, new_share {rep.new_share:.4f}, "
              f"advised {rep.refresh_advised}")
        db.close()


if __name__ == "__main__":
    main()
