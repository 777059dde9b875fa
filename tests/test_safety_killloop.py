"""Kill loop on every engine (issue 15): `segdb` SIGKILLed at random moments, every invariant checked.

tests/killloop.py runs the real CLI (refresh, prune --keep 1, rollback, name, apply; init on fresh
databases) in child processes and kills them at seeded random moments within each command's
measured duration, or at tests/paused_segdb.py's pause points; tests/killcheck.py checks, after
every kill, that the current run's views, scoring functions and rows are one committed run, that
every committed run is intact and that names survive; at the end `segdb show` and `segdb refresh`
must work. The seed is fixed (SEGDB_KILL_SEED overrides it); a failure names the seed and the kill.
A longer soak: benchmarks/kill_soak.py.

On PostgreSQL the loop also runs against a private server (initdb'd and started by the test, never
the shared one) crashed with `pg_ctl -m immediate stop` at each kill moment.

Sizes are kept for CI on 2 cores: DuckDB 25 kills, PostgreSQL 12 (+ 6 server crashes), and `init`
killed on 5 and 3 fresh databases. Spark needs a JVM and a refresh of 40 s or more per kill on this
machine, so its kills in CI are the aimed ones of tests/test_spark_kill.py (before and after the
commit record, rollback, name and prune at seeded delays, a first init); the random loop on Spark is
`python benchmarks/kill_soak.py --engine spark --kills N`.
"""

from __future__ import annotations

import os
import shutil
import uuid

import duckdb
import pytest

import segdb
from engines import _drop_postgres_database, with_postgres_database
from killcheck import check
from killloop import NAME, KillLoop, step_problems

pytestmark = pytest.mark.usefixtures("one_blas_thread")

SEED = int(os.environ.get("SEGDB_KILL_SEED", "15"))



# -- the checker itself: it finds each broken invariant -------------------------------------------

@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> str:
    """Runs 1 and 2 (pruned), 3 and 4 (current) of `shop`, each on more customers; segment 1 named."""
    path = str(tmp_path_factory.mktemp("killcheck") / "healthy.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE customers AS SELECT i AS customer_id, (hash(i) % 1000)::DOUBLE AS spend, "
                "(hash(i * 7) % 50)::DOUBLE AS visits, (i % 3 * 10 + hash(i) % 5)::DOUBLE AS tenure "
                "FROM range(1, 601) t(i)")
    con.close()
    with segdb.connect(path) as db:
        db.create(NAME, source="customers", key="customer_id", features=["spend", "visits", "tenure"],
                  k=3, n_init=2)
        for i in range(4):
            db.refresh(NAME)
            db.con.execute("INSERT INTO customers SELECT customer_id + ?, spend * 1.5 + 300, visits, tenure "
                           "FROM customers WHERE customer_id <= 60", [(i + 1) * 100000])
        db.prune(NAME, keep=2)
        db.name_segment(NAME, 1, "first")
    return path


def broken(healthy, tmp_path, sql: list[str] | None = None, action=None) -> list[str]:
    path = str(tmp_path / "broken.duckdb")
    shutil.copyfile(healthy, path)
    with segdb.connect(path) as db:
        for statement in sql or []:
            db.con.execute(statement)
        if action:
            action(db)
        return check(db, NAME, names={1: {"first"}}).problems


def test_the_check_passes_a_healthy_database(healthy):
    with segdb.connect(healthy, read_only=True) as db:
        report = check(db, NAME, names={1: {"first"}})
    assert report.problems == []
    assert (report.current, report.committed, report.names[1]) == (4, [3, 4], "first")


def _old_run_views(db):
    from segdb.define import sqlgen
    d = db.definition(NAME)
    db.con.execute(sqlgen.segments_view(d, 3))
    db.con.execute(sqlgen.centroids_view(d, 3))


def _old_run_functions(db):
    from segdb.living import macros
    macros.create_macros(db.con, NAME, 3)


@pytest.mark.parametrize("breakage, sql, action, expected", [
    ("views on another run", None, _old_run_views, "shop_segments shows runs [3], the current run is 4"),
    ("functions of another run", None, _old_run_functions, "shop_assign disagrees with shop_segments"),
    ("a committed run's labels gone", ["DELETE FROM segdb.shop_labels WHERE run_id = 3"], None,
     "committed run 3: 0 labels"),
    ("a committed run's centroids gone", ["DELETE FROM segdb.centroids WHERE run_id = 3"], None,
     "committed run 3 (k=3): 3 segments, 0 centroid values"),
    ("the current run's labels half gone",
     ["DELETE FROM segdb.shop_labels WHERE run_id = 4 AND segdb_key % 2 = 0"], None,
     "shop_segments counts per segment"),
    ("a name lost", ["INSERT INTO segdb.segment_id_events (segmentation, segment_id, seq, kind, name, "
                     "changed_at) SELECT 'shop', 1, max(seq) + 1, 'named', NULL, current_timestamp::TIMESTAMP "
                     "FROM segdb.segment_id_events"], None,
     "segment 1 is named None, expected one of ['first']"),
    ("the pointer on a run the views do not show",
     ["INSERT INTO segdb.run_commits (segmentation, seq, run_id, action, committed_at) "
      "SELECT 'shop', max(seq) + 1, 3, 'rollback', current_timestamp::TIMESTAMP "
      "FROM segdb.run_commits WHERE segmentation = 'shop'"], None, "shop_segments shows runs [4]"),
    ("the current run row gone", ["DELETE FROM segdb.runs WHERE run_id = 4"], None,
     "no current run, but committed runs [3]"),
])
def test_the_check_names_each_broken_invariant(healthy, tmp_path, breakage, sql, action, expected):
    problems = broken(healthy, tmp_path, sql, action)
    assert any(expected in p for p in problems), problems


