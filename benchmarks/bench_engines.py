"""Benchmark: the same `segdb refresh` on DuckDB, PostgreSQL and Spark local[2].

    python benchmarks/bench_engines.py                                          # 10M rows, all three
    python benchmarks/bench_engines.py --rows 100000 --engines duckdb,postgresql
    python benchmarks/bench_engines.py --rows 1000000 --json                    # one JSON object
    python benchmarks/bench_engines.py --rows 100000 --load-only                # only put the data there
    python benchmarks/bench_engines.py --rows 1000000 --engines postgresql --peers pg-copy
                                        # and the COPY pipeline a PostgreSQL user would write, beside it
    python benchmarks/bench_engines.py --rows 5000000 --engines spark --peers spark-mllib --driver-memory 4g
    python benchmarks/bench_engines.py --rows 10000000 --engines postgresql --refreshes 4 --prune-keep 1
                                        # later refreshes (runs kept, transitions) and a prune, timed

The data are benchmarks/bench_data.py's N customers x d features (default 10,000,000 x 8, k = 6),
generated once by DuckDB and cached per engine:

    duckdb      <data-dir>/customers_n<N>_d<d>_k<k>_s<seed>.duckdb; each run refreshes a scratch copy
    postgresql  database segdb_bench_n<N>_d<d>_k<k>_s<seed> (table `customers`) on the server
                --postgres-url names, loaded once with COPY ... FROM STDIN (CSV written by DuckDB,
                doubles in round-trip precision); each run works in a copy of it
                (CREATE DATABASE ... TEMPLATE), dropped afterwards
    spark       <data-dir>/customers_n<N>_d<d>_k<k>_s<seed>.parquet/ written by DuckDB; each run gets a
                fresh $SEGDB_SPARK_WAREHOUSE (with its Derby metastore inside, where segdb's Spark
                engine keeps it) in which `customers` is an external parquet table

On each engine `segdb --db URL create bench --source customers --key customer_id --feature ...
--k K --max-fit-rows M` runs in one child process and `segdb --db URL refresh bench` in another,
timed from outside ("wall s": Python start-up and, on Spark, the JVM's start included). The run's
own figures come from `segdb --db URL sql "SELECT ... FROM segdb.runs ..."`: stage_seconds, inertia,
rows used and fit rows. "peak MiB" is the peak RSS of the refresh's segdb process, read with
os.wait4 (bounded by the fit sample, not the table); the engine's memory is not in it: the
PostgreSQL server's is its own, and Spark's driver JVM, a child of the segdb process that is not
reaped by it, is shown apart as "JVM MiB" (its VmHWM, polled). Inertias are compared with DuckDB's
in the same run; with more rows than --max-fit-rows each engine fits on its own seeded sample.
Timings on a shared machine are noisy: compare engines measured in one run.

``--peers spark-mllib`` runs, after segdb's Spark refresh and in the same run, the pyspark.ml
pipeline a Spark user would write (benchmarks/peer_spark_mllib.py) in its own process on the same
parquet data, with the same driver memory (``--driver-memory``: $SPARK_DRIVER_MEMORY for segdb's
session, spark.driver.memory for the peer's); it prints segdb / peer (wall seconds, the JVM's start
included in both) and segdb's inertia against the peer's WSSSE on the same standardised data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import bench_data  # noqa: E402

ENGINES = ("duckdb", "postgresql", "spark")
# peer -> the engine whose data it reads (each its own module here, run after segdb there)
PEERS = {"pg-copy": "postgresql", "spark-mllib": "spark"}
SEGMENTATION = "bench"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--d", type=int, default=8, help="features: half Likert 1-7, half continuous")
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-fit-rows", type=int, default=1_000_000,
                   help="max_fit_rows of the segmentation (the fit sample's bound)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help="comma-separated, of duckdb,postgresql,spark [default: all three]")
    p.add_argument("--postgres-url",
                   default=os.environ.get("SEGDB_BENCH_POSTGRES_URL") or os.environ.get("SEGDB_TEST_POSTGRES_URL")
                   or DEFAULT_POSTGRES_URL,
                   help="a PostgreSQL server (any database on it) where the benchmark may create databases "
                        "[$SEGDB_BENCH_POSTGRES_URL, else $SEGDB_TEST_POSTGRES_URL, else %(default)s]")
    p.add_argument("--spark-master", default="local[2]", help="the Spark master of the spark:// URL")
    p.add_argument("--data-dir", default=os.environ.get("SEGDB_BENCH_DATA", str(HERE / ".data")),
                   help="where generated data are cached [$SEGDB_BENCH_DATA, else benchmarks/.data]")
    p.add_argument("--driver-memory", default=None,
                   help="Spark driver memory for segdb's session ($SPARK_DRIVER_MEMORY) and the Spark "
                        "peer's (spark.driver.memory) alike [default: Spark's, 1g]")
    p.add_argument("--load-only", action="store_true",
                   help="only generate and load the data on each engine (checked against DuckDB's)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--peers", default="",
                   help="comma-separated peers to run beside segdb, each in its own process, in the same "
                        f"run: {', '.join(PEERS)} (PostgreSQL's COPY pipeline, benchmarks/peer_pg_copy.py; "
                        "pyspark.ml's pipeline, benchmarks/peer_spark_mllib.py) [default: none]")
    p.add_argument("--refreshes", type=int, default=1,
                   help="refreshes in a row on each engine, each its own process (the later ones keep "
                        "the earlier runs, write transitions against the previous run) [default: 1]")
    p.add_argument("--prune-keep", type=int, default=None,
                   help="after the refreshes, time `segdb prune bench --keep N` [default: no prune]")
    p.add_argument("--child", choices=["spark-sql"], help=argparse.SUPPRESS)
    p.add_argument("--sql", action="append", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in ENGINES]
    if unknown:
        p.error(f"unknown engine(s) {', '.join(unknown)}: choose from {', '.join(ENGINES)}")
    args.peers = [x.strip() for x in args.peers.split(",") if x.strip()]
    unknown = [x for x in args.peers if x not in PEERS]
    if unknown:
        p.error(f"unknown peer(s) {', '.join(unknown)}: choose from {', '.join(PEERS)}")
    return args


def data_stem(args) -> str:
    return f"customers_n{args.rows}_d{args.d}_k{args.k}_s{args.seed}"


def log(message: str) -> None:
    print(f"[bench_engines] {message}", file=sys.stderr, flush=True)


# -- the reference figures of the generated data -----------------------------------------------

def duckdb_checksums(path: Path, features: list[str]) -> dict:
    import duckdb
    con = duckdb.connect(str(path), read_only=True)
    try:
        return _checksums(lambda q: con.execute(q).fetchall(), features)
    finally:
        con.close()


def checksum_query(features: list[str]) -> str:
    """count, key sum and per-feature sums: what a faithful copy must reproduce."""
    sums = ", ".join(f"sum({f})" for f in features)
    return f"SELECT count(*), sum(customer_id), {sums} FROM {bench_data.TABLE}"


def _checksums(run, features: list[str]) -> dict:
    row = run(checksum_query(features))[0]
    return {"count": int(row[0]), "key_sum": int(row[1]), "sums": [float(s) for s in row[2:]]}


def same_data(got: dict, want: dict) -> bool:
    if (got["count"], got["key_sum"]) != (want["count"], want["key_sum"]):
        return False
    # sums of doubles in another order: equal to about 1e-12 relative
    return all(abs(g - w) <= 1e-9 * max(1.0, abs(w)) for g, w in zip(got["sums"], want["sums"]))


# -- PostgreSQL --------------------------------------------------------------------------------

def pg_connect(url: str, database: str | None = None, autocommit: bool = True):
    import psycopg
    from sqlalchemy.engine import make_url
    u = make_url(url)
    kwargs = {"host": u.host, "port": u.port, "user": u.username, "password": u.password,
              "dbname": database or u.database}
    return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None}, autocommit=autocommit)


def pg_url(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def pg_column_type(duck_type: str) -> str:
    return {"BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision"}[duck_type]


def pg_ensure_data(args, duck_path: Path, want: dict) -> str:
    """The cached database holding `customers` (loaded by COPY when missing or incomplete)."""
    from psycopg import sql
    name = f"segdb_bench_n{args.rows}_d{args.d}_k{args.k}_s{args.seed}"
    features = bench_data.feature_names(args.d)
    with pg_connect(args.postgres_url) as admin:
        exists = admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchall()[0][0]
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with pg_connect(args.postgres_url, name) as con:
        present = con.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
                              [bench_data.TABLE]).fetchall()[0][0]
        if present and same_data(_checksums(lambda q: con.execute(q).fetchall(), features), want):
            return name
    pg_load(args, duck_path, name)
    with pg_connect(args.postgres_url, name) as con:
        got = _checksums(lambda q: con.execute(q).fetchall(), features)
    if not same_data(got, want):
        raise SystemExit(f"PostgreSQL copy of the data differs from DuckDB's: {got} != {want}")
    return name


def pg_load(args, duck_path: Path, database: str) -> None:
    import duckdb
    from psycopg import sql
    started = time.perf_counter()
    con = duckdb.connect(str(duck_path), read_only=True)
    try:
        columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_name = ? ORDER BY ordinal_position", [bench_data.TABLE]).fetchall()
        with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
            csv_path = Path(tmp) / "customers.csv"
            # DuckDB writes doubles in shortest round-trip form: PostgreSQL reads back the same values
            con.execute(f"COPY {bench_data.TABLE} TO '{csv_path}' (FORMAT csv, HEADER false)")
            con.close()
            table = sql.Identifier(bench_data.TABLE)
            with pg_connect(args.postgres_url, database, autocommit=False) as pg:  # one transaction
                pg.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
                pg.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_column_type(t))) for c, t in columns)))
                with pg.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(table)) as copy, \
                        open(csv_path, "rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                pg.execute(sql.SQL("ANALYZE {}").format(table))
    finally:
        con.close()
    log(f"loaded {args.rows:,} rows into PostgreSQL database {database} in {time.perf_counter() - started:.1f} s")


def pg_work_database(args, cached: str) -> str:
    """A scratch copy of the cached database (segdb's schema, views and labels go there)."""
    from psycopg import sql
    work = "segdb_bench_work"
    with pg_connect(args.postgres_url) as admin:
        pg_drop_database(admin, work)
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [cached])
        version = admin.info.server_version
        strategy = sql.SQL(" STRATEGY = FILE_COPY") if version >= 150000 else sql.SQL("")
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
            sql.Identifier(work), sql.Identifier(cached), strategy))
    return work


