"""Kill loop (issue 15): the real `segdb` CLI SIGKILLed at random moments, then every invariant checked.

One loop works on one database (DuckDB file, PostgreSQL database or Spark warehouse + database) and
one segmentation, ``shop``, over a source table ``customers``. Each iteration starts ONE child
process (this file, ``python tests/killloop.py child PLAN``) that

1. reopens the database and checks it (tests/killcheck.py) -- the state the previous kill left --
   and writes the report to the plan's result file;
2. adds a few customers (so that every refresh gives a different run: a view or function left on
   the wrong run shows);
3. writes the "go" marker and runs one `segdb` command (refresh, prune --keep 1, rollback, name,
   apply) through segdb.cli.main, with tests/paused_segdb.py's pause points armed;

and the parent SIGKILLs the child's whole process group (on Spark the driver JVM too) at a seeded
random delay after "go", within the command's duration measured in the setup, or, for some
refreshes, as it reaches a seeded named pause point. One process per kill, because a Spark process
pays ~10 s of JVM start and a local Derby metastore admits one process at a time: the child that
checks is the one that runs the next command (a new process: the database is reopened after every
kill). The parent never opens the database itself.

After each kill the parent also checks the step from the state before: the current run is the
previous one or the command's outcome (a new run, the rollback target), committed runs stay
committed (prune: only non-current ones may go), names are the old or the new one.

Every random choice comes from ``random.Random(seed)``; a failure names the seed, the iteration,
the command, the delay or pause point, and what the killed process printed.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "shop"
FEATURES = ("spend", "visits", "tenure")
ROWS = 1000
# Pause points (tests/paused_segdb.py) a refresh may be killed at: before and after its stages, and
# inside the write-back.
REFRESH_POINTS = ("check", "stats_done", "fetch_done", "fit_done", "quality_done", "write",
                  "write_labels", "labels_written", "views", "commit", "committed")
OPS = ("refresh", "prune", "rollback", "name", "apply")


def engine_of(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return "postgresql" if scheme.startswith("postgresql") else "spark" if scheme in ("spark", "sc") else "duckdb"


def write_source_csv(path: Path, seed: int) -> None:
    """``ROWS`` customers in three loose groups; deterministic for ``seed``."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("customer_id,spend,visits,tenure\n")
        for i in range(1, ROWS + 1):
            g = i % 3
            fh.write(f"{i},{rng.gauss(100 + 300 * g, 60):.4f},{rng.gauss(10 + 4 * g, 3):.4f},"
                     f"{rng.randint(0, 20)}.0\n")


def write_toml(path: Path, k: int) -> None:
    features = ", ".join(f'"{f}"' for f in FEATURES)
    path.write_text(f'[segmentation.{NAME}]\nsource = "customers"\nkey = "customer_id"\n'
                    f"features = [{features}]\nk = {k}\nn_init = 2\n", encoding="utf-8")


class KillLoopFailure(AssertionError):
    pass


@dataclasses.dataclass
class Kill:
    iteration: int
    op: str
    args: list
    delay: float | None = None     # seconds after "go"
    point: str | None = None       # or a pause point
    returncode: int | None = None  # -9: killed; 0/1: the command finished first
    output: str = ""
    server_crash: bool = False     # the database server was crashed (then the client killed)

    def describe(self) -> str:
        when = f"at pause point {self.point!r}" if self.point else f"{self.delay:.3f} s after go"
        what = "the server crashed under it" if self.server_crash else "killed"
        return (f"kill #{self.iteration}: `segdb {' '.join(map(str, self.args))}` {what} {when} "
                f"(exit {self.returncode}); its output ends: {self.output[-600:]!r}")


