"""Benchmark: `segdb refresh` against bare scikit-learn and the tutorial pandas pipeline.

    python benchmarks/bench_refresh.py --rows 10000000                 # table and ratios
    python benchmarks/bench_refresh.py --rows 1000000 --json           # one JSON object
    python benchmarks/bench_refresh.py --rows 100000000 --bare-max-rows 0 --bounded-fit-rows 0
    python benchmarks/bench_refresh.py --rows 10000000 --bare-max-rows 0 --naive-max-rows 0 \
        --bounded-fit-rows 0 --no-scoring                              # segdb against the peer only

The peer is what a scikit-learn user writes with its defaults: StandardScaler, then
KMeans(n_clusters=k, random_state=seed) (n_init='auto', one k-means++ run), then predict, on the
matrix already in memory; its WSSSE is computed on the same standardised data as segdb's inertia.

Generates (once, cached in --data-dir) N customers x d features in a DuckDB file, then runs each
pipeline in its own child process, so the peak RSS of each (read with os.wait4) is its own.
Timings on a shared machine are noisy: compare the ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import bench_data  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=8, help="features: half Likert 1-7, half continuous")
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=os.environ.get("SEGDB_BENCH_DATA", str(HERE / ".data")),
                   help="where generated databases are cached [$SEGDB_BENCH_DATA, else benchmarks/.data]")
    p.add_argument("--naive-max-rows", type=int, default=1_000_000,
                   help="run the tutorial pipeline only up to this many rows (5 minutes at 10M)")
    p.add_argument("--bare-max-rows", type=int, default=20_000_000,
                   help="run bare scikit-learn only up to this many rows (it needs the matrix in memory)")
    p.add_argument("--peer-max-rows", type=int, default=20_000_000,
                   help="run the peer (scikit-learn with its defaults) only up to this many rows")
    p.add_argument("--max-fit-rows", type=int, default=None,
                   help="max_fit_rows of the segdb definition [default: segdb's own default]")
    p.add_argument("--bounded-fit-rows", type=int, default=1_000_000,
                   help="also run segdb with this max_fit_rows (bounded mode; 0 to skip; only when "
                        "smaller than --rows)")
    p.add_argument("--no-scoring", action="store_true", help="skip the SQL scoring benchmark")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--child", choices=["segdb", "segdb_bounded", "bare", "peer", "naive", "scoring"], help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--npy", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_child(args, pipeline: str, **extra) -> dict:
    """Run one pipeline in a fresh process; returns its JSON result plus its peak RSS in MiB."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", pipeline, "--rows", str(args.rows),
           "--d", str(args.d), "--k", str(args.k), "--n-init", str(args.n_init), "--seed", str(args.seed)]
    for key, value in extra.items():
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark pipeline {pipeline} failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def fresh_copy(source: Path, name: str) -> Path:
    """A scratch copy of the cached data, so runs never change the cache."""
    target = source.with_name(f"{source.stem}.{name}.work.duckdb")
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


