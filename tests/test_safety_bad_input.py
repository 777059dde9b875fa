"""The bad-input catalogue: every case exits 1 with one exact `Error:` line and changes nothing.

Each case runs the CLI (click's CliRunner) on a copy of one template database that holds user
tables and a segmentation with a current run; before and after, every table of every schema (the
user's and segdb's) and every view definition is checksummed and must be identical.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

import segdb
from conftest import run_cli, run_segdb_process, table_checksums, view_checksum

INJECTION = 'x"; DROP TABLE customers; --'


def build_template(path: str) -> None:
    con = duckdb.connect(path)
    con.execute("CREATE TABLE customers AS SELECT i AS customer_id, (i % 7)::DOUBLE AS spend, "
                "(i % 5)::DOUBLE AS visits, 'n' || i AS name FROM range(1, 201) t(i)")
    # One column per kind of bad data, 20 rows.
    con.execute("""
        CREATE TABLE odd AS SELECT
            i AS id,
            CASE WHEN i = 1 THEN NULL ELSE i END AS nullkey,
            i % 3 AS dupkey,
            NULL::DOUBLE AS allnull,
            5.0::DOUBLE AS const,
            CASE WHEN i IN (3, 4) THEN NULL ELSE i END::DOUBLE AS somenull,
            CASE WHEN i = 3 THEN 'nan'::DOUBLE ELSE i END AS hasnan,
            CASE WHEN i = 3 THEN 'inf'::DOUBLE ELSE i END AS hasinf,
            CASE WHEN i = 3 THEN '-inf'::DOUBLE ELSE i END AS hasninf,
            CASE WHEN i % 2 = 0 THEN 1.7e308 ELSE -1.7e308 END AS huge,
            1.5e308 + i * 1e300 AS near_max,
            (i % 2)::DOUBLE AS two,
            (i % 3)::DOUBLE AS three,
            i::DOUBLE AS x
        FROM range(1, 21) t(i)""")
    con.execute("CREATE TABLE empty AS SELECT * FROM customers LIMIT 0")
    for t in ("dropped", "retyped", "rekeyed", "gone"):
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM customers")
    con.execute("CREATE TABLE taken_segments AS SELECT 1 AS a")
    con.close()
    with segdb.connect(path) as db:
        db.create("shop", source="customers", key="customer_id", features=["spend", "visits"], k=3)
        db.refresh("shop")
        odd = dict(source="odd", key="id")
        for name, key, feats, extra in [
            ("nk", "nullkey", ["x"], {}), ("dk", "dupkey", ["x"], {}),
            ("allnull", "id", ["allnull", "x"], {}), ("const", "id", ["const", "x"], {}),
            ("nullerr", "id", ["somenull", "x"], {"nulls": "error"}),
            ("nan", "id", ["hasnan", "x"], {}), ("posinf", "id", ["hasinf", "x"], {}),
            ("neginf", "id", ["hasninf", "x"], {}), ("huge", "id", ["huge", "x"], {}),
            ("nearmax", "id", ["near_max", "x"], {}),
            ("distinct", "id", ["two", "three"], {"k": 7}),
        ]:
            db.create(name, **{**odd, "key": key}, features=feats, **{"k": 3, **extra})
        # 25 rows when defined (k=25 is accepted), 20 when refreshed
        db.sql("CREATE TABLE shrunk AS SELECT * FROM customers WHERE customer_id <= 25")
        db.create("toofew", source="shrunk", key="customer_id", features=["spend", "visits"], k=25)
        db.sql("DELETE FROM shrunk WHERE customer_id > 20")
        db.create("nothing", source="empty", key="customer_id", features=["spend"], k=2)
        db.create("nothingsel", source="SELECT * FROM customers WHERE spend > 100",
                  key="customer_id", features=["spend"], k=2)
        db.create("nullkeysel", source="SELECT NULLIF(customer_id, 7) AS cid, spend FROM customers",
                  key="cid", features=["spend"], k=2)
        for t in ("dropped", "retyped", "rekeyed", "gone"):
            db.create(t, source=t, key="customer_id", features=["spend", "visits"], k=2)
        db.sql("ALTER TABLE dropped DROP COLUMN visits")
        db.sql("ALTER TABLE retyped ALTER visits TYPE VARCHAR")
        db.sql("ALTER TABLE rekeyed ALTER customer_id TYPE VARCHAR")
        db.sql("DROP TABLE gone")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue")
    path = str(folder / "template.duckdb")
    build_template(path)
    (folder / "unbalanced.csv").write_text('a,b\n1,2\n"3,4\n5,6,7,8\n')
    (folder / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n6,7\n")
    (folder / "fine.csv").write_text("a,b\n1,2\n")
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    return path


@pytest.fixture
def bad_db(template, tmp_path):
    path = str(tmp_path / "bad.duckdb")
    shutil.copyfile(template, path)
    return path


def invoke(db_path, args):
    return run_cli(args, db_path)


CREATE = ["create", "new", "--source", "customers", "--key", "customer_id"]
FEATS = ["--feature", "spend", "--feature", "visits"]
COLUMNS = "columns are 'customer_id', 'spend', 'visits', 'name'"
NAME_RULE = "use a letter followed by up to 47 letters, digits or underscores (e.g. insurance_2026)"

CASES = {
    # -- import ----------------------------------------------------------------------------
    "csv unbalanced quote": (
        ["import", "{dir}/unbalanced.csv", "--table", "t"],
        "cannot read unbalanced.csv as CSV: it is not valid comma-separated CSV with double quotes "
        "(an unbalanced quote, or rows of different lengths); fix the file (nothing was imported)"),
    "csv ragged row": (
        ["import", "{dir}/ragged.csv", "--table", "t"],
        "cannot read ragged.csv as CSV: it is not valid comma-separated CSV with double quotes: "
        "line 3: Expected Number of Columns: 2 Found: 3; fix the file (nothing was imported)"),
    "import over existing table": (
        ["import", "{dir}/fine.csv", "--table", "customers"],
        "table 'customers' already exists; pass --replace to overwrite it"),
    "import into segdb name": (
        ["import", "{dir}/fine.csv", "--table", "segdb_x"],
        "invalid table name 'segdb_x': choose a name not starting with 'segdb'"),
    "import missing file": (
        ["import", "{dir}/nope.csv", "--table", "t"], "file {dir}/nope.csv not found"),
    "import unknown format": (
        ["import", "{dir}/sheet.xlsx", "--table", "t"],
        "cannot tell the format of sheet.xlsx: use a .csv, .tsv, .parquet, .json or .jsonl file"),
    # -- create: names, columns, types -----------------------------------------------------
    "existing segmentation": (
        ["create", "shop", "--source", "customers", "--key", "customer_id", *FEATS],
        "segmentation 'shop' already exists; use --replace to store a new version of its definition"),
    "non-numeric feature": (
        [*CREATE, "--feature", "name"],
        "feature 'name' in table customers has type VARCHAR, not a number; cast it "
        "(e.g. CAST(\"name\" AS DOUBLE)), declare it a category (--category), or drop it"),
    "unknown feature": (
        [*CREATE, "--feature", "spnd"],
        "feature column 'spnd' not found in table customers; did you mean 'spend'?"),
    "feature differing in case": (
        [*CREATE, "--feature", "Spend"],
        "feature column 'Spend' not found in table customers; did you mean 'spend'? "
        "(names are matched exactly)"),
    "unknown key": (
        ["create", "new", "--source", "customers", "--key", "id", *FEATS],
        f"key column 'id' not found in table customers; {COLUMNS}"),
    "unknown table": (
        ["create", "new", "--source", "customer", "--key", "customer_id", *FEATS],
        "table 'customer' not found; did you mean 'customers'?"),
    "injection as a feature name": (
        [*CREATE, "--feature", INJECTION],
        f"feature column {INJECTION!r} not found in table customers; {COLUMNS}"),
    "feature listed twice": (
        [*CREATE, "--feature", "spend", "--feature", "spend"],
        "feature 'spend' is listed twice; list each feature once"),
    "key as a feature": (
        [*CREATE, "--feature", "customer_id"],
        "column 'customer_id' is the key; it cannot also be a feature"),
    "name starting with a digit": (
        ["create", "2026_shop", "--source", "customers", "--key", "customer_id", *FEATS],
        f"invalid segmentation name '2026_shop': {NAME_RULE}"),
    "name with a dash": (
        ["create", "my-shop", "--source", "customers", "--key", "customer_id", *FEATS],
        f"invalid segmentation name 'my-shop': {NAME_RULE}"),
    "name with a quote and a space": (
        ["create", 'a "b', "--source", "customers", "--key", "customer_id", *FEATS],
        f"invalid segmentation name 'a \"b': {NAME_RULE}"),
    "name with unicode": (
        ["create", "café", "--source", "customers", "--key", "customer_id", *FEATS],
        f"invalid segmentation name 'café': {NAME_RULE}"),
    "views would replace a table": (
        ["create", "taken", "--source", "customers", "--key", "customer_id", *FEATS],
        "a table named 'taken_segments' already exists and segdb would replace it with a view; "
        "choose another segmentation name"),
    "k below 2": ([*CREATE, *FEATS, "--k", "1"], "k=1 should be >= 2"),
    "seed above scikit-learn's range": (
        [*CREATE, *FEATS, "--seed", "4294967296"],
        "seed=4294967296 should be <= 4294967295, the largest seed scikit-learn's KMeans takes"),
    "k not a number": ([*CREATE, *FEATS, "--k", "three"], "k must be a whole number, not 'three'"),
    # -- create: the source statement ------------------------------------------------------
    "select with a syntax error": (
        ["create", "new", "--source", "SELECT * FRM customers", "--key", "customer_id", *FEATS],
        "the source SELECT is not valid SQL: Parser Error: syntax error at or near \"customers\"; "
        "fix the query or pass a table name"),
    "select naming a missing column": (
        ["create", "new", "--source", "SELECT nope FROM customers", "--key", "customer_id", *FEATS],
        "cannot read the source SELECT: Binder Error: Referenced column \"nope\" not found in FROM "
        "clause!; fix the query or the tables it reads"),
    "delete as a source": (
        ["create", "new", "--source", "DELETE FROM customers", "--key", "customer_id", *FEATS],
        "the source must be a SELECT or a table name; DELETE statements are never run"),
    "drop as a source": (
        ["create", "new", "--source", "DROP TABLE customers", "--key", "customer_id", *FEATS],
        "the source must be a SELECT or a table name; DROP statements are never run"),
    "delete in a WITH": (
        ["create", "new", "--source", "WITH x AS (SELECT 1) DELETE FROM customers",
         "--key", "customer_id", *FEATS],
        "the source must be a SELECT, not a DELETE statement; segdb never runs anything but a "
        "query on the source"),
    "select followed by delete": (
        ["create", "new", "--source", "SELECT * FROM customers; DELETE FROM customers",
         "--key", "customer_id", *FEATS],
        "the source must be one SELECT statement, not 2 statements; remove the extra statements"),
    "table name followed by drop": (
        ["create", "new", "--source", "customers; DROP TABLE customers", "--key", "customer_id", *FEATS],
        "the source must be a SELECT or a table name; DROP statements are never run"),
    # -- refresh: the data -----------------------------------------------------------------
    "null keys": (["refresh", "nk"],
                  "key 'nullkey' is NULL on 1 of 20 rows of the source of nk (table odd); fill or filter them "
                  "(WHERE \"nullkey\" IS NOT NULL)"),
    "null keys from a select": (["refresh", "nullkeysel"],
                                "key 'cid' is NULL on 1 of 200 rows of the source of nullkeysel "
                                "(the source SELECT); fill or filter them (WHERE \"cid\" IS NOT NULL)"),
    "duplicate keys": (["refresh", "dk"],
                       "key 'dupkey' is not unique in the source of dk (table odd): 17 duplicate rows; "
                       "deduplicate the source or choose another key"),
    "all-null feature": (["refresh", "allnull"],
                         "feature 'allnull' is NULL on every row of the source of allnull (table odd); drop it "
                         "from the definition or fill it"),
    "nulls=error": (["refresh", "nullerr"],
                    "feature 'somenull' is NULL on 2 of 20 rows of the source of nullerr (table odd) and "
                    "nulls=error; fill them, or use --nulls skip or --nulls mean"),
    "zero variance": (["refresh", "const"],
                      "feature 'const' has the same value on every row used (zero variance), so it "
                      "cannot separate segments; drop it from the definition"),
    "nan": (["refresh", "nan"],
            "feature 'hasnan' has 1 NaN or infinite values in the source of nan (table odd); replace them with "
            "NULL or finite numbers"),
    "+inf": (["refresh", "posinf"],
             "feature 'hasinf' has 1 NaN or infinite values in the source of posinf (table odd); replace them "
             "with NULL or finite numbers"),
    "-inf": (["refresh", "neginf"],
             "feature 'hasninf' has 1 NaN or infinite values in the source of neginf (table odd); replace them "
             "with NULL or finite numbers"),
    "values near ±1.7e308": (["refresh", "huge"],
                             "feature 'huge' has values too large to standardise (its spread "
                             "overflows a double); rescale it in a source SELECT, e.g. divide by 1e6"),
    "values near 1.5e308": (["refresh", "nearmax"],
                            "feature 'near_max' has values too large to standardise (its spread "
                            "overflows a double); rescale it in a source SELECT, e.g. divide by 1e6"),
    "k above distinct rows": (["refresh", "distinct"],
                              "k=7 is more than the 6 distinct rows of the source of distinct (table odd); lower "
                              "k to at most 6 by redefining the segmentation, or add rows that differ"),
    "k above rows (rows deleted since create)": (
        ["refresh", "toofew"],
        "k=25 is more than the 20 usable rows of the source of toofew (table shrunk); lower k to at most "
        "20 by redefining the segmentation, or add rows"),
    "k above rows at create": (
        ["create", "new", "--source", "odd", "--key", "id", "--feature", "x", "--k", "21"],
        "k=21 is more than the 20 rows of table odd; lower k to at most 20"),
    "k range above rows at create": (
        ["create", "new", "--source", "SELECT * FROM odd WHERE id <= 12", "--key", "id", "--feature", "x",
         "--k", "auto", "--k-range", "2..15"],
        "k range 2..15 goes above the 12 rows of the source SELECT; scan at most up to k=12"),
    "empty table": (["refresh", "nothing"],
                    "the source of nothing (table empty) has no rows; load data before refreshing"),
    "empty select": (["refresh", "nothingsel"],
                     "the source of nothingsel (the source SELECT) has no rows; load data before refreshing"),
    # -- refresh: the source changed since create ------------------------------------------
    "source column dropped": (["refresh", "dropped"],
                              "the source changed since 'dropped' was defined: feature column "
                              "'visits' not found in table dropped; columns are 'customer_id', "
                              "'spend', 'name'; redefine it with `segdb create --replace`"),
    "source feature type changed": (["refresh", "retyped"],
                                    "the source changed since 'retyped' was defined: feature "
                                    "'visits' is now VARCHAR, not a number; cast it in the source "
                                    "or redefine the segmentation"),
    "source key type changed": (["refresh", "rekeyed"],
                                "the source changed since 'rekeyed' was defined: key 'customer_id' "
                                "was BIGINT and is now VARCHAR; redefine it under a new name"),
    "source table dropped": (["refresh", "gone"],
                             "the source table 'gone' of 'gone' no longer exists; restore it, or "
                             "redefine the segmentation with `segdb create --replace`"),
    # -- commands and names ----------------------------------------------------------------
    "refresh without a name": (["refresh"], "name a segmentation to refresh, or pass --all"),
    "refresh unknown name": (["refresh", "shopp"],
                             "no segmentation named 'shopp'; known: allnull, const, distinct, dk, "
                             "dropped, gone, huge, nan, nearmax, neginf, nk, nothing, nothingsel, "
                             "nullerr, nullkeysel, posinf, rekeyed, retyped, shop, toofew"),
    "show before any run": (["show", "nk"], "segmentation 'nk' has no run yet; run `segdb refresh nk`"),
    "show a run of another segmentation": (["show", "nk", "--run", "1"],
                                           "segmentation 'nk' has no run 1; see `segdb runs nk`"),
    "sql syntax error": (["sql", "SELEC 1"],
                         "the query failed: Parser Error: syntax error at or near \"SELEC\""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_changes_nothing(template, bad_db, case):
    args, message = CASES[case]
    folder = str(Path(template).parent)
    args = [a.replace("{dir}", folder) for a in args]
    before = table_checksums(bad_db)
    result = invoke(bad_db, args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: " + message.replace("{dir}", folder) + "\n"
    assert table_checksums(bad_db) == before


def test_catalogue_is_large_enough():
    assert len(CASES) >= 35


NAMES = ['annual spend ($)', 'x"; DROP TABLE customers; --', "naïve café ☕", "select", 'say "hi"',
         "a.b, c"]


def test_awkward_names_work_end_to_end(bad_db):
    """Quotes, spaces, $, unicode, reserved words, dots and commas in table, key and feature names."""
    con = duckdb.connect(bad_db)
    cols = ", ".join(f"(hash(i * {n + 2}) % 97)::DOUBLE AS {ident(c)}" for n, c in enumerate(NAMES))
    con.execute(f'CREATE TABLE "odd ""table"" $1" AS SELECT i AS "order", {cols} FROM range(1, 301) t(i)')
    con.close()
    features = [a for c in NAMES for a in ("--feature", c)]
    result = invoke(bad_db, ["create", "awkward", "--source", '"odd ""table"" $1"', "--key", "order",
                             *features, "--k", "3"])
    assert result.exit_code == 0, result.output
    result = invoke(bad_db, ["refresh", "awkward"])
    assert result.exit_code == 0, result.output
    assert invoke(bad_db, ["show", "awkward"]).exit_code == 0
    con = duckdb.connect(bad_db, read_only=True)
    try:
        # The views carry the names unchanged and join back to the source by the key.
        assert [r[0] for r in con.execute("DESCRIBE awkward_centroids").fetchall()] == [
            "segment_id", "size", "share", *NAMES, "segment_name"]
        joined = con.execute('SELECT count(*), count(DISTINCT s.segment_id) FROM "odd ""table"" $1" '
                             'JOIN awkward_segments AS s USING ("order")').fetchall()
        assert joined == [(300, 3)]
        assert con.execute("SELECT count(*) FROM customers").fetchall() == [(200,)]
    finally:
        con.close()


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.mark.parametrize("command", [["show", "shop"], ["runs", "shop"], ["list"], ["show-sql", "shop"]])
def test_read_commands_do_not_create_a_missing_database(tmp_path, command):
    missing = tmp_path / "missing.duckdb"
    result = invoke(str(missing), command)
    assert result.exit_code == 1
    expected = (f"database {missing} does not exist; check --db or $SEGDB_DATABASE, "
                "or create it by loading data: `segdb import FILE --table NAME`")
    assert result.stderr == f"Error: {expected}\n"
    assert list(tmp_path.iterdir()) == []


def test_create_into_a_missing_folder(tmp_path):
    path = tmp_path / "no" / "such.duckdb"
    result = invoke(str(path), ["create", "shop", "--source", "t", "--key", "id", "--feature", "x"])
    assert (result.exit_code, result.stderr) == (
        1, f"Error: cannot create database {path}: folder {path.parent} does not exist\n")
    assert list(tmp_path.iterdir()) == []


def test_read_only_mode_refuses_writes_before_any_work(bad_db):
    """DuckDB's own read-only mode (works for root too): the API refuses at once."""
    before = table_checksums(bad_db)
    with segdb.connect(bad_db, read_only=True) as db:
        with pytest.raises(segdb.SegdbError) as err:
            db.refresh("shop")
        assert err.value.message == (f"cannot refresh 'shop': database {bad_db} is open read-only; "
                                     "open it with segdb.connect(path) to write")
        with pytest.raises(segdb.SegdbError) as err:
            db.create("new", source="customers", key="customer_id", features=["spend"])
        assert err.value.message == (f"cannot define 'new': database {bad_db} is open read-only; "
                                     "open it with segdb.connect(path) to write")
        assert db.show("shop").run["run_id"] == 1  # reading works
    assert table_checksums(bad_db) == before