def pg_drop_database(admin, name: str) -> None:
    from psycopg import sql
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


# -- Spark -------------------------------------------------------------------------------------

def parquet_ensure(args, duck_path: Path) -> Path:
    """<data-dir>/<stem>.parquet/part-0.parquet written by DuckDB (a directory: a table LOCATION)."""
    target = Path(args.data_dir) / f"{data_stem(args)}.parquet"
    if (target / "part-0.parquet").exists():
        return target
    import duckdb
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    con = duckdb.connect(str(duck_path), read_only=True)
    try:
        con.execute(f"COPY {bench_data.TABLE} TO '{tmp / 'part-0.parquet'}' (FORMAT parquet)")
    finally:
        con.close()
    tmp.rename(target)
    return target


def spark_child(args) -> None:
    """Run --sql statements in order on a Spark session configured as segdb.engines.spark configures
    its own (warehouse $SEGDB_SPARK_WAREHOUSE, its Derby metastore inside it); print the last one's
    rows as one JSON list of objects. A child process: Derby's metastore admits one JVM at a time."""
    from pyspark.sql import SparkSession
    warehouse = str(Path(os.environ["SEGDB_SPARK_WAREHOUSE"]).resolve())
    session = (SparkSession.builder.master(args.spark_master).appName("segdb-bench")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.warehouse.dir", warehouse)
               .config("spark.driver.extraJavaOptions",
                       f"-Dderby.system.home={warehouse} -Dderby.stream.error.file={warehouse}/derby.log")
               .config("spark.sql.legacy.createHiveTableByDefault", "false")
               .enableHiveSupport().getOrCreate())
    try:
        session.sparkContext.setLogLevel("ERROR")
        rows = []
        for statement in args.sql:
            rows = [r.asDict() for r in session.sql(statement).collect()]
    finally:
        session.stop()
    print(json.dumps(rows, default=str), flush=True)


