"""What the per-run extras cost: a refresh with everything, without the quality work, and core only.

A cost-attribution experiment, not a mode of segdb: each configuration runs in its own process on a
scratch copy of the benchmark table and repeats the refresh (one warm-up, then ``--repeat`` timed
runs), printing the median wall and CPU seconds:

full          what ``segdb refresh`` does (issue 6's pipeline plus issue 3's quality and profiles and
              issue 4's transitions, id ledger and scoring macros, all in the run's transaction)
no-quality    the silhouette, bootstrap refits, Calinski-Harabasz and Davies-Bouldin replaced by
              constants (the stored quality of these runs is meaningless); the clusters' moments
              still run (segdb.quality.metrics.cluster_moments): the profiles take their figures
core-only     also no profiles, transitions, id ledger or macros: statistics, fetch, fit, labels,
              centroids, views, commit

    PYTHONPATH=$PWD python benchmarks/refresh_parts.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_data  # noqa: E402

CONFIGS = ("full", "no-quality", "core-only")


def _strip(config: str) -> None:
    import numpy as np
    from segdb.living import transitions as living
    from segdb.quality import job as quality, store as quality_store
    if config in ("no-quality", "core-only"):
        quality.bootstrap_refits = lambda Xs, k, seed: []
        quality.metrics.silhouette_samples_many = lambda X, labelings: [np.zeros(X.shape[0])]
        quality.metrics.calinski_harabasz_and_davies_bouldin = lambda X, labels, moments=None: (float("nan"),) * 2
    if config == "core-only":
        real_prepare = living.prepare

        def prepare(con, d, stats, fit):
            return real_prepare(con, d, stats, fit)[0], (lambda con_, run_id: None)
        living.prepare = prepare
        quality_store.profiles_writer = lambda *args: (lambda con_, run_id: None)


def child(args) -> None:
    _strip(args.child)
    import segdb
    features = bench_data.feature_names(args.d)
    walls, cpus = [], []
    with segdb.connect(args.db) as db:
        for i in range(args.repeat + 1):
            db.create("parts", source=bench_data.TABLE, key="customer_id", features=features, k=args.k,
                      seed=args.seed, n_init=args.n_init, replace=True)  # a first run each time
            r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            db.refresh("parts", triggered_by="refresh_parts")
            wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
            if i:  # the first is a warm-up
                walls.append(wall)
                cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    print(json.dumps({"wall": statistics.median(walls), "cpu": statistics.median(cpus),
                      "walls": walls}))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--data-dir", default=os.environ.get("SEGDB_BENCH_DATA", str(HERE / ".data")))
    p.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    data = bench_data.ensure_data(args.data_dir, args.rows, args.d, args.k, args.seed)
    work = data.with_name(f"{data.stem}.parts.work.duckdb")
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"N = {args.rows:,} rows x d = {args.d}, k = {args.k}; median of {args.repeat} refreshes "
          f"after a warm-up, each configuration in its own process")
    print(f"{'configuration':<14} {'wall s':>8} {'cpu s':>8}   runs (s)")
    try:
        for config in CONFIGS:
            shutil.copyfile(data, work)
            out = subprocess.run([sys.executable, __file__, "--child", config, "--db", str(work),
                                  "--rows", str(args.rows), "--d", str(args.d), "--k", str(args.k),
                                  "--n-init", str(args.n_init), "--seed", str(args.seed),
                                  "--repeat", str(args.repeat)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            runs = ", ".join(f"{w:.2f}" for w in r["walls"])
            print(f"{config:<14} {r['wall']:>8.3f} {r['cpu']:>8.3f}   {runs}", flush=True)
    finally:
        work.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