@pytest.fixture
def immutable_db(bad_db):
    """A database file nobody can write, root included: the immutable attribute (chattr +i),
    since file permissions do not stop root (tests run as root in CI)."""
    made = subprocess.run(["chattr", "+i", bad_db], capture_output=True, text=True) \
        if shutil.which("chattr") else None
    if made is None or made.returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system that supports "
                    f"it): {made.stderr.strip() if made else 'no chattr'}")
    try:
        yield bad_db
    finally:
        subprocess.run(["chattr", "-i", bad_db], check=True)


def test_read_only_file(immutable_db):
    before = table_checksums(immutable_db)
    assert not os.access(immutable_db, os.W_OK)
    for args in (["refresh", "shop"], CREATE + FEATS, ["init"]):
        result = invoke(immutable_db, args)
        assert (result.exit_code, result.stderr) == (
            1, f"Error: database {immutable_db} is read-only for this user; fix its permissions "
               "or copy it somewhere writable\n")
    # Read commands still work on it.
    result = invoke(immutable_db, ["show", "shop"])
    assert result.exit_code == 0 and result.stdout.startswith("shop: run 1 (its 1st run),")
    result = invoke(immutable_db, ["sql", "SELECT count(*) AS n FROM shop_segments", "--format", "csv"])
    assert (result.exit_code, result.stdout) == (0, "n\n200\n")
    assert table_checksums(immutable_db) == before