def spark_sql(args, statements: list[str], env: dict, what: str, cwd: str | None = None) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "spark-sql", "--spark-master", args.spark_master]
    for statement in statements:
        cmd += ["--sql", statement]
    out = checked(run_process(cmd, env, cwd), what)["stdout"]
    return json.loads(out.strip().splitlines()[-1])


def spark_register(args, parquet: Path, env: dict, cwd: str) -> dict:
    """`customers` as an external table over the parquet directory; its checksums as Spark reads them."""
    location = str(parquet.resolve()).replace("'", "''")
    features = bench_data.feature_names(args.d)
    rows = spark_sql(args, [f"CREATE TABLE {bench_data.TABLE} USING parquet LOCATION '{location}'",
                            checksum_query(features)], env, "registering the parquet table in Spark", cwd)
    values = list(rows[0].values())
    return {"count": int(values[0]), "key_sum": int(values[1]), "sums": [float(v) for v in values[2:]]}


# -- running segdb in child processes ----------------------------------------------------------

def child_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            continue
        found += children
        frontier += children
    return found


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_process(cmd: list[str], env: dict, cwd: str | None = None) -> dict:
    """Run a child; its wall time, exit code, output, peak RSS (os.wait4) and its descendants' peak."""
    started = time.perf_counter()
    err_file = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: nothing to drain while we read stdout
    # `python -m segdb` puts its working directory first on sys.path: run it in this checkout, so
    # that a copy of the repository benchmarks its own segdb, not one in the caller's directory
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, env=env, cwd=cwd or str(REPO), text=True)
    peak_descendant = [0]
    done = threading.Event()

    def poll():  # the Spark driver JVM: a child of the segdb process, not reaped by it
        while not done.wait(0.5):
            for pid in _descendants(proc.pid):
                peak_descendant[0] = max(peak_descendant[0], _vm_hwm_kib(pid))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): it would reap the child without its rusage
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    poller.join()
    err_file.seek(0)
    err = err_file.read()
    err_file.close()
    return {"seconds": time.perf_counter() - started, "returncode": os.waitstatus_to_exitcode(status),
            "stdout": out, "stderr": err, "rss_mib": usage.ru_maxrss / 1024,
            "descendant_rss_mib": peak_descendant[0] / 1024 or None}


