"""Sources and feature expressions are read without side effects (issue 15, item 9).

PostgreSQL: the checks, statistics and sample reads run in a READ ONLY transaction that is rolled
back; a source calling nextval() or lo_import() fails there, in one line naming the segmentation
and the cause, with nothing written. DuckDB: file-reading and extension-installing functions in a
source are refused unless the definition allows external access (segdb.define.access). A feature's
expr is parsed as one expression."""

from __future__ import annotations

import pytest

import segdb
from conftest import run_cli


# -- PostgreSQL --------------------------------------------------------------------------------

@pytest.fixture
def pg(postgres_url):
    with segdb.connect(postgres_url) as db:
        db.sql("CREATE TABLE customers AS SELECT i AS customer_id, ((i * 7919) % 100)::float8 AS spend, "
               "((i * 104729) % 10)::float8 AS visits FROM generate_series(1, 300) AS t(i)")
        db.sql("CREATE SEQUENCE counter")
        db.sql("CREATE VIEW customers_v AS SELECT * FROM customers")
        db.create("shop", source="SELECT * FROM customers_v", key="customer_id",
                  features=["spend", "visits"], k=3)
        yield db


def side_effects(db) -> tuple:
    return (db.sql("SELECT last_value, is_called FROM counter").to_pylist(),
            db.sql("SELECT count(*) AS n FROM pg_largeobject_metadata").to_pylist(),
            db.sql("SELECT count(*) AS n FROM segdb.runs").to_pylist(),
            db.sql("SELECT count(*) AS n FROM segdb.definitions").to_pylist())


NEXTVAL = "spend + 0 * nextval('counter')"
LO_IMPORT = "spend + 0 * lo_import('/etc/hostname')::int8"
CAUSES = {NEXTVAL: "(cannot execute nextval() in a read-only transaction)",
          LO_IMPORT: "(a function it calls wrote inside segdb's read-only transaction, e.g. lo_import())"}


@pytest.mark.parametrize("call", [NEXTVAL, LO_IMPORT], ids=["nextval", "lo_import"])
def test_postgres_create_refuses_a_source_with_side_effects(pg, call):
    before = side_effects(pg)
    with pytest.raises(segdb.SegdbError) as info:
        pg.create("bad", source=f"SELECT customer_id, {call} AS spend FROM customers", key="customer_id",
                  features=["spend"], k=3)
    assert info.value.message == (
        f"the source of 'bad' changes the database {CAUSES[call]}; segdb reads sources without side "
        "effects: remove that call from the source SELECT and the feature expressions; nothing was written")
    assert side_effects(pg) == before


@pytest.mark.parametrize("call", [NEXTVAL, LO_IMPORT], ids=["nextval", "lo_import"])
def test_postgres_refresh_refuses_a_source_that_gained_side_effects(pg, call):
    """The view the source reads is redefined after create: the refresh's reads fail, before the
    write-back could run the source again in its own transaction."""
    pg.sql(f"CREATE OR REPLACE VIEW customers_v AS SELECT customer_id, {call} AS spend, visits FROM customers")
    before = side_effects(pg)
    result = run_cli(["refresh", "shop"], pg.path)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: the source of 'shop' changes the database {CAUSES[call]}; segdb reads sources without "
        "side effects: remove that call from the source SELECT and the feature expressions; nothing "
        "was written\n")
    assert side_effects(pg) == before


def test_postgres_feature_expression_with_side_effects_is_refused(pg):
    """create only describes an expression (no row is read); the refresh's first read refuses it."""
    pg.create("expr", source="customers", key="customer_id",
              features=["spend", {"name": "n", "expr": "visits + 0 * nextval('counter')"}], k=3)
    before = side_effects(pg)
    with pytest.raises(segdb.SegdbError, match=r"^the source of 'expr' changes the database \(cannot "
                                               r"execute nextval\(\) in a read-only transaction\)"):
        pg.refresh("expr")
    assert side_effects(pg) == before


def test_postgres_refresh_still_works(pg):
    assert pg.refresh("shop").run_id == 1
    assert pg.sql("SELECT count(*) AS n FROM shop_segments").to_pylist() == [{"n": 300}]


# -- DuckDB: external access -------------------------------------------------------------------