class KillLoop:
    """One database, one segmentation, ``kills`` kills; see the module docstring."""

    def __init__(self, url: str, workdir: Path, seed: int, *, env: dict | None = None, log=None,
                 server=None, ops: tuple = OPS):
        """``server``: an object with crash() and start() (a PostgreSQL server this test started):
        at each kill moment the server is crashed instead (then the client killed, the server
        restarted)."""
        self.url, self.workdir, self.seed = url, Path(workdir).resolve(), seed
        self.server = server
        self.ops = tuple(ops)  # the commands the loop may kill (a soak may aim at a few)
        self.engine = engine_of(url)
        self.rng = random.Random(seed)
        self.env = dict(env or {})
        self.log = log or (lambda text: None)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.csv = self.workdir / "customers.csv"
        write_source_csv(self.csv, seed)
        self.durations: dict[str, float] = {}
        self.report: dict | None = None   # the last check
        self.names: dict[int, set] = {}
        self.k = 3
        self.inserted = 0
        self.kills: list[Kill] = []
        self._n = 0

    # -- child processes ---------------------------------------------------------------------
    def _plan(self, *, check: bool, steps: list, target: list | None = None, names=None,
              defined: bool = True, post_check: bool = False, pause: str | None = None,
              db: str | None = None, env: dict | None = None) -> tuple:
        self._n += 1
        base = self.workdir / f"p{self._n:04d}"
        plan = {"db": db or self.url, "name": NAME, "check": check, "post_check": post_check,
                "names": {str(k): sorted(v, key=str) for k, v in (names or {}).items()},
                "defined": defined, "steps": steps, "target": target,
                "result": str(base) + ".result.json", "go": str(base) + ".go"}
        Path(str(base) + ".plan.json").write_text(json.dumps(plan), encoding="utf-8")
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **self.env, **(env or {})}
        if pause:
            env.update({"SEGDB_TEST_PAUSE_AT": pause, "SEGDB_TEST_PAUSE_MARKER": str(base) + ".paused",
                        "SEGDB_TEST_PAUSE_SECONDS": "120"})
        return str(base) + ".plan.json", plan, env, Path(str(base) + ".paused")

    def _start(self, plan_path: str, env: dict) -> subprocess.Popen:
        full = dict(os.environ)
        full["PYTHONPATH"] = str(HERE.parent) + os.pathsep + full.get("PYTHONPATH", "")
        full.update(env)
        log = open(plan_path.replace(".plan.json", ".log"), "w", encoding="utf-8")
        try:
            # its own process group: the kill takes the Spark driver JVM (a child) with it
            return subprocess.Popen([sys.executable, str(HERE / "killloop.py"), "child", plan_path], env=full,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=self.workdir)  # whatever a child leaves stays out of the checkout
        finally:
            log.close()

    def _output(self, plan_path: str) -> str:
        return Path(plan_path.replace(".plan.json", ".log")).read_text(encoding="utf-8", errors="replace")

    def _run(self, plan_path: str, env: dict, timeout: float = 1200) -> dict:
        """A child that is not killed: its result."""
        proc = self._start(plan_path, env)
        try:
            proc.wait(timeout=timeout)
        finally:
            _kill_group(proc)
        result = _read_json(json.loads(Path(plan_path).read_text())["result"])
        if proc.returncode != 0 or result is None:
            raise KillLoopFailure(f"seed {self.seed}: child {plan_path} exited {proc.returncode}: "
                                  f"{self._output(plan_path)[-2000:]}")
        return result

    # -- the loop ------------------------------------------------------------------------------
    def setup(self) -> None:
        """init, import, create, runs 1 to 3 (with a name, a prune and a rollback in between: run 2
        current, run 1 pruned), each command timed: its duration bounds the random kill delays."""
        toml = self.workdir / "shop3.toml"
        write_toml(toml, 3)
        steps = [{"label": "init", "args": ["init"]},
                 {"label": "import", "args": ["import", str(self.csv), "--table", "customers"]},
                 {"label": "apply", "args": ["apply", str(toml)]},
                 {"label": "refresh", "args": ["refresh", NAME]},
                 {"label": "refresh", "args": ["refresh", NAME], "insert": self._insert()},
                 {"label": "name", "args": ["name", NAME, "1", "first"]},
                 {"label": "prune", "args": ["prune", NAME, "--keep", "1"]},
                 {"label": "refresh", "args": ["refresh", NAME], "insert": self._insert()},
                 {"label": "rollback", "args": ["rollback", NAME]}]
        plan_path, _, env, _ = self._plan(check=False, steps=steps, post_check=True)
        result = self._run(plan_path, env)
        for label, seconds, code in result["timings"]:
            if code != 0:
                raise KillLoopFailure(f"seed {self.seed}: setup step {label} exited {code}: "
                                      f"{self._output(plan_path)[-2000:]}")
            self.durations[label] = max(self.durations.get(label, 0.0), seconds)
        self.report = result["post"]
        self._verify(self.report, None, None)
        self.names = {int(s): {n} for s, n in self.report["names"].items()}
        self.log(f"setup on {self.engine}: durations {self._rounded()}; runs {self.report['committed']}, "
                 f"current {self.report['current']}")

    def _rounded(self) -> dict:
        return {k: round(v, 2) for k, v in self.durations.items()}

    def _insert(self) -> int:
        self.inserted += 1
        return self.inserted

    def _choose(self) -> tuple[str, list, str | None]:
        report = self.report
        current, committed = report["current"], report["committed"]
        ops = ["refresh", "name", "apply"]
        if current is not None and any(c < current for c in committed):
            ops.append("rollback")
        if committed and set(committed) - {current, max(committed)}:  # something to prune
            ops.append("prune")
        ops = [op for op in ops if op in self.ops] or ["refresh"]  # refresh makes the others possible
        op = self.rng.choice(ops)
        point = None
        if op == "refresh":
            if self.rng.random() < 0.4:
                point = self.rng.choice(REFRESH_POINTS)
            return op, ["refresh", NAME], point
        if op == "prune":
            return op, ["prune", NAME, "--keep", "1"], None
        if op == "rollback":
            return op, ["rollback", NAME], None
        if op == "name":
            segment = self.rng.choice(sorted(report["segments"]) or [1])
            return op, ["name", NAME, str(segment), f"n{self._n + 1}"], None
        self.k = 7 - self.k  # 3 <-> 4: a new definition version every time
        toml = self.workdir / f"shop{self.k}.toml"
        write_toml(toml, self.k)
        return op, ["apply", str(toml)] + (["--refresh"] if self.rng.random() < 0.5 else []), None

    def kill_once(self) -> None:
        """One iteration: check what the previous kill left, then kill the next command."""
        op, args, point = self._choose()
        iteration = len(self.kills) + 1
        window = self.durations[op] + (self.durations["refresh"] if "--refresh" in args else 0.0)
        delay = None if point else self.rng.uniform(0.0, window)
        self._check_previous_and_kill(Kill(iteration, op, args, delay, point))

    def _check_previous_and_kill(self, kill: Kill) -> None:
        """The child checks the state the previous kill left (chosen commands may then find it
        otherwise than the choice assumed: e.g. nothing to roll back to; they fail in one line and
        change nothing, which the next check verifies as well)."""
        insert = self._insert() if kill.op in ("refresh", "apply") else None
        plan_path, plan, env, paused = self._plan(
            check=True, steps=[], target={"args": kill.args, "insert": insert},
            names=self.names, pause=kill.point)
        proc = self._start(plan_path, env)
        try:
            go = _wait_file(Path(plan["go"]), proc, timeout=900)
            if go:
                if kill.point:
                    _wait_file(paused, proc, timeout=900)
                else:
                    time.sleep(max(0.0, kill.delay - (time.monotonic() - go)))
            if self.server is not None:
                kill.server_crash = True
                self.server.crash()
        finally:
            _kill_group(proc)
            if self.server is not None:
                self.server.start()
        kill.returncode = proc.returncode
        kill.output = self._output(plan_path)
        result = _read_json(plan["result"]) or {}
        if "check" not in result:
            raise KillLoopFailure(f"seed {self.seed}: the check after "
                                  f"{self.kills[-1].describe() if self.kills else 'setup'} did not finish: "
                                  f"{kill.output[-3000:]}")
        self._after(result["check"])
        if "target" in result:  # the command finished before the kill
            self.durations.setdefault(kill.op, result["target"][1])
        self.kills.append(kill)
        if kill.op == "name":  # the old name or the new one
            segment = int(kill.args[2])
            self.names[segment] = self.names.get(segment, {None}) | {kill.args[3]}
        self.log(kill.describe()[:200])

    def _after(self, report: dict) -> None:
        """The check of the state the last kill left: invariants, and the step from the state before."""
        last = self.kills[-1] if self.kills else None
        self._verify(report, self.report, last)
        self.report = report
        self.names = {int(s): {n} for s, n in report["names"].items()}

    def _verify(self, report: dict, before: dict | None, kill: Kill | None) -> None:
        problems = list(report["problems"])
        if before is not None and kill is not None:
            problems += step_problems(before, report, kill.op)
        if problems:
            where = kill.describe() if kill else "setup (no kill)"
            raise KillLoopFailure(f"seed {self.seed}, engine {self.engine}: after {where}:\n  "
                                  + "\n  ".join(problems))

    def finish(self) -> dict:
        """Check the last kill's state, then `segdb show` and `segdb refresh` must work, and the
        result is checked again."""
        plan_path, plan, env, _ = self._plan(
            check=True, names=self.names, post_check=True,
            steps=[{"label": "show", "args": ["show", NAME]},
                   {"label": "refresh", "args": ["refresh", NAME], "insert": self._insert()}])
        result = self._run(plan_path, env)
        self._after(result["check"])
        failed = [(label, code) for label, _, code in result["timings"] if code != 0]
        if failed:
            raise KillLoopFailure(f"seed {self.seed}, engine {self.engine}: after the last kill "
                                  f"{failed} failed: {self._output(plan_path)[-2000:]}")
        before = self.report
        self._verify(result["post"], None, None)
        if result["post"]["current"] in before["committed"] or result["post"]["current"] is None:
            raise KillLoopFailure(f"seed {self.seed}: the final refresh did not make a new run current: "
                                  f"{result['post']}")
        return result["post"]

    def init_kills(self, databases) -> list[Kill]:
        """`segdb init` killed on fresh databases: ``databases`` yields (url, env) pairs, each a
        fresh, empty database (on Spark: a fresh warehouse in env). The first is initialised
        without a kill, to time it; on each other one `init` is killed at a random moment within
        that time, then `segdb init`, `import`, `apply` and `refresh` must work there and the
        segmentation must pass every check."""
        databases = iter(databases)
        url, env = next(databases)
        result = self._child_on(url, env, steps=[{"label": "init", "args": ["init"]}])
        window = result["timings"][0][1]
        kills = []
        for i, (url, env) in enumerate(databases, start=1):
            kill = Kill(i, "init", ["init"], self.rng.uniform(0.0, window))
            plan_path, plan, full_env, _ = self._plan(check=False, steps=[], target={"args": ["init"]},
                                                      db=url, env=env)
            proc = self._start(plan_path, full_env)
            try:
                go = _wait_file(Path(plan["go"]), proc, timeout=900)
                if go:
                    time.sleep(max(0.0, kill.delay - (time.monotonic() - go)))
            finally:
                _kill_group(proc)
            kill.returncode, kill.output = proc.returncode, self._output(plan_path)
            kills.append(kill)
            self.log(kill.describe()[:200])
            toml = self.workdir / "shop3.toml"
            write_toml(toml, 3)
            steps = [{"label": "init", "args": ["init"]},
                     {"label": "import", "args": ["import", str(self.csv), "--table", "customers"]},
                     {"label": "apply", "args": ["apply", str(toml)]},
                     {"label": "refresh", "args": ["refresh", NAME]}]
            try:
                result = self._child_on(url, env, steps=steps, post_check=True)
            except KillLoopFailure as exc:
                raise KillLoopFailure(f"after {kill.describe()}: {exc}") from None
            failed = [(label, code) for label, _, code in result["timings"] if code != 0]
            if failed or result["post"]["problems"] or result["post"]["current"] is None:
                raise KillLoopFailure(f"seed {self.seed}, engine {self.engine}: after {kill.describe()}: "
                                      f"steps {failed} failed; check {result['post']}")
        return kills

    def _child_on(self, url: str, env: dict, **plan) -> dict:
        plan_path, _, full_env, _ = self._plan(check=False, db=url, env=env, **plan)
        return self._run(plan_path, full_env)

    def run(self, kills: int) -> list[Kill]:
        self.setup()
        for _ in range(kills):
            self.kill_once()
        self.finish()
        return self.kills