def segdb_cmd(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "segdb", "--quiet", "--db", url, *args]


def checked(result: dict, what: str) -> dict:
    if result["returncode"] != 0:
        tail = (result["stderr"].strip() or result["stdout"].strip()).splitlines()[-5:]
        raise SystemExit(f"{what} failed with exit code {result['returncode']}:\n" + "\n".join(tail))
    return result


RUN_COLUMNS = ("stage_seconds", "inertia", "rows_used", "fit_rows")
LAST_RUN = (f"SELECT {', '.join(RUN_COLUMNS)} FROM segdb.runs WHERE segmentation = '{SEGMENTATION}' "
            "AND status = 'succeeded' ORDER BY run_id DESC LIMIT 1")


def last_run(args, engine: str, url: str, env: dict, cwd: str | None) -> dict:
    """The refresh's row of segdb.runs, read by the engine itself (on Spark in a child process)."""
    if engine == "duckdb":
        import duckdb
        con = duckdb.connect(url, read_only=True)
        try:
            return dict(zip(RUN_COLUMNS, con.execute(LAST_RUN).fetchall()[0]))
        finally:
            con.close()
    if engine == "postgresql":
        from sqlalchemy.engine import make_url
        with pg_connect(url, make_url(url).database) as con:
            return dict(zip(RUN_COLUMNS, con.execute(LAST_RUN).fetchall()[0]))
    return spark_sql(args, [LAST_RUN], env, "reading segdb.runs on Spark", cwd)[0]