@pytest.fixture
def duck(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative file names in sources resolve here
    (tmp_path / "outside.csv").write_text("customer_id,spend\n1,5\n2,6\n3,7\n4,8\n")
    path = str(tmp_path / "d.duckdb")
    with segdb.connect(path) as db:
        db.sql("CREATE TABLE customers AS SELECT i AS customer_id, (i % 7)::DOUBLE AS spend, "
               "(i % 5)::DOUBLE AS visits FROM range(1, 200) t(i)")
    return path


def definitions_and_runs(path) -> tuple:
    from conftest import table_checksums
    sums = table_checksums(path)
    return sums.get("segdb.definitions"), sums.get("segdb.runs"), sums["views"]


REFUSALS = [
    ("SELECT * FROM read_csv('outside.csv')", "calls the table function read_csv()"),
    ("SELECT * FROM 'outside.csv'", "reads 'outside.csv' (a file or URL)"),
    ("SELECT * FROM read_text('outside.csv') JOIN customers ON true", "calls the table function read_text()"),
    ("SELECT customer_id, spend FROM customers WHERE spend < (SELECT count(*) FROM glob('*'))",
     "calls the table function glob()"),
    ("SELECT * FROM 'https://example.invalid/x.parquet'", "reads 'https://example.invalid/x.parquet' (a file or URL)"),
    ("SELECT customer_id, spend + length(getenv('HOME')) AS spend FROM customers", "calls getenv()"),
]


@pytest.mark.parametrize("source, reason", REFUSALS, ids=[r[1].split()[1] + str(i) for i, r in enumerate(REFUSALS)])
def test_duckdb_create_refuses_external_access(duck, source, reason):
    before = definitions_and_runs(duck)
    result = run_cli(["create", "s", "--source", source, "--key", "customer_id", "--feature", "spend",
                      "--k", "2"], duck)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: the source SELECT of 's' {reason}, outside the database; segdb reads sources without "
        "side effects and refuses file, network and extension access unless the definition allows it: "
        "use --external-access (external_access = true in TOML) if you mean it\n")
    assert definitions_and_runs(duck) == before


@pytest.mark.parametrize("source, needs", [
    ("SELECT customer_id, st_area(spend) AS spend FROM customers",
     'Catalog Error: Scalar Function with name "st_area" is not in the catalog, but it exists in the spatial extension'),
    ("SELECT customer_id, spend FROM customers, sqlite_scan('x.db', 't')", None),  # a table function: refused earlier
])
def test_duckdb_extension_is_neither_installed_nor_loaded(duck, source, needs):
    before = definitions_and_runs(duck)
    with segdb.connect(duck) as db:
        with pytest.raises(segdb.SegdbError) as info:
            db.create("s", source=source, key="customer_id", features=["spend"], k=2)
        # the settings are back as they were
        assert db.sql("SELECT current_setting('autoinstall_known_extensions') AS i, "
                      "current_setting('autoload_known_extensions') AS l").to_pylist() == [{"i": True, "l": True}]
        loaded = db.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded AND extension_name "
                        "IN ('spatial', 'sqlite_scanner')").to_pylist()
    if needs is None:
        assert info.value.message.startswith("the source SELECT of 's' calls the table function sqlite_scan(),")
    else:
        assert info.value.message == (
            f"the source of 's' needs a DuckDB extension that is not loaded ({needs}); segdb does not install "
            "or load extensions for a source unless the definition allows it: set external_access=True if "
            "you mean it")
    assert loaded == []
    assert definitions_and_runs(duck) == before


def test_duckdb_expression_reading_a_file_is_refused(duck):
    with segdb.connect(duck) as db:
        with pytest.raises(segdb.SegdbError) as info:
            db.create("s", source="customers", key="customer_id", k=2, features=[
                "spend", {"name": "n", "expr": "visits + (SELECT count(*) FROM read_csv('outside.csv'))"}])
    assert info.value.message.startswith("the expr of feature 'n' of 's' calls the table function read_csv(), "
                                         "outside the database;")


