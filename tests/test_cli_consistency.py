"""Every command's error path: one `Error:` line, exit 1, no traceback, no database file created."""

from __future__ import annotations

import os

import numpy as np
import pytest

import segdb
import segdb.errors
from conftest import run_cli, table_checksums
from living_helpers import FEATURES, blobs, write_table


# command -> its arguments, NAME standing for the segmentation; none of them creates a database
COMMANDS = {
    "assign": ["assign", "NAME"],
    "drift": ["drift", "NAME"],
    "drift --no-record": ["drift", "NAME", "--no-record"],
    "ids": ["ids", "NAME"],
    "name": ["name", "NAME", "1", "Budget"],
    "plot": ["plot", "NAME", "--out", "OUT/plots"],
    "profile": ["profile", "NAME"],
    "prune": ["prune", "NAME", "--keep", "1"],
    "refresh": ["refresh", "NAME"],
    "report": ["report", "NAME", "--out", "OUT/r.html"],
    "rollback": ["rollback", "NAME"],
    "show": ["show", "NAME"],
    "show-sql": ["show-sql", "NAME"],
    "transitions": ["transitions", "NAME"],
}
NOT_REFRESHED = {
    "assign": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "drift": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "drift --no-record": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "name": "segmentation 'fresh' has no run yet, so no segment to name; run `segdb refresh fresh` first",
    "plot": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "profile": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "report": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "rollback": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "show": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
    "transitions": "segmentation 'fresh' has no run yet; run `segdb refresh fresh`",
}