def stage_seconds(run: dict) -> dict:
    """A run row's stage_seconds (JSON text on PostgreSQL and Spark, already decoded on DuckDB)."""
    stages = run["stage_seconds"]
    return json.loads(stages) if isinstance(stages, str) else stages


def run_segdb(args, engine: str, url: str, env: dict, cwd: str | None = None) -> dict:
    features = [a for f in bench_data.feature_names(args.d) for a in ("--feature", f)]
    checked(run_process(segdb_cmd(url, "create", SEGMENTATION, "--source", bench_data.TABLE, "--key",
                                  "customer_id", *features, "--k", str(args.k), "--seed", str(args.seed),
                                  "--n-init", str(args.n_init), "--max-fit-rows", str(args.max_fit_rows)),
                        env, cwd), f"segdb create on {engine}")
    refresh = checked(run_process(segdb_cmd(url, "refresh", SEGMENTATION), env, cwd), f"segdb refresh on {engine}")
    run = last_run(args, engine, url, env, cwd)
    stages = stage_seconds(run)
    later = []  # the refreshes after the first: each keeps the runs before it
    for _ in range(args.refreshes - 1):
        again = checked(run_process(segdb_cmd(url, "refresh", SEGMENTATION), env, cwd), f"segdb refresh on {engine}")
        write_s = stage_seconds(last_run(args, engine, url, env, cwd)).get("write")
        later.append({"seconds": again["seconds"], "write_s": write_s, "rss_mib": again["rss_mib"]})
    prune = None
    if args.prune_keep is not None:
        prune = checked(run_process(segdb_cmd(url, "prune", SEGMENTATION, "--keep", str(args.prune_keep)), env, cwd),
                        f"segdb prune on {engine}")["seconds"]
    return {"engine": engine, "url": url, "rows": int(run["rows_used"]), "fit_rows": int(run["fit_rows"]),
            "seconds": refresh["seconds"], "stage_seconds": stages, "stages_total_s": sum(stages.values()),
            "rss_mib": refresh["rss_mib"], "jvm_rss_mib": refresh["descendant_rss_mib"] if engine == "spark" else None,
            "inertia": float(run["inertia"]), "later_refreshes": later, "prune_s": prune}


def bench_duckdb(args, duck_path: Path, want: dict) -> dict:
    work = duck_path.with_name(f"{duck_path.stem}.engines.work.duckdb")
    work.unlink(missing_ok=True)
    shutil.copyfile(duck_path, work)
    try:
        if args.load_only:
            return {"engine": "duckdb", "loaded": same_data(duckdb_checksums(work, bench_data.feature_names(args.d)), want)}
        return run_segdb(args, "duckdb", str(work), child_env())
    finally:
        work.unlink(missing_ok=True)
        Path(str(work) + ".wal").unlink(missing_ok=True)


def bench_postgresql(args, duck_path: Path, want: dict) -> dict:
    cached = pg_ensure_data(args, duck_path, want)
    if args.load_only:
        return {"engine": "postgresql", "loaded": True, "database": cached}
    work = pg_work_database(args, cached)
    try:
        url = pg_url(args.postgres_url, work)
        result = run_segdb(args, "postgresql", url, child_env())
        if "pg-copy" in args.peers:  # after segdb, on the same copy: its cache is at least as warm
            result["peer"] = run_peer_pg_copy(args, url)
        return result
    finally:
        with pg_connect(args.postgres_url) as admin:
            pg_drop_database(admin, work)