def test_duckdb_external_access_allowed_explicitly_and_stored(duck):
    with segdb.connect(duck) as db:
        d = db.create("s", source="SELECT * FROM read_csv('outside.csv')", key="customer_id",
                      features=["spend"], k=2, external_access=True)
        assert d.options == {"external_access": True}
        assert db.definition("s").options == {"external_access": True}
        assert db.refresh("s").rows_used == 4
        # a plain definition stores no option (and compares equal to what it was before)
        assert db.create("plain", source="customers", key="customer_id", features=["spend"], k=2).options == {}


def test_duckdb_refresh_refuses_external_access_gained_later(duck):
    """A source text that was a table at create and reads a file at refresh cannot happen, but a
    definition stored by an older segdb can hold such a source: the refresh checks again."""
    with segdb.connect(duck) as db:
        db.create("s", source="SELECT * FROM read_csv('outside.csv')", key="customer_id",
                  features=["spend"], k=2, external_access=True)
        # as a definition stored before external access was checked: without the option
        db.sql("UPDATE segdb.definitions SET options = '{}' WHERE segmentation = 's'")
    before = definitions_and_runs(duck)
    result = run_cli(["refresh", "s"], duck)
    assert result.exit_code == 1
    assert result.output.startswith("Error: the source SELECT of 's' calls the table function read_csv(), "
                                    "outside the database;")
    assert result.output.count("\n") == 1
    assert definitions_and_runs(duck) == before


def test_duckdb_toml_external_access_key(duck, tmp_path):
    toml = tmp_path / "segdb.toml"
    toml.write_text('[segmentation.s]\nsource = "SELECT * FROM read_csv(\'outside.csv\')"\nkey = "customer_id"\n'
                    'features = ["spend"]\nk = 2\n')
    result = run_cli(["apply", str(toml)], duck)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "read_csv()" in result.output
    assert result.output.count("\n") == 1
    toml.write_text(toml.read_text() + "external_access = true\n")
    result = run_cli(["apply", str(toml)], duck)
    assert result.exit_code == 0, result.output
    with segdb.connect(duck, read_only=True) as db:
        assert db.definition("s").options == {"external_access": True}


def test_duckdb_table_macros_and_row_generators_are_the_database_s_own(duck):
    with segdb.connect(duck) as db:
        db.sql("CREATE MACRO some_customers() AS TABLE SELECT * FROM customers WHERE customer_id < 100")
        db.create("m", source="SELECT * FROM some_customers()", key="customer_id", features=["spend"], k=2)
        db.create("g", source="SELECT i AS customer_id, (i % 3)::DOUBLE AS spend FROM range(1, 50) t(i)",
                  key="customer_id", features=["spend"], k=2)
        assert db.refresh("m").rows_used == 99


# -- the single-expression check (every engine parses expressions with DuckDB's parser) ---------

@pytest.mark.parametrize("expr", [
    "b) AS v FROM t UNION ALL SELECT 999, (1",
    "visits) AS v FROM customers UNION ALL SELECT 999, (1",
    "visits AS v",
    "visits, spend",
    "visits FROM customers",
    "visits; DROP TABLE customers",
])
def test_feature_expr_must_be_one_expression(duck, expr):
    before = definitions_and_runs(duck)
    result = run_cli(["create", "s", "--source", "customers", "--key", "customer_id", "--feature", "spend",
                      "--k", "2"], duck)
    assert result.exit_code == 0
    before = definitions_and_runs(duck)
    with segdb.connect(duck) as db:
        with pytest.raises(segdb.SegdbError) as info:
            db.create("s", source="customers", key="customer_id", k=2, replace=True,
                      features=["spend", {"name": "v", "expr": expr}])
    assert info.value.message == f"feature 'v': expr must be one SQL expression, not {expr!r}"
    assert definitions_and_runs(duck) == before


def test_feature_expr_union_trick_fails_at_create_from_toml(duck, tmp_path):
    toml = tmp_path / "segdb.toml"
    toml.write_text('[segmentation.s]\nsource = "customers"\nkey = "customer_id"\nk = 2\n'
                    '[[segmentation.s.features]]\nname = "v"\n'
                    'expr = "visits) AS v FROM customers UNION ALL SELECT 999, (1"\n')
    result = run_cli(["apply", str(toml)], duck)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {toml}, line 7, key segmentation.s.features[1].expr: feature 'v': expr must be one SQL "
        "expression, not 'visits) AS v FROM customers UNION ALL SELECT 999, (1'\n")