def step_problems(before: dict, after: dict, op: str) -> list[str]:
    """What a killed ``op`` may have changed: the current run, the committed runs."""
    problems = []
    cur0, cur1 = before["current"], after["current"]
    com0, com1 = set(before["committed"]), set(after["committed"])
    if op in ("refresh", "apply"):
        newest = max(com0 | {cur0 or 0})
        if cur1 != cur0 and not (cur1 is not None and cur1 > newest):
            problems.append(f"{op}: current run {cur0} became {cur1}, neither it nor a new run")
    elif op == "rollback":
        target = max((c for c in com0 if c < cur0), default=None)
        if cur1 not in (cur0, target):
            problems.append(f"rollback: current run {cur0} became {cur1}, not it or the target {target}")
    elif cur1 != cur0:
        problems.append(f"{op}: current run {cur0} became {cur1}")
    if op == "prune":
        if not com1 <= com0 or cur0 not in com1:
            problems.append(f"prune: committed runs {sorted(com0)} became {sorted(com1)}")
    elif not com0 <= com1:
        problems.append(f"{op}: committed runs {sorted(com0 - com1)} are gone "
                        f"(before {sorted(com0)}, after {sorted(com1)})")
    return problems


# -- killing -------------------------------------------------------------------------------------

def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (the child and, on Spark, its JVM); wait until all are gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp; zombies hold no files
            return True
    return False