def test_step_problems_allow_only_the_commands_outcomes():
    before = {"current": 4, "committed": [3, 4]}
    after = lambda current, committed: {"current": current, "committed": committed}  # noqa: E731
    assert step_problems(before, after(5, [3, 4, 5]), "refresh") == []
    assert step_problems(before, after(4, [3, 4]), "refresh") == []
    assert step_problems(before, after(3, [3, 4]), "refresh")            # an old run made current
    assert step_problems(before, after(5, [4, 5]), "apply")              # a committed run lost
    assert step_problems(before, after(3, [3, 4]), "rollback") == []
    assert step_problems(before, after(4, [4]), "prune") == []
    assert step_problems(before, after(4, []), "prune")                  # the current run pruned
    assert step_problems(before, after(3, [3, 4]), "name")


# -- the kill loop on each engine -------------------------------------------------------------------

def _loop(url, tmp_path, env=None) -> KillLoop:
    return KillLoop(url, tmp_path / "work", SEED, env=env, log=print)


def test_kill_loop_duckdb(tmp_path):
    assert len(_loop(str(tmp_path / "kill.duckdb"), tmp_path).run(25)) == 25


def test_kill_loop_postgresql(tmp_path, postgres_url):
    assert len(_loop(postgres_url, tmp_path).run(12)) == 12


# -- `segdb init` killed on a fresh database ----------------------------------------------------------

def test_init_kills_duckdb(tmp_path):
    kills = _loop(str(tmp_path / "unused.duckdb"), tmp_path).init_kills(
        (str(tmp_path / f"init{i}.duckdb"), {}) for i in range(6))
    assert len(kills) == 5


def test_init_kills_postgresql(tmp_path, postgres_admin):
    from psycopg import sql
    server, admin = postgres_admin
    names = [f"segdb_test_{uuid.uuid4().hex[:12]}" for _ in range(4)]
    try:
        def databases():
            for name in names:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                yield with_postgres_database(server, name), {}
        kills = _loop(with_postgres_database(server, names[0]), tmp_path).init_kills(databases())
        assert len(kills) == 3
    finally:
        for name in names:
            _drop_postgres_database(admin, name)


def test_kill_soak_smoke(tmp_path):
    """benchmarks/kill_soak.py at the smallest size: it runs the loop, the init kills and reports."""
    import subprocess
    import sys
    from pathlib import Path
    soak = Path(__file__).resolve().parents[1] / "benchmarks" / "kill_soak.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(soak), "--engine", "duckdb", "--kills", "2", "--init-kills", "1",
                           "--seed", str(SEED), "--workdir", str(tmp_path / "soak")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"seed {SEED}" in proc.stdout.splitlines()[0]
    assert "ok: 2 kills and 1 init kills" in proc.stdout.splitlines()[-1]


# -- PostgreSQL: the server itself crashed (pg_ctl -m immediate) at random moments -----------------

class PrivatePostgres:
    """A PostgreSQL server of this test alone (never the shared one): initdb in a fresh folder,
    started and crashed with pg_ctl as the `postgres` user (initdb refuses root)."""

    def __init__(self):
        import pwd
        import socket
        import tempfile
        if os.geteuid() != 0 or not shutil.which("pg_ctl") or not shutil.which("initdb"):
            pytest.skip("a private PostgreSQL server needs root (to run pg_ctl as postgres) and pg_ctl")
        try:
            self.user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no `postgres` user to run a private PostgreSQL server")
        self.folder = tempfile.mkdtemp(prefix="segdb-pgcrash-")  # pytest's tmp_path is root-only
        os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._pg(f"initdb -D {self.folder}/data -A trust -U postgres")
        self.start()

    def _pg(self, command: str) -> None:
        import subprocess
        proc = subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{command}: {proc.stdout}{proc.stderr}"

    def start(self) -> None:
        self._pg(f"pg_ctl -D {self.folder}/data -l {self.folder}/log -w -t 120 -o "
                 f"'-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1' start")

    def crash(self) -> None:
        self._pg(f"pg_ctl -D {self.folder}/data -m immediate stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        import contextlib
        with contextlib.suppress(AssertionError):
            self._pg(f"pg_ctl -D {self.folder}/data -m fast stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def test_kill_loop_postgresql_server_crash(tmp_path):
    import psycopg
    server = PrivatePostgres()
    try:
        with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres",
                             autocommit=True) as admin:
            admin.execute("CREATE DATABASE killloop")
        kills = KillLoop(server.url("killloop"), tmp_path / "work", SEED, log=print, server=server).run(6)
        assert all(k.server_crash for k in kills)
    finally:
        server.close()