def run_all(args) -> dict:
    data = bench_data.ensure_data(args.data_dir, args.rows, args.d, args.k, args.seed)
    res: dict = {"rows": args.rows, "d": args.d, "k": args.k, "n_init": args.n_init, "seed": args.seed,
                 "cpus": os.cpu_count()}
    runs: dict = {}
    work = fresh_copy(data, "segdb")
    try:
        runs["segdb"] = run_child(args, "segdb", db=work, max_fit_rows=args.max_fit_rows)
        if args.bounded_fit_rows and args.bounded_fit_rows < args.rows:
            runs["segdb_bounded"] = run_child(args, "segdb_bounded", db=work,
                                              max_fit_rows=args.bounded_fit_rows)
    finally:
        work.unlink(missing_ok=True)
    if args.rows <= args.peer_max_rows:
        npy = bench_data.ensure_matrix(data, args.d, args.rows, args.peer_max_rows)
        runs["peer"] = run_child(args, "peer", npy=npy)
    if args.rows <= args.bare_max_rows:
        npy = bench_data.ensure_matrix(data, args.d, args.rows, args.bare_max_rows)
        runs["bare"] = run_child(args, "bare", npy=npy)
    if args.rows <= args.naive_max_rows:
        work = fresh_copy(data, "naive")
        try:
            runs["naive"] = run_child(args, "naive", db=work)
        finally:
            work.unlink(missing_ok=True)
    if not args.no_scoring:
        runs["scoring"] = run_child(args, "scoring", db=data)
    res["pipelines"] = runs
    for name in ("segdb", "peer", "bare", "naive"):
        r = runs.get(name)
        res[f"{name}_s"] = r["seconds"] if r else None
        res[f"{name}_rss_mib"] = r["rss_mib"] if r else None
        res[f"{name}_inertia"] = r["inertia"] if r else None
    seg = runs["segdb"]
    res["segdb_fit_rows"] = seg["fit_rows"]
    if "peer" in runs:
        peer = runs["peer"]
        res["segdb_over_peer_time"] = seg["seconds"] / peer["seconds"]
        # CPU seconds of the timed work (every thread of the child): on shared cores they move
        # less with the load than the wall time does
        res["segdb_over_peer_cpu"] = seg["cpu_seconds"] / peer["cpu_seconds"]
        res["segdb_over_peer_rss"] = seg["rss_mib"] / peer["rss_mib"]
        res["segdb_inertia_vs_peer"] = seg["inertia"] / peer["inertia"] - 1
    if "bare" in runs:
        res["segdb_over_bare_time"] = seg["seconds"] / runs["bare"]["seconds"]
        res["segdb_inertia_excess"] = seg["inertia"] / runs["bare"]["inertia"] - 1
    if "naive" in runs:
        res["naive_over_segdb_time"] = runs["naive"]["seconds"] / seg["seconds"]
    if "segdb_bounded" in runs:
        b = runs["segdb_bounded"]
        res["bounded_fit_rows"] = b["fit_rows"]
        res["bounded_s"] = b["seconds"]
        res["bounded_rss_mib"] = b["rss_mib"]
        res["bounded_inertia"] = b["inertia"]
        res["bounded_inertia_excess"] = b["inertia"] / seg["inertia"] - 1
    if "scoring" in runs:
        res["scoring_rows_per_s"] = runs["scoring"]["rows_per_s"]
    return res


def _fmt(x, digits=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def print_table(res: dict) -> None:
    print(f"N = {res['rows']:,} rows x d = {res['d']}, k = {res['k']}, n_init = {res['n_init']}, "
          f"seed = {res['seed']}, {res['cpus']} CPUs")
    header = f"{'pipeline':<15} {'wall s':>9} {'peak MiB':>9} {'rows/s':>13} {'fit rows':>12} {'inertia':>16}  stages (s)"
    print(header)
    print("-" * len(header))
    for name, r in res["pipelines"].items():
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
        rate = r.get("rows_per_s") or r["rows"] / r["seconds"]
        print(f"{name:<15} {_fmt(r['seconds'])!s:>9} {_fmt(r['rss_mib'], 0)!s:>9} {_fmt(rate, 0)!s:>13} "
              f"{_fmt(r['fit_rows'])!s:>12} {_fmt(r['inertia'], 1)!s:>16}  {stages}")
    print()
    if "segdb_over_peer_time" in res:
        print(f"segdb / peer wall time        {res['segdb_over_peer_time']:.3f}   (target <= 0.5)")
        print(f"segdb / peer CPU time         {res['segdb_over_peer_cpu']:.3f}   "
              f"({res['pipelines']['segdb']['cpu_seconds']:.2f} s against {res['pipelines']['peer']['cpu_seconds']:.2f} s)")
        print(f"segdb / peer peak RSS         {res['segdb_over_peer_rss']:.3f}")
        print(f"segdb inertia vs peer         {100 * res['segdb_inertia_vs_peer']:+.4f}%   (target <= 0)")
    if "segdb_over_bare_time" in res:
        print(f"segdb / bare wall time        {res['segdb_over_bare_time']:.3f}   (target <= 0.6)")
        print(f"segdb inertia vs bare         {100 * res['segdb_inertia_excess']:+.4f}%   (target <= +0.1%)")
    print(f"segdb peak RSS                {res['segdb_rss_mib']:,.0f} MiB")
    if "naive_over_segdb_time" in res:
        print(f"tutorial / segdb wall time    {res['naive_over_segdb_time']:.1f}x   (target >= 50x)")
    if "bounded_inertia_excess" in res:
        print(f"bounded ({res['bounded_fit_rows']:,} fit rows) inertia vs full fit "
              f"{100 * res['bounded_inertia_excess']:+.4f}%   (target within 0.5%)")
    if "scoring_rows_per_s" in res:
        print(f"SQL scoring (labelling_query) {res['scoring_rows_per_s'] / 1e6:.1f}M rows/s   (target >= 10M)")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        import bench_pipelines
        return bench_pipelines.child_main(args)
    res = run_all(args)
    if args.json:
        print(json.dumps(res, indent=None, sort_keys=True))
    else:
        print_table(res)


if __name__ == "__main__":
    main()