# -- a disk that fills during the write ---------------------------------------------------------
# Where the write fails depends on the size of the run: DuckDB writes a new run's labels straight
# into the database file once they fill a row group (122,880 rows), so with 130,000 customers the
# INSERT fails; smaller runs go to the write-ahead log, so with 100,000 the COMMIT fails.
WHERE_IT_FAILS = {
    "insert": (130_000, 'IO Error: Could not write file "{path}": {reason}'),
    "commit": (100_000, 'TransactionContext Error: Failed to commit: Could not write file '
                        '"{path}.wal": {reason}'),
}


@pytest.fixture(scope="module")
def big_templates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    paths = {}
    for place, (rows, _) in WHERE_IT_FAILS.items():
        paths[place] = path = str(folder / f"{place}.duckdb")
        with segdb.connect(path) as db:
            db.sql("CREATE TABLE customers AS SELECT i AS customer_id, "
                   "(hash(i) % 1000)::DOUBLE AS spend, (hash(i * 3) % 77)::DOUBLE AS visits "
                   "FROM range(1, ?) t(i)", [rows + 1])
            db.create("big", source="customers", key="customer_id", features=["spend", "visits"],
                      k=3, n_init=1)
            db.refresh("big")
    return paths


def disk_full_message(place: str, path: str, reason: str) -> str:
    detail = WHERE_IT_FAILS[place][1].format(path=path, reason=reason)
    return (f"Error: writing the new run of 'big' failed: the disk is full or not writable "
            f"({detail}); nothing was changed; free space there (or move the database) and retry\n")