def _args(command: str, name: str, out) -> list[str]:
    return [a.replace("OUT", str(out)) if a.startswith("OUT") else (name if a == "NAME" else a)
            for a in COMMANDS[command]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Segmentation s (refreshed once) and fresh (never refreshed) on a 50-row table t."""
    path = str(tmp_path_factory.mktemp("consistency") / "shop.duckdb")
    with segdb.connect(path) as db:
        X, _ = blobs(np.random.default_rng(1), [30, 20])
        write_table(db.con, "t", np.arange(1, 51), X)
        db.create("s", source="t", key="customer_id", features=FEATURES, k=2)
        db.create("fresh", source="t", key="customer_id", features=FEATURES, k=2)
        db.refresh("s")
    return path


def _error(args, path) -> str:
    r = run_cli(args, path)
    assert r.exit_code == 1, r.output
    return r.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_missing_database_is_named_and_not_created(command, tmp_path):
    path = str(tmp_path / "typo.duckdb")
    assert _error(_args(command, "s", tmp_path), path) == (
        f"Error: database {path} does not exist; check --db or $SEGDB_DATABASE, "
        "or create it by loading data: `segdb import FILE --table NAME`\n")
    assert not os.path.exists(path)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unknown_segmentation(command, shop, tmp_path):
    assert _error(_args(command, "nosuch", tmp_path), shop) == (
        "Error: no segmentation named 'nosuch'; known: fresh, s\n")


@pytest.mark.parametrize("command", sorted(NOT_REFRESHED))
def test_segmentation_without_a_run(command, shop, tmp_path):
    assert _error(_args(command, "fresh", tmp_path), shop) == f"Error: {NOT_REFRESHED[command]}\n"


def test_commands_that_need_no_run(shop, tmp_path):
    assert run_cli(["prune", "fresh", "--keep", "1"], shop).output == "fresh: nothing to prune; it has no run yet\n"
    assert run_cli(["ids", "fresh"], shop).exit_code == 0
    assert run_cli(["show-sql", "fresh"], shop).output.startswith("-- statistics (one scan of the source)\n")


@pytest.mark.parametrize("args, message", [
    (["prune", "s", "--keep", "0"], "--keep=0 should be >= 1"),
    (["prune", "s", "--keep", "x"], "--keep must be a whole number, not 'x'"),
    (["drift", "s", "--limit", "foo"], "--limit 'foo' is not KEY=VALUE, e.g. --limit changed_share=0.1"),
    (["drift", "s", "--limit", "nosuch=1"], "unknown drift limit 'nosuch'; use one of max_mean_shift, "
     "max_sd_change, changed_share, inertia_ratio, new_share, gone_share"),
    (["drift", "s", "--limit", "changed_share=abc"], "drift limit changed_share must be a number, not 'abc'"),
    (["drift", "s", "--limit", "changed_share=-1"], "drift limit changed_share=-1.0 should be >= 0"),
    (["rollback", "s", "99"], "segmentation 's' has no run 99; see `segdb runs s`"),
    (["rollback", "s"], "segmentation 's' has no earlier run than run 1 to roll back to; see `segdb runs s`"),
    (["rollback", "s", "1"], "run 1 is already the current run of 's'; name another run to roll back to"),
    (["name", "s", "9", "x"], "segmentation 's' has no segment 9; its current segments are 1, 2 "
     "(see `segdb show s`)"),
    (["name", "s", "1"], 'give either a name or --clear, e.g. `segdb name s 1 "Budget seekers"`'),
    (["name", "s", "1", "x", "--clear"], 'give either a name or --clear, e.g. `segdb name s 1 "Budget seekers"`'),
    (["name", "s", "1", ""], "the name of segment 1 of 's' is empty; give a name, or use --clear to remove it"),
    (["transitions", "s", "--run", "99"], "segmentation 's' has no run 99; see `segdb runs s`"),
    (["profile", "s", "--run", "99"], "segmentation 's' has no run 99; see `segdb runs s`"),
    (["profile", "s", "--top", "0"], "--top=0 should be >= 1"),
    (["plot", "s", "--run", "99", "--out", "OUT"], "segmentation 's' has no run 99; see `segdb runs s`"),
    (["report", "s", "--run", "99", "--out", "OUT/r.html"], "segmentation 's' has no run 99; see `segdb runs s`"),
    (["report", "s", "--out", "OUT/no/r.html"], "cannot write OUT/no/r.html: folder OUT/no does not exist"),
    (["report", "s", "--out", "OUT"], "--out OUT is a folder; give a file name such as OUT/report.html"),
    (["apply", "OUT/none.toml"], "file OUT/none.toml not found"),
])
def test_bad_option_values(args, message, shop, tmp_path):
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    assert _error(args, shop) == f"Error: {message.replace('OUT', str(tmp_path))}\n"


def test_plot_out_is_a_file(shop, tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"")
    assert _error(["plot", "s", "--out", str(f)], shop) == (
        f"Error: --out {f} is a file, not a folder; give a folder for the PNGs\n")


def test_apply_of_a_binary_file(shop, tmp_path):
    f = tmp_path / "not.toml"
    f.write_bytes(b"\x83DUCK\x00")
    assert _error(["apply", str(f)], shop) == (
        f"Error: {f} is not a UTF-8 text file (byte 0 is 0x83); give a TOML declaration file\n")


@pytest.mark.parametrize("args", [["assign", "s"], ["drift", "s"], ["show-sql", "s"], ["plot", "s", "--out", "OUT"],
                                  ["report", "s", "--out", "OUT/r.html"], ["refresh", "s"]])
def test_dropped_source_is_named_with_its_segmentation(args, db, db_path, tmp_path):
    X, _ = blobs(np.random.default_rng(1), [30, 20])
    write_table(db.con, "t", np.arange(1, 51), X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=2)
    db.refresh("s")
    db.sql("DROP TABLE t")
    db.close()
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    assert _error(args, db_path) == ("Error: the source table 't' of 's' no longer exists; restore it, or "
                                     "redefine the segmentation with `segdb create --replace`\n")


def test_help_lists_every_command_with_a_whole_sentence():
    text = run_cli(["--help"]).output
    commands = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()  # the epilog follows
    assert len(commands) >= 22
    for line in commands:
        assert not line.endswith("..."), f"summary cut off: {line.strip()}"
        assert line.rstrip().endswith("."), line


def test_show_prints_a_multi_line_source_select_on_one_line(db, db_path):
    X, _ = blobs(np.random.default_rng(1), [30, 20])
    write_table(db.con, "t", np.arange(1, 51), X)
    db.create("s", source="SELECT *\nFROM t\nWHERE customer_id > 0", key="customer_id", features=FEATURES, k=2)
    db.refresh("s")
    db.close()
    lines = run_cli(["show", "s"], db_path).output.splitlines()
    assert lines[1] == ("source SELECT * FROM t WHERE customer_id > 0, key customer_id, k=2, scale zscore, "
                        "nulls skip, seed 0, n_init 10")


@pytest.mark.parametrize("call, what", [
    (lambda db: db.name_segment("s", 1, "x"), "name segment 1 of 's'"),
    (lambda db: db.assign("s"), "assign new customers of 's'"),
    (lambda db: db.drift("s"), "record a drift check of 's' (record=False reads only)"),
    (lambda db: db.rollback("s"), "roll back 's'"),
    (lambda db: db.prune("s", 1), "prune 's'"),
    (lambda db: db.apply("segdb.toml"), "apply segdb.toml"),
])
def test_read_only_api_refuses_writes_before_any_work(call, what, shop):
    before = table_checksums(shop)
    with segdb.connect(shop, read_only=True) as db:
        with pytest.raises(segdb.errors.DatabaseError) as info:
            call(db)
        assert db.drift("s", record=False).check_id is None  # reading still works
    assert str(info.value) == (f"cannot {what}: database {shop} is open read-only; "
                               "open it with segdb.connect(path) to write")
    assert table_checksums(shop) == before


def test_apply_of_a_missing_file_creates_no_database(tmp_path):
    path = tmp_path / "new.duckdb"
    assert _error(["apply", str(tmp_path / "none.toml")], str(path)) == f"Error: file {tmp_path / 'none.toml'} not found\n"
    assert not path.exists()


# -- library errors speak API terms; the command line says them as options (issue 14) ----------

@pytest.mark.parametrize("api_text, cli_text", [
    ("segmentation 's' already exists; use replace=True to store a new version of its definition",
     "segmentation 's' already exists; use --replace to store a new version of its definition"),
    ("table 't' already exists; pass replace=True to overwrite it",
     "table 't' already exists; pass --replace to overwrite it"),
    ("feature 'x' is NULL on 2 of 20 rows of t and nulls=error; fill them, or use nulls='skip' or nulls='mean'",
     "feature 'x' is NULL on 2 of 20 rows of t and nulls=error; fill them, or use --nulls skip or --nulls mean"),
    ("drop the feature, or use scale='minmax'", "drop the feature, or use --scale minmax"),
    ("a k range applies only with k='auto', not k=3; use k='auto' with k_range=(LO, HI), or drop the range",
     "a k range applies only with k='auto', not k=3; use --k auto --k-range LO..HI, or drop the range"),
    ("a segmentation needs at least one feature; add a column to features",
     "a segmentation needs at least one feature; add --feature COLUMN"),
    ("declare it a category (kind='category'), or drop it", "declare it a category (--category), or drop it"),
    ("the name of segment 1 of 's' is empty; give a name, or use label=None to remove it",
     "the name of segment 1 of 's' is empty; give a name, or use --clear to remove it"),
    ("t has rows_used=299 > max_fit_rows=100; raise max_fit_rows or drop the weight",
     "t has rows_used=299 > max_fit_rows=100; raise --max-fit-rows or drop the weight"),
    ("database x is locked; close that session or wait for it to finish, or raise lock_timeout",
     "database x is locked; close that session or wait for it to finish, or raise --lock-timeout"),
    ("keep=0 should be >= 1", "--keep=0 should be >= 1"),
    ("keep must be a whole number, not 'x'", "--keep must be a whole number, not 'x'"),
    ("out=r is a folder; give a file name such as r/report.html",
     "--out r is a folder; give a file name such as r/report.html"),
    ("out_dir=p is a file, not a folder; give a folder for the PNGs",
     "--out p is a file, not a folder; give a folder for the PNGs"),
    ("feature column 'a,b c' not found in table t; give each column as its own feature: 'a', \"b'c\", 'd e'",
     "feature column 'a,b c' not found in table t; repeat --feature for each column: "
     "--feature a --feature 'b'\"'\"'c' --feature 'd e'"),
    ("feature column 'a,b' not found in table t; give each column as its own category feature: 'a', 'b'",
     "feature column 'a,b' not found in table t; repeat --category for each column: --category a --category b"),
    # a setting reported as it is, and a segdb command to run, stay as they are
    ("no row of t has every feature (nulls=skip leaves nothing); use nulls='mean' or fix the data",
     "no row of t has every feature (nulls=skip leaves nothing); use --nulls mean or fix the data"),
    ("column 'spend' no longer exists; redefine it with `segdb create --replace`",
     "column 'spend' no longer exists; redefine it with `segdb create --replace`"),
])
def test_cli_says_api_terms_as_options(api_text, cli_text):
    from segdb.cli.group import cli_terms
    assert cli_terms(api_text) == cli_text


def test_api_errors_name_parameters_and_the_cli_names_options(shop, tmp_path):
    with segdb.connect(shop) as db, pytest.raises(segdb.DefinitionError) as err:
        db.create("s", source="t", key="customer_id", features=FEATURES, k=2)
    assert err.value.message == ("segmentation 's' already exists; use replace=True to store a new "
                                 "version of its definition")
    args = ["create", "s", "--source", "t", "--key", "customer_id", "--k", "2"]
    assert _error(args + [a for f in FEATURES for a in ("--feature", f)], shop) == (
        "Error: segmentation 's' already exists; use --replace to store a new version of its definition\n")


OPTIONS_LEFT: set = set()  # (file, option) pairs allowed to name an option: none


def test_library_messages_name_no_command_line_option():
    """Outside segdb/cli, no string (docstrings aside) names an option like --replace; a segdb
    command in backticks (`segdb create --replace`) is what to run, and may."""
    import ast
    import re
    from pathlib import Path

    root = Path(segdb.__file__).parent
    found = set()
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        docstrings |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                       for part in node.values}  # read with their f-string
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            else:
                continue
            text = re.sub(r"`segdb [^`]*`", "", text)
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", text):
                found.add((path.relative_to(root.parent).as_posix(), option, node.lineno))
    assert {(p, o) for p, o, _ in found} <= OPTIONS_LEFT, sorted(found)
