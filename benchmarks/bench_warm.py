"""Benchmark: a warm-started refresh against a cold one, after 1% of the customers changed.

    python benchmarks/bench_warm.py --rows 10000000            # the table in docs/performance.md
    python benchmarks/bench_warm.py --rows 1000000 --json      # one JSON object

On a copy of the cached benchmark table (benchmarks/bench_data.py: N customers x 8 features, k=6):
run 0 is a cold refresh of the original data. Then --change (default 1%) of the customers take the
answers of another customer (a hash picks both), and the changed table is refreshed, each refresh in
its own `segdb` process, alternately

    warm   `segdb refresh bench --warm-start`: Lloyd's iterations from run 0's centroids
    cold   `segdb refresh bench --cold-start`: segdb's k-means++ restarts (the baseline)

each starting from run 0 again (`segdb rollback` before it, not timed). Printed per mode: the median
wall seconds of the refresh process, the inertia (within-segment sum of squares in z-units, over
every row), the Lloyd iterations, the fit stage's own seconds (segdb.runs.stage_seconds), and the share of customers whose segment differs from run 0's
(segment ids are matched across runs, so an id is the same segment in both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_data  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--change", type=float, default=0.01, help="share of customers that change")
    p.add_argument("--rounds", type=int, default=2, help="refreshes per mode (alternating)")
    p.add_argument("--data-dir", default=os.environ.get("SEGDB_BENCH_DATA", str(HERE / ".data")),
                   help="where generated databases are cached [$SEGDB_BENCH_DATA, else benchmarks/.data]")
    p.add_argument("--work-dir", default=None, help="where the copy is made [a folder beside the cache]")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def segdb_cli(db: Path, *args: str) -> tuple[float, str]:
    """(wall seconds, stdout) of one `segdb` process."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "segdb", "--db", str(db), "--quiet", *args],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"segdb {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, done.stdout


def change_customers(con, rows: int, share: float, d: int) -> int:
    """``share`` of the customers take another customer's answers (both picked by a hash)."""
    names = bench_data.feature_names(d)
    modulus = max(1, round(1 / share))
    sets = ", ".join(f"{n} = o.{n}" for n in names)
    con.execute(f"UPDATE {bench_data.TABLE} AS c SET {sets} FROM {bench_data.TABLE} AS o "
                f"WHERE hash(c.customer_id, 17) % {modulus} = 0 "
                f"AND o.customer_id = (c.customer_id * 7919 + 13) % {rows}")
    return con.execute(f"SELECT count(*) FROM {bench_data.TABLE} WHERE hash(customer_id, 17) % {modulus} = 0"
                       ).fetchall()[0][0]


def latest_run(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT max(run_id) FROM segdb.runs").fetchall()[0][0]
    finally:
        con.close()


def run_facts(db: Path, base_run: int) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        run_id, inertia, n_iter, fit_start, note, stages = con.execute(
            "SELECT run_id, inertia, n_iter, fit_start, fit_start_note, stage_seconds FROM segdb.runs "
            "ORDER BY run_id DESC LIMIT 1").fetchall()[0]
        assert run_id != base_run
        moved = con.execute(
            "SELECT avg(CASE WHEN a.segment_id <> b.segment_id THEN 1.0 ELSE 0.0 END) "
            "FROM segdb.bench_labels AS a JOIN segdb.bench_labels AS b USING (segdb_key) "
            "WHERE a.run_id = ? AND b.run_id = ?", [base_run, run_id]).fetchall()[0][0]
    finally:
        con.close()
    return {"run_id": run_id, "inertia": inertia, "n_iter": n_iter, "fit_start": fit_start,
            "note": note, "moved_share": float(moved), "fit_seconds": json.loads(stages).get("fit")}


def main(argv=None) -> dict:
    args = parse_args(argv)
    source = bench_data.ensure_data(args.data_dir, args.rows, args.d, args.k, args.seed)
    work = Path(args.work_dir or Path(args.data_dir) / f"warm_{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    db = work / "warm.duckdb"
    try:
        shutil.copyfile(source, db)
        names = bench_data.feature_names(args.d)
        features = [a for n in names for a in ("--feature", n)]
        segdb_cli(db, "init")
        segdb_cli(db, "create", "bench", "--source", bench_data.TABLE, "--key", "customer_id",
                  *features, "--k", str(args.k), "--seed", str(args.seed))
        base_seconds, _ = segdb_cli(db, "refresh", "bench", "--cold-start")
        base = latest_run(db)
        con = duckdb.connect(str(db))
        try:
            changed = change_customers(con, args.rows, args.change, args.d)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        results: dict[str, list[dict]] = {"warm": [], "cold": []}
        order = [m for r in range(args.rounds) for m in (("warm", "cold") if r % 2 == 0 else ("cold", "warm"))]
        for mode in order:
            if latest_run(db) != base:
                segdb_cli(db, "rollback", "bench", str(base))
                segdb_cli(db, "prune", "bench", "--keep", "1")  # keeps run 0 (current) and the last
            seconds, _ = segdb_cli(db, "refresh", "bench", f"--{mode}-start")
            results[mode].append({"seconds": seconds, **run_facts(db, base)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {"rows": args.rows, "changed": int(changed), "first_refresh_seconds": base_seconds,
               "load": os.getloadavg()[0]}
    for mode, runs in results.items():
        summary[mode] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "fit_seconds": statistics.median(r["fit_seconds"] for r in runs),
            "inertia": runs[0]["inertia"],
            "n_iter": runs[0]["n_iter"],
            "moved_share": runs[0]["moved_share"],
            "fit_start": runs[0]["fit_start"],
            "all_seconds": [round(r["seconds"], 3) for r in runs],
        }
    summary["warm_over_cold_seconds"] = summary["warm"]["seconds"] / summary["cold"]["seconds"]
    summary["warm_over_cold_fit_seconds"] = summary["warm"]["fit_seconds"] / summary["cold"]["fit_seconds"]
    summary["warm_inertia_vs_cold"] = summary["warm"]["inertia"] / summary["cold"]["inertia"] - 1
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.rows:,} customers, {changed:,} changed ({args.change:.1%}); k={args.k}; "
              f"load {summary['load']:.1f}")
        print(f"{'mode':6} {'seconds':>8} {'fit stage':>9} {'inertia':>16} {'iterations':>10} {'moved vs run 0':>15}")
        for mode in ("warm", "cold"):
            r = summary[mode]
            print(f"{mode:6} {r['seconds']:8.2f} {r['fit_seconds']:9.2f} {r['inertia']:16.1f} {r['n_iter']:10d} "
                  f"{r['moved_share']:15.4%}")
        print(f"warm / cold: {summary['warm_over_cold_seconds']:.2f} of the refresh's time, "
              f"{summary['warm_over_cold_fit_seconds']:.2f} of the fit stage's; inertia "
              f"{summary['warm_inertia_vs_cold']:+.4%}")
    return summary


if __name__ == "__main__":
    main()
