"""`segdb prune --keep 1` on Spark: how long it takes to remove two old runs of a labels table.

    SEGDB_SPARK_WAREHOUSE=/tmp/some-new-folder python benchmarks/bench_spark_prune.py --rows 300000

Makes a table of ``--rows`` customers (three features, in Spark), a segmentation with three runs,
then times ``prune(keep=1)``, which removes runs 1 and 2. A labels table partitioned by run (segdb
since issue 15) loses them by dropping two partitions; an unpartitioned one (an older segdb) is
rewritten whole (a copy-and-swap). Run it once with each checkout to compare. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import segdb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--k", type=int, default=4)
    args = p.parse_args()
    os.environ.setdefault("SEGDB_SPARK_WAREHOUSE", tempfile.mkdtemp(prefix="segdb-prune-"))
    url = "spark://local[2]?database=prune_bench"
    with segdb.connect(url) as db:
        db.sql(f"CREATE TABLE customers AS SELECT id AS customer_id, rand(1) * 100 AS a, "
               f"rand(2) * 50 AS b, rand(3) AS c FROM range({int(args.rows)})")
        db.create("p", source="customers", key="customer_id", features=["a", "b", "c"], k=args.k, n_init=1)
        refreshes = []
        for _ in range(3):  # the refreshes' time too: partitioned tables must not slow them down
            start = time.perf_counter()
            db.refresh("p")
            refreshes.append(time.perf_counter() - start)
        check = getattr(db.con, "partitioned_by_run", None)  # an older segdb has none
        partitioned = bool(check and check("segdb", "p_labels"))
        start = time.perf_counter()
        result = db.prune("p", 1)
        seconds = time.perf_counter() - start
    print(json.dumps({"rows": args.rows, "prune_keep_1_seconds": round(seconds, 2),
                      "refresh_seconds": [round(s, 2) for s in refreshes],
                      "labels_deleted": result.labels_deleted,
                      "labels_partitioned": partitioned}))


if __name__ == "__main__":
    main()