def _wait_file(path: Path, proc: subprocess.Popen, timeout: float) -> float | None:
    """The monotonic time ``path`` holds (written by the child), or None if the child exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            text = path.read_text(encoding="utf-8").strip()
            try:
                return float(text)
            except ValueError:
                return time.monotonic()
        if proc.poll() is not None:
            return None
        time.sleep(0.005)
    raise KillLoopFailure(f"{path} did not appear within {timeout} s")


def _read_json(path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_json(path, data) -> None:
    tmp = str(path) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, default=str)
    os.replace(tmp, path)


# -- the child -------------------------------------------------------------------------------------

def _cli(url: str, args: list) -> int:
    """One `segdb` command in this process (as tests/paused_segdb.py runs it): its exit code."""
    from paused_segdb import pause
    from segdb.cli import main
    from segdb.refresh.stages import listening
    with listening(pause):
        try:
            main(["--db", url, "-q", *args])
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
    return 0


def _insert(url: str, n: int) -> None:
    """Customers ``n * 100000 + 1..40``: copies of 40 with a shifted spend, so the next run differs."""
    import segdb
    with segdb.connect(url) as db:
        db.con.execute("INSERT INTO customers SELECT customer_id + ?, spend * 1.5 + 200, visits, tenure "
               "FROM customers WHERE customer_id <= 40", [n * 100000])


def _check(url: str, plan: dict) -> dict:
    import segdb
    from killcheck import Report, check
    names = {int(k): set(v) for k, v in plan["names"].items()}
    try:
        db = segdb.connect(url)
    except Exception as exc:  # the database does not open at all
        return Report(problems=[f"segdb.connect failed: {type(exc).__name__}: {str(exc).strip()[:300]}"]).as_dict()
    try:
        report = check(db, plan["name"], names=names, defined=plan["defined"])
        return report.as_dict()
    finally:
        db.close()


def child(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    url, out = plan["db"], {}
    importlib.import_module("segdb.cli")  # before "go": the kill window is the command's own work
    if engine_of(url) == "spark":
        # this process's one SparkSession, made as `segdb` makes it; segdb.connect reuses it
        from segdb.engines.spark import session_for
        session_for(url)
    if plan["check"]:
        out["check"] = _check(url, plan)
        _write_json(plan["result"], out)
    out["timings"] = []
    for step in plan["steps"]:
        if step.get("insert"):
            _insert(url, step["insert"])
        start = time.monotonic()
        code = _cli(url, step["args"])
        out["timings"].append([step["label"], time.monotonic() - start, code])
        _write_json(plan["result"], out)
    if plan["post_check"]:
        out["post"] = _check(url, plan)
        _write_json(plan["result"], out)
    target = plan.get("target")
    if target:
        if target.get("insert"):
            _insert(url, target["insert"])
        start = time.monotonic()
        Path(plan["go"]).write_text(repr(start), encoding="utf-8")
        code = _cli(url, target["args"])
        out["target"] = [target["args"][0], time.monotonic() - start, code]
        _write_json(plan["result"], out)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        sys.path.insert(0, str(HERE))
        sys.exit(child(sys.argv[2]))
    sys.exit("usage: python tests/killloop.py child PLAN.json")
