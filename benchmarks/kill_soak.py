"""Soak: the kill loop of tests/test_safety_killloop.py, longer and with a seed of your choice.

    python benchmarks/kill_soak.py --engine duckdb --kills 500
    python benchmarks/kill_soak.py --engine postgresql --kills 200 --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python benchmarks/kill_soak.py --engine spark --kills 200 --seed 7
    python benchmarks/kill_soak.py --engine duckdb --kills 0 --init-kills 50
    python benchmarks/kill_soak.py --engine spark --kills 10 --ops prune,refresh

The real `segdb` CLI (refresh, prune --keep 1, rollback, name, apply) is SIGKILLed at seeded random
moments (tests/killloop.py), and after every kill tests/killcheck.py checks that the current run's
views, scoring functions and rows are one committed run, every committed run is intact and names
survive; at the end `segdb show` and `segdb refresh` must work. --init-kills also kills `segdb init`
on that many fresh databases. Everything lives in a temporary folder (or --workdir, kept) and, on
PostgreSQL, a database created on the server and dropped at the end. Exit status 1 and the seed, the
kill and the broken invariants on the first failure; 0 and a summary otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from killloop import OPS, KillLoop, KillLoopFailure  # noqa: E402


def postgres_databases(server_url: str, count: int):
    """(url, env) of ``count`` fresh databases on the server, and a function dropping them."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url
    u = make_url(server_url)
    admin = psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                            dbname=u.database, autocommit=True)
    names = []

    def make():
        for _ in range(count):
            name = f"segdb_soak_{uuid.uuid4().hex[:12]}"
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            names.append(name)
            yield u.set(database=name).render_as_string(hide_password=False), {}

    def drop():
        for name in names:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.close()
    return make(), drop


def targets(engine: str, workdir: Path, count: int, postgres_url: str | None):
    """``count`` fresh databases of ``engine`` as (url, env) pairs, and a cleanup function."""
    if engine == "duckdb":
        return ((str(workdir / f"db{i}.duckdb"), {}) for i in range(count)), lambda: None
    if engine == "spark":
        return (("spark://local[2]?database=soak", {"SEGDB_SPARK_WAREHOUSE": str(workdir / f"warehouse{i}")})
                for i in range(count)), lambda: None
    if not postgres_url:
        sys.exit("--engine postgresql needs --postgres-url or $SEGDB_TEST_POSTGRES_URL")
    return postgres_databases(postgres_url, count)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("duckdb", "postgresql", "spark"), default="duckdb")
    parser.add_argument("--kills", type=int, default=100, help="kills in the loop (default 100)")
    parser.add_argument("--init-kills", type=int, default=0, help="`segdb init` kills on fresh databases")
    parser.add_argument("--ops", default=",".join(OPS),
                        help=f"the commands to kill, comma-separated (default {','.join(OPS)}; refresh "
                             "also runs when none of them is possible)")
    parser.add_argument("--seed", type=int, default=None, help="default: drawn and printed")
    parser.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--postgres-url", default=os.environ.get("SEGDB_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    print(f"kill soak: engine {args.engine}, {args.kills} kills, {args.init_kills} init kills, seed {seed}",
          flush=True)
    temp = None if args.workdir else tempfile.TemporaryDirectory(prefix="segdb-kill-soak-")
    workdir = Path(args.workdir or temp.name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    fresh, cleanup = targets(args.engine, workdir, 1 + (args.init_kills + 1 if args.init_kills else 0),
                             args.postgres_url)
    start = time.monotonic()
    try:
        url, env = next(fresh)
        ops = tuple(op.strip() for op in args.ops.split(",") if op.strip())
        unknown = sorted(set(ops) - set(OPS))
        if unknown:
            parser.error(f"--ops: unknown command {unknown[0]!r}; choose from {', '.join(OPS)}")
        loop = KillLoop(url, workdir / "loop", seed, env=env, log=lambda text: print(text, flush=True), ops=ops)
        kills = loop.run(args.kills) if args.kills else []
        init_kills = loop.init_kills(fresh) if args.init_kills else []
    except KillLoopFailure as exc:
        print(f"FAILED after {time.monotonic() - start:.0f} s: {exc}", file=sys.stderr)
        return 1
    finally:
        cleanup()
        if temp is not None:
            temp.cleanup()
    landed = sum(k.returncode == -9 for k in kills + init_kills)
    print(f"ok: {len(kills)} kills and {len(init_kills)} init kills ({landed} landed before the command "
          f"ended), every invariant held; seed {seed}, {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
