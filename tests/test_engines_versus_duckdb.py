"""PostgreSQL (and, for typed features, Spark) against DuckDB on the same data, beyond the core scenario: typed survey features under
column names with spaces, quotes, % and unicode; survey weights; k=auto with its scan; the fast
path (200,000 rows, every row fitted with DuckDB's own initialisation sample); show-sql's script
run as printed; plots and the report; an existing sqlalchemy.Engine. Each check compares the two
engines' stored results (DuckDB's are themselves checked against scikit-learn elsewhere)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import segdb
from engines import load_table, postgres_conninfo
from survey_fixture import CODES, survey_frame

pytestmark = pytest.mark.usefixtures("one_blas_thread")

PRICE = 'Premium savings 100% "very" important'
AGENT = "Agent — nicht wichtig ü"


def survey() -> pa.Table:
    frame = survey_frame().rename(columns={"q_price": PRICE, "q_agent_unimportant": AGENT})
    return pa.Table.from_pandas(frame, preserve_index=False)


def typed_features():
    likert = {"kind": "likert", "scale_min": 1, "scale_max": 7, "codes": list(CODES)}
    return [dict(likert, name=PRICE), dict(likert, name=AGENT, reverse=True),
            dict(likert, name="q_service"), {"name": "region", "kind": "category"}]


def labels(db, name):
    t = db.sql(f"SELECT respondent_id, segment_id FROM {name}_segments ORDER BY respondent_id")
    return t.column("respondent_id").to_pylist(), t.column("segment_id").to_pylist()


@pytest.mark.parametrize("engine", ["postgresql", "spark"])
def test_typed_weighted_and_auto_k_equal_duckdb(engine, request, tmp_path):
    """Also on Spark: every statement the typed features and the k scan need, run there."""
    other = request.getfixturevalue("postgres_url" if engine == "postgresql" else "spark_url")
    runs = {}
    for url in (str(tmp_path / "ref.duckdb"), other):
        load_table(url, "survey", survey())
        target = url
        if engine == "spark" and url == other:  # the notebook's way: segdb.connect(spark)
            from engines import spark_database
            session = request.getfixturevalue("spark_session")
            session.catalog.setCurrentDatabase(spark_database(url))
            target = session
        with segdb.connect(target) as db:
            db.create("typed", source="survey", key="respondent_id", features=typed_features(), k=3,
                      weight="weight")
            db.create("auto", source="survey", key="respondent_id", features=typed_features(),
                      k="auto", k_range=(2, 5))
            typed, auto = db.refresh("typed"), db.refresh("auto")
            runs[url] = dict(typed=typed, auto=auto, typed_labels=labels(db, "typed"),
                             auto_labels=labels(db, "auto"),
                             scan=db.sql("SELECT k, inertia FROM segdb.k_scan ORDER BY k").to_pylist(),
                             shares=db.sql("SELECT run_id, segment_id, level, share FROM segdb.category_shares "
                                           "ORDER BY run_id, segment_id, level").to_pylist(),
                             profiles=db.sql("SELECT run_id, segment_id, feature_no, n_values, mean_raw, z_diff, "
                                             "effect_size, rank FROM segdb.profiles "
                                             "ORDER BY run_id, segment_id, feature_no").to_pylist(),
                             descriptions=db.sql("SELECT run_id, segment_id, description FROM segdb.segments "
                                                 "ORDER BY run_id, segment_id").to_pylist())
    ref, pg = runs.values()
    assert pg["typed_labels"] == ref["typed_labels"]
    assert pg["typed"].inertia == pytest.approx(ref["typed"].inertia, rel=1e-7)
    assert pg["auto"].k == ref["auto"].k
    assert pg["auto_labels"] == ref["auto_labels"]
    assert [r["k"] for r in pg["scan"]] == [r["k"] for r in ref["scan"]]
    assert [r["inertia"] for r in pg["scan"]] == pytest.approx([r["inertia"] for r in ref["scan"]], rel=1e-7)
    assert [(r["segment_id"], r["level"]) for r in pg["shares"]] == [(r["segment_id"], r["level"]) for r in ref["shares"]]
    assert [r["share"] for r in pg["shares"]] == pytest.approx([r["share"] for r in ref["shares"]], rel=1e-7)
    if engine == "postgresql":  # its profiles come from the fitted matrix (segdb.refresh.pg_write)
        def exact(r):
            return (r["run_id"], r["segment_id"], r["feature_no"], r["n_values"], r["rank"])
        assert [exact(r) for r in pg["profiles"]] == [exact(r) for r in ref["profiles"]]
        for column in ("mean_raw", "z_diff", "effect_size"):
            assert [r[column] for r in pg["profiles"]] == pytest.approx([r[column] for r in ref["profiles"]],
                                                                        rel=1e-7, abs=1e-12)
        assert pg["descriptions"] == ref["descriptions"]


@pytest.mark.parametrize("text_key", [False, True])
def test_fast_path_equals_duckdb(postgres_url, tmp_path, text_key):
    """200,000 rows: the fast fit (a sample for the restarts, one pass over every row) on PostgreSQL
    starts from the sample DuckDB draws, so the segments are DuckDB's. PostgreSQL fetches the rows
    with binary COPY (CSV for a text key) and writes their labels with COPY from memory, as DuckDB
    writes them: every customer's label and distance, and the profiles joined from them, are DuckDB's."""
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 4, (4, 5))
    X = centres[rng.integers(0, 4, 200_000)] + rng.normal(0, 1.5, (200_000, 5))
    ids = rng.permutation(200_000) + 10**6
    table = pa.table({"id": pa.array([f"c{i:07d}" for i in ids] if text_key else ids),
                      **{f"f{i}": pa.array(X[:, i]) for i in range(5)}})
    results = {}
    for url in (str(tmp_path / "ref.duckdb"), postgres_url):
        load_table(url, "points", table)
        with segdb.connect(url) as db:
            db.create("p", source="points", key="id", features=[f"f{i}" for i in range(5)], k=4)
            run = db.refresh("p")
            sizes = db.sql("SELECT segment_id, size FROM p_centroids ORDER BY segment_id").to_pylist()
            labelled = db.sql("SELECT id, segment_id, distance FROM p_segments ORDER BY id")
            profiles = db.sql("SELECT segment_id, feature_no, n_values, mean_raw, z_diff, effect_size, rank "
                              "FROM segdb.profiles ORDER BY segment_id, feature_no").to_pylist()
            results[url] = (run, sizes, db.runs("p")[0], labelled, profiles)
    (ref, ref_sizes, _, ref_labels, ref_profiles), (pg, pg_sizes, pg_row, pg_labels, pg_profiles) = results.values()
    assert pg.inertia == pytest.approx(ref.inertia, rel=1e-7)
    assert pg_sizes == ref_sizes
    assert pg_row["rows_used"] == 200_000
    assert pg_labels.column("id").to_pylist() == ref_labels.column("id").to_pylist()
    assert pg_labels.column("segment_id").to_pylist() == ref_labels.column("segment_id").to_pylist()
    assert pg_labels.column("distance").to_numpy() == pytest.approx(ref_labels.column("distance").to_numpy(),
                                                                     rel=1e-7)
    assert [(r["segment_id"], r["feature_no"], r["n_values"], r["rank"]) for r in pg_profiles] == \
        [(r["segment_id"], r["feature_no"], r["n_values"], r["rank"]) for r in ref_profiles]
    for column in ("mean_raw", "z_diff", "effect_size"):
        assert [r[column] for r in pg_profiles] == pytest.approx([r[column] for r in ref_profiles], rel=1e-7)


def test_show_sql_script_runs_and_outputs(postgres_url, tmp_path):
    import psycopg
    import sqlalchemy

    load_table(postgres_url, "survey", survey())
    engine = sqlalchemy.create_engine(postgres_url)
    with segdb.connect(engine) as db:                  # an existing Engine, as notebooks have
        db.create("typed", source="survey", key="respondent_id", features=typed_features(), k=3)
        db.refresh("typed")
        script = db.show_sql("typed")
        plots = db.plot("typed", tmp_path / "plots")
        report = db.report("typed", tmp_path / "report.html")
    engine.dispose()
    statements = [s for s in script.split(";\n") if s.strip()]
    assert any("CREATE OR REPLACE FUNCTION" in s and "PARALLEL SAFE" in s for s in statements)
    ran = 0
    with psycopg.connect(**postgres_conninfo(postgres_url), autocommit=True) as con:
        for statement in statements:
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            if "INSERT INTO segdb.profiles" in body:
                continue  # the script says so: the run's profiles exist already
            con.execute(body)
            ran += 1
    assert ran == len(statements) - 1
    assert all(p.exists() and p.stat().st_size > 0 for p in plots.values() if p is not None)
    assert report.exists() and "<html" in report.read_text().lower()


def test_weights_beyond_the_bound_are_refused_on_other_engines(postgres_url):
    """A weighted fit needs every row; another engine's rows never all come to Python, so a
    weighted definition over more rows than max_fit_rows is refused, with nothing written."""
    from segdb.errors import DefinitionError

    load_table(postgres_url, "survey", survey())
    with segdb.connect(postgres_url) as db:
        db.create("w", source="survey", key="respondent_id", features=typed_features(), k=3,
                  weight="weight", max_fit_rows=100)
        with pytest.raises(DefinitionError) as err:
            db.refresh("w")
        assert str(err.value) == (
            "'w' has survey weights, which need every row in the fit, but the source of w "
            "(table survey) has rows_used=299 > max_fit_rows=100; raise max_fit_rows or drop the weight")
        assert db.runs("w") == []
