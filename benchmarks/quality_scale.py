"""How much a refresh's quality work costs as the table grows (prints figures; asserts nothing).

    PYTHONPATH=$PWD python benchmarks/quality_scale.py 100000 1000000

For each row count: a table of 6 features with 4 groups, a k='auto' refresh (scan 2..10) and a
fixed-k refresh, with the stage seconds and the peak resident memory of the process.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import segdb


def build(db, n: int) -> None:
    db.sql(f"""CREATE OR REPLACE TABLE customers AS
        SELECT range AS id, range % 4 AS g,
               (CASE WHEN range % 4 = 0 THEN 5 ELSE 0 END) + sqrt(-2 * ln(random())) * cos(2 * pi() * random()) AS f1,
               (CASE WHEN range % 4 = 1 THEN 5 ELSE 0 END) + sqrt(-2 * ln(random())) * cos(2 * pi() * random()) AS f2,
               (CASE WHEN range % 4 = 2 THEN 5 ELSE 0 END) + sqrt(-2 * ln(random())) * cos(2 * pi() * random()) AS f3,
               (CASE WHEN range % 4 = 3 THEN 5 ELSE 0 END) + sqrt(-2 * ln(random())) * cos(2 * pi() * random()) AS f4,
               random() AS f5, random() AS f6
        FROM range({n})""")


def main(sizes) -> None:
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp, segdb.connect(Path(tmp) / "b.duckdb") as db:
            build(db, n)
            feats = [f"f{i}" for i in range(1, 7)]
            for label, k in (("auto", "auto"), ("fixed k=4", 4)):
                db.create("b", source="customers", key="id", features=feats, k=k, replace=True)
                started = time.perf_counter()
                run = db.refresh("b")
                total = time.perf_counter() - started
                q = db.quality("b").run
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"{n:>9,} rows {label:<10} k={run.k} total {total:6.1f}s stages {run.stage_seconds} "
                      f"silhouette rows {q['silhouette_sample_size']}, stability rows "
                      f"{q['stability_sample_size']}, peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000])