def bench_spark(args, duck_path: Path, want: dict) -> dict:
    parquet = parquet_ensure(args, duck_path)
    run_dir = Path(tempfile.mkdtemp(prefix="spark-run-", dir=args.data_dir))
    env = child_env({"SEGDB_SPARK_WAREHOUSE": str(run_dir / "warehouse")})
    try:
        started = time.perf_counter()
        got = spark_register(args, parquet, env, str(run_dir))
        if not same_data(got, want):
            raise SystemExit(f"Spark's view of the parquet data differs from DuckDB's: {got} != {want}")
        log(f"Spark table {bench_data.TABLE} over {parquet.name} checked in {time.perf_counter() - started:.1f} s")
        if args.load_only:
            return {"engine": "spark", "loaded": True, "parquet": str(parquet)}
        if args.driver_memory:  # as a user sets it for a session segdb starts (spark-submit reads it)
            env["SPARK_DRIVER_MEMORY"] = args.driver_memory
        result = run_segdb(args, "spark", f"spark://{args.spark_master}", env, str(run_dir))
        if "spark-mllib" in args.peers:
            result["peers"] = {"spark-mllib": run_spark_mllib(args, parquet, run_dir, result)}
        return result
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def run_peer_pg_copy(args, url: str) -> dict:
    """benchmarks/peer_pg_copy.py in its own process: its JSON line, with the wall seconds measured
    from outside as segdb's are."""
    cmd = [sys.executable, str(HERE / "peer_pg_copy.py"), "--url", url, "--table", bench_data.TABLE,
           "--key", "customer_id", "--k", str(args.k), "--n-init", str(args.n_init), "--seed", str(args.seed)]
    for f in bench_data.feature_names(args.d):
        cmd += ["--feature", f]
    done = checked(run_process(cmd, child_env()), "the PostgreSQL COPY peer")
    out = json.loads(done["stdout"].strip().splitlines()[-1])
    return {**out, "seconds": done["seconds"], "inner_seconds": out["seconds"], "rss_mib": done["rss_mib"]}


def run_spark_mllib(args, parquet: Path, run_dir: Path, segdb_result: dict) -> dict:
    """benchmarks/peer_spark_mllib.py in its own process, timed from outside like segdb (the JVM's
    start included, the WSSSE it computes afterwards left out); segdb / peer on time and quality."""
    cmd = [sys.executable, str(HERE / "peer_spark_mllib.py"), "--parquet", str(parquet.resolve()),
           "--key", "customer_id", "--k", str(args.k), "--seed", str(args.seed), "--master", args.spark_master,
           "--warehouse", str(run_dir / "peer-warehouse")]
    cmd += [a for f in bench_data.feature_names(args.d) for a in ("--feature", f)]
    if args.driver_memory:
        cmd += ["--driver-memory", args.driver_memory]
    env = child_env()
    env.pop("SPARK_DRIVER_MEMORY", None)  # the peer sets spark.driver.memory itself
    done = checked(run_process(cmd, env, str(run_dir)), "the MLlib peer")
    peer = json.loads(done["stdout"].strip().splitlines()[-1])
    peer["seconds"] = done["seconds"] - peer["untimed_seconds"]
    peer["jvm_rss_mib"] = done["descendant_rss_mib"]
    peer["segdb_over_peer"] = segdb_result["seconds"] / peer["seconds"]
    peer["segdb_inertia_vs_peer"] = segdb_result["inertia"] / peer["wsse"] - 1
    return peer


RUNNERS = {"duckdb": bench_duckdb, "postgresql": bench_postgresql, "spark": bench_spark}


def run_all(args) -> dict:
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    duck_path = bench_data.ensure_data(args.data_dir, args.rows, args.d, args.k, args.seed)
    want = duckdb_checksums(duck_path, bench_data.feature_names(args.d))
    res = {"rows": args.rows, "d": args.d, "k": args.k, "n_init": args.n_init, "seed": args.seed,
           "max_fit_rows": args.max_fit_rows, "cpus": os.cpu_count(), "prune_keep": args.prune_keep,
           "engines": {}}
    for engine in args.engines:
        log(f"{engine} ...")
        res["engines"][engine] = RUNNERS[engine](args, duck_path, want)
    base = res["engines"].get("duckdb", {}).get("inertia")
    for r in res["engines"].values():
        if base and r.get("inertia") is not None:
            r["inertia_vs_duckdb"] = r["inertia"] / base - 1
        if r.get("peer") and r.get("seconds"):
            r["peer"]["segdb_over_peer"] = r["seconds"] / r["peer"]["seconds"]
            r["peer"]["inertia_vs_peer"] = r["inertia"] / r["peer"]["inertia"] - 1
    return res