def assert_previous_run_intact(path: str, before: dict, segments: tuple) -> None:
    assert table_checksums(path) == before
    assert view_checksum(path, "big_segments") == segments


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.parametrize("place", list(WHERE_IT_FAILS))
def test_disk_fills_during_the_write_tmpfs(big_templates, small_tmpfs, place):
    """A real full disk: the database on a tmpfs with room for the file and 256 KiB more."""
    template = big_templates[place]
    size_kib = os.path.getsize(template) // 1024 + 256
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                              str(small_tmpfs)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); "
                    "test_disk_fills_during_the_write_rlimit covers the same write failure")
    path = str(small_tmpfs / "big.duckdb")
    shutil.copyfile(template, path)
    before, segments = table_checksums(path), view_checksum(path, "big_segments")
    result = run_segdb_process(["refresh", "big"], path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == disk_full_message(place, path, "No space left on device")
    assert_previous_run_intact(path, before, segments)


@pytest.mark.parametrize("place", list(WHERE_IT_FAILS))
def test_disk_fills_during_the_write_rlimit(big_templates, tmp_path, place):
    """The same failure without root: the refresh process may not write a file beyond 64 KiB
    (RLIMIT_FSIZE), so DuckDB's write fails at the same place (EFBIG, 'File too large')."""
    path = str(tmp_path / "big.duckdb")
    shutil.copyfile(big_templates[place], path)
    before, segments = table_checksums(path), view_checksum(path, "big_segments")

    def limit_file_size():  # runs in the child before exec; Python ignores SIGXFSZ
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    result = run_segdb_process(["refresh", "big"], path, preexec_fn=limit_file_size)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == disk_full_message(place, path, "File too large")
    assert_previous_run_intact(path, before, segments)
    # With room again, the refresh succeeds.
    again = run_segdb_process(["refresh", "big"], path)
    assert again.returncode == 0 and again.stdout.startswith("big: run 2 (its 2nd run),"), again.stderr


# -- exit codes and --debug -----------------------------------------------------------------------

def test_exit_codes_and_debug_traceback(bad_db):
    plain = run_segdb_process(["refresh", "nope"], bad_db)
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.startswith("Error: no segmentation named 'nope'; known: ")
    assert plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
    debug = run_segdb_process(["--debug", "refresh", "nope"], bad_db)
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert "segdb.errors.NotFoundError: no segmentation named 'nope'" in debug.stderr
    usage = run_segdb_process(["refresh", "--no-such-option"], bad_db)
    # click's own usage errors exit 2 (its convention), also with one "Error:" line
    assert usage.returncode == 2 and "Error: No such option '--no-such-option'." in usage.stderr


def test_one_feature_given_as_a_string_is_one_feature(bad_db):
    """features="spend" means the column spend, not the columns 's', 'p', 'e', 'n', 'd'."""
    with segdb.connect(bad_db) as db:
        d = db.create("single", source="customers", key="customer_id", features="spend", k=2)
        assert [f.name for f in d.features] == ["spend"]