def _fmt(x, digits=2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def print_table(res: dict) -> None:
    print(f"N = {res['rows']:,} rows x d = {res['d']}, k = {res['k']}, n_init = {res['n_init']}, "
          f"seed = {res['seed']}, max_fit_rows = {res['max_fit_rows']:,}, {res['cpus']} CPUs")
    header = (f"{'engine':<11} {'rows':>12} {'fit rows':>10} {'wall s':>8} {'stages s':>9} {'peak MiB':>9} "
              f"{'JVM MiB':>8} {'inertia':>16} {'vs duckdb':>10}  stages (s)")
    print(header)
    print("-" * len(header))
    for name, r in res["engines"].items():
        if "loaded" in r:
            print(f"{name:<11} loaded: {r['loaded']}")
            continue
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stage_seconds"].items())
        excess = r.get("inertia_vs_duckdb")
        print(f"{name:<11} {_fmt(r['rows']):>12} {_fmt(r['fit_rows']):>10} {_fmt(r['seconds']):>8} "
              f"{_fmt(r['stages_total_s']):>9} {_fmt(r['rss_mib'], 0):>9} {_fmt(r['jvm_rss_mib'], 0):>8} "
              f"{_fmt(r['inertia'], 1):>16} {('-' if excess is None else f'{excess:+.1e}'):>10}  {stages}")
        for i, again in enumerate(r.get("later_refreshes") or (), start=2):
            print(f"{'':<11} refresh {i} (runs kept: {i - 1} before it): {again['seconds']:.2f} s wall, "
                  f"write {_fmt(again['write_s'])} s, peak {_fmt(again['rss_mib'], 0)} MiB")
        if r.get("prune_s") is not None:
            print(f"{'':<11} prune --keep {res['prune_keep']}: {r['prune_s']:.2f} s wall")
        if r.get("peer"):
            peer = r["peer"]
            steps = ", ".join(f"{k} {v:.2f}" for k, v in peer["steps"].items())
            print(f"{'  ' + peer['peer']:<11} {_fmt(peer['rows']):>12} {_fmt(peer['rows']):>10} "
                  f"{_fmt(peer['seconds']):>8} {'-':>9} {_fmt(peer['rss_mib'], 0):>9} {'-':>8} "
                  f"{_fmt(peer['inertia'], 1):>16} {'-':>10}  {steps}")
            print(f"{'':<11} segdb / {peer['peer']}: {peer['segdb_over_peer']:.2f}x the wall time, "
                  f"inertia {peer['inertia_vs_peer']:+.2e} relative to the peer's")


def print_peers(res: dict) -> None:
    for name, r in res["engines"].items():
        for peer, p in r.get("peers", {}).items():
            print(f"{name} peer {peer}: {p['seconds']:.2f} s wall (fit {p['fit_seconds']:.2f} s, driver memory "
                  f"{p['driver_memory']}, heap {p['heap_mib']:.0f} MiB, JVM {_fmt(p['jvm_rss_mib'], 0)} MiB), "
                  f"WSSSE {p['wsse']:,.1f}; segdb / peer = {p['segdb_over_peer']:.2f}, "
                  f"segdb inertia vs peer WSSSE {p['segdb_inertia_vs_peer']:+.2%}")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child == "spark-sql":
        return spark_child(args)
    res = run_all(args)
    if args.json:
        print(json.dumps(res))  # stages in the order they ran
    else:
        print_table(res)
        print_peers(res)


if __name__ == "__main__":
    main()
