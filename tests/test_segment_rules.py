"""Readable segment rules (segdb.quality.rules): hand-made data whose true rule is known, so the tree
must find it; the SQL CASE (``<name>_rule_segment`` and the pasteable one) against scikit-learn's own
``predict`` on every row of every engine; coverage, precision and fidelity recomputed with numpy;
readable likert, reversed and category terms; ``segdb rules``' exact text; the function following
rollback and the rows leaving with prune."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.tree import DecisionTreeClassifier

import segdb
from conftest import run_cli
from engines import engine_of, load_table
from segdb.define import rulesql
from segdb.quality import rules as rules_mod

pytestmark = pytest.mark.usefixtures("one_blas_thread")


# -- hand-made data with a known rule --------------------------------------------------------------

def known_rule_table(seed: int = 3) -> pa.Table:
    """Three groups: North answering x 6-7, North answering x 1-2, and a larger group of South (and
    a few East) answering x 3-5. The true rules: Region = 'North' and x high / low; Region <> 'North'."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.integers(6, 8, 100), rng.integers(1, 3, 100), rng.integers(3, 6, 200)])
    region = ["North"] * 200 + ["South"] * 180 + ["East"] * 20
    order = rng.permutation(400)
    return pa.table({"id": np.arange(1, 401), "x": x[order].astype(np.int64),
                     "region": [region[i] for i in order]})


KNOWN_FEATURES = [{"name": "x", "kind": "likert", "scale_min": 1, "scale_max": 7},
                  {"name": "region", "kind": "category"}]


def _members(db, name: str, where: str) -> set[int]:
    rows = db.sql(f"SELECT DISTINCT s.segment_id FROM {name}_segments AS s JOIN t USING (id) "
                  f"WHERE {where}").to_pylist()
    return {r["segment_id"] for r in rows}


def test_the_tree_finds_the_true_rule_and_sql_agrees_with_its_predict(tmp_path):
    with segdb.connect(str(tmp_path / "r.duckdb")) as db:
        db.con.register("src", known_rule_table())
        db.sql("CREATE TABLE t AS SELECT * FROM src")
        db.create("k3", source="t", key="id", features=KNOWN_FEATURES, k=3)
        db.refresh("k3")
        (high,) = _members(db, "k3", "region = 'North' AND x >= 6")
        (low,) = _members(db, "k3", "region = 'North' AND x <= 2")
        (south,) = _members(db, "k3", "region <> 'North'")
        assert len({high, low, south}) == 3  # k-means found the three groups
        rr = db.rules("k3")
        got = {(r["segment_id"], r["condition_sql"]) for r in rr.rules}
        # x's split lies between 2 and 6 in the North, but the South answers 3-5: the bound is read
        # from every row used, so the rule is exact on all of them
        assert got == {(south, "\"region\" <> 'North'"),
                       (high, "\"x\" >= 5 AND \"region\" = 'North'"),
                       (low, "\"x\" <= 4 AND \"region\" = 'North'")}
        assert rr.tree["fidelity"] == 1.0 and rr.tree["leaves"] == 3 and rr.tree["sample_rows"] == 400
        assert all(r["coverage"] == 1.0 and r["precision"] == 1.0 for r in rr.rules)
        # the oracle: our own tree on the same rows (source units, one-hot by sorted level)
        data = db.sql("SELECT t.x, t.region, s.segment_id, k3_rule_segment(t.x, t.region) AS by_rule, "
                      f"{rr.case_sql()} AS by_case "
                      "FROM t JOIN k3_segments AS s USING (id) ORDER BY id").to_pydict()
        X = np.column_stack([data["x"]] + [[float(r == lv) for r in data["region"]]
                                          for lv in ("East", "North", "South")])
        tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=4, random_state=0).fit(X, data["segment_id"])
        assert tree.predict(X).tolist() == data["by_rule"] == data["by_case"] == data["segment_id"]


def test_a_reversed_item_reads_in_its_source_values(tmp_path):
    rng = np.random.default_rng(7)
    agent = np.concatenate([rng.integers(1, 3, 60), rng.integers(6, 8, 40)])
    with segdb.connect(str(tmp_path / "r.duckdb")) as db:
        db.con.register("src", pa.table({"id": np.arange(1, 101), "agent": agent.astype(np.int64)}))
        db.sql("CREATE TABLE t AS SELECT * FROM src")
        db.create("rev", source="t", key="id", k=2, features=[
            {"name": "agent", "kind": "likert", "scale_min": 1, "scale_max": 7, "reverse": True}])
        db.refresh("rev")
        (low,) = _members(db, "rev", "agent <= 2")
        (high,) = _members(db, "rev", "agent >= 6")
        got = {(r["segment_id"], r["condition_sql"]) for r in db.rules("rev").rules}
        # the tree splits the reversed values (8 - agent); the rule speaks of the answers given
        assert got == {(low, '"agent" <= 2'), (high, '"agent" >= 6')}


# -- every engine: the SQL CASE against the tree's own predict on every row --------------------------

def mixed_table(n: int = 300, seed: int = 11) -> pa.Table:
    """Likert with a don't-know code and NULLs, a reversed likert item, a category with NULLs and a
    continuous amount: imperfect rules, NULLs imputed (nulls=mean), float thresholds."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    q1 = np.clip(np.rint(rng.normal(np.array([2, 4, 6])[g], 1.0)), 1, 7).astype(float)
    q1[rng.choice(n, 12, replace=False)] = 9.0   # don't know
    q1_list = [None if i % 37 == 5 else float(v) for i, v in enumerate(q1)]
    q2 = np.clip(np.rint(rng.normal(np.array([4, 2, 3])[g], 0.8)), 1, 5).astype(float)
    region = np.array(["North", "South", "O'Hara"])[np.where(rng.random(n) < 0.8, g, rng.integers(0, 3, n))]
    region_list = [None if i % 41 == 3 else str(v) for i, v in enumerate(region)]
    spend = np.round(rng.normal(np.array([20.0, 50.0, 35.0])[g], 6.0), 2)
    return pa.table({"id": pa.array(np.arange(1, n + 1), pa.int64()), "q1": pa.array(q1_list, pa.float64()),
                     "q2": pa.array(q2, pa.float64()), "region": pa.array(region_list, pa.string()),
                     "spend": pa.array(spend, pa.float64())})


MIXED_FEATURES = [{"name": "q1", "kind": "likert", "scale_min": 1, "scale_max": 7, "codes": [9]},
                  {"name": "q2", "kind": "likert", "scale_min": 1, "scale_max": 5, "reverse": True},
                  {"name": "region", "kind": "category"}, "spend"]


def oracle_matrix(table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """The tree's input, computed here from the raw table: codes and NULLs -> the mean of the answers
    given (nulls=mean), q2 reversed (6 - q2), region one-hot by sorted level (NULL -> each level's share)."""
    q1 = np.array([np.nan if v is None or v == 9 else v for v in table["q1"].to_pylist()])
    q2 = 6.0 - np.array(table["q2"].to_pylist())
    region = table["region"].to_pylist()
    levels = sorted({r for r in region if r is not None})
    cols = [q1, q2]
    for lv in levels:
        cols.append(np.array([np.nan if r is None else float(r == lv) for r in region]))
    cols.append(np.array(table["spend"].to_pylist()))
    X = np.column_stack(cols)
    means = np.nanmean(X, axis=0)
    return np.where(np.isnan(X), means, X), ["q1", "q2"] + [f"region={lv}" for lv in levels] + ["spend"]


def _q(engine_url: str, name: str) -> str:
    return f"`{name}`" if engine_of(engine_url) == "spark" else f'"{name}"'


@pytest.fixture
def refresh_trees(monkeypatch) -> list:
    """The trees the refreshes in a test fit, in order: to ask their own predict."""
    trees = []
    fit_tree = rules_mod.fit_tree

    def keep(*args, **kwargs):
        trees.append(fit_tree(*args, **kwargs))
        return trees[-1]
    monkeypatch.setattr(rules_mod, "fit_tree", keep)
    return trees


def test_rule_segment_agrees_with_the_trees_predict_on_every_row(engine_url, refresh_trees):
    table = mixed_table()
    load_table(engine_url, "survey", table)
    with segdb.connect(engine_url) as db:
        db.create("mx", source="survey", key="id", features=MIXED_FEATURES, k=3, nulls="mean")
        db.refresh("mx")
        (tree,) = refresh_trees
        rr = db.rules("mx")
        columns = ", ".join(_q(engine_url, c) for c in ("q1", "q2", "region", "spend"))
        hits = ", ".join(f"coalesce({r['condition_sql']}, FALSE) AS r{i}" for i, r in enumerate(rr.rules))
        got = db.sql(f"SELECT s.id, l.segment_id, mx_rule_segment({columns}) AS by_rule, "
                     f"{rr.case_sql()} AS by_case, {hits} "
                     f"FROM survey AS s JOIN mx_segments AS l ON l.id = s.id ORDER BY s.id").to_pydict()
        stored_columns = [r["column_name"] for r in db.sql(
            "SELECT column_name FROM segdb.feature_columns ORDER BY feature_no").to_pylist()]
    X, names = oracle_matrix(table)
    assert names == stored_columns and got["id"] == list(range(1, 301))
    predicted = tree.predict(X).tolist()
    assert got["by_rule"] == predicted          # the function, on every row
    assert got["by_case"] == predicted          # the pasteable CASE over the source's columns
    labels = np.array(got["segment_id"])
    assert 0.7 < np.mean(labels == np.array(predicted)) < 1.0  # imperfect rules: a real test of both
    assert rr.tree["sample_rows"] == 300
    assert rr.tree["fidelity"] == pytest.approx(float(np.mean(labels == np.array(predicted))), rel=1e-7)
    caught = np.zeros(len(labels), dtype=int)
    for i, r in enumerate(rr.rules):
        hit = np.array(got[f"r{i}"], dtype=bool)
        caught += hit
        assert np.all(np.array(predicted)[hit] == r["segment_id"])
        mine = labels == r["segment_id"]
        assert r["n_rows"] == int(hit.sum()) and r["n_segment"] == int((hit & mine).sum())
        assert r["coverage"] == pytest.approx((hit & mine).sum() / mine.sum(), rel=1e-7)
        assert r["precision"] == pytest.approx((hit & mine).sum() / hit.sum(), rel=1e-7)
    assert caught.tolist() == [1] * len(labels)  # the rules never overlap and miss no row
    text = " ".join(r["condition_sql"] for r in rr.rules)
    assert "=0.5" not in text.replace(" ", "") and "region=" not in text  # levels read as values
    # a second run and a rollback switch the function with the current run (on Spark: staged on the
    # commit record, then rewritten)
    with segdb.connect(engine_url) as db:
        db.sql("INSERT INTO survey SELECT id + 1000, q1, q2, region, spend + 30 FROM survey WHERE id % 3 = 0")
        db.refresh("mx")
        grown = db.sql("SELECT id, q1, q2, region, spend FROM survey ORDER BY id")
        now = db.sql(f"SELECT mx_rule_segment({columns}) AS r FROM survey ORDER BY id").to_pydict()["r"]
        db.rollback("mx")
        back = db.sql(f"SELECT mx_rule_segment({columns}) AS r FROM survey WHERE id <= 300 "
                      "ORDER BY id").to_pydict()["r"]
    first, second = refresh_trees
    assert now == second.predict(oracle_matrix(grown)[0]).tolist()
    assert back == predicted  # run 1's rules again (on run 1's rows: its bounds are exact on them)


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_a_bounded_fits_rules_are_exact_on_the_rows_it_did_not_fit(engine, request, tmp_path, refresh_trees):
    """A bounded refresh fits the tree on its fit sample (here 150 of 300 rows); the thresholds are
    read over every row used, so the rules agree with the tree's predict on rows the fit never saw."""
    url = str(tmp_path / "bounded.duckdb") if engine == "duckdb" else request.getfixturevalue("postgres_url")
    table = mixed_table(seed=12)
    load_table(url, "survey", table)
    with segdb.connect(url) as db:
        db.create("mx", source="survey", key="id", features=MIXED_FEATURES, k=3, nulls="mean", max_fit_rows=150)
        run = db.refresh("mx")
        fit_rows = db.sql("SELECT max(fit_rows) AS n FROM segdb.runs").to_pylist()  # the one run
        columns = ", ".join(_q(url, c) for c in ("q1", "q2", "region", "spend"))
        by_rule = db.sql(f"SELECT mx_rule_segment({columns}) AS r FROM survey ORDER BY id").to_pydict()["r"]
    assert run.rows_used == 300 and fit_rows[0]["n"] < 300
    (tree,) = refresh_trees
    assert tree.get_n_leaves() > 2
    assert by_rule == tree.predict(oracle_matrix(table)[0]).tolist()


# -- the CLI, the option, rollback and prune ---------------------------------------------------------

def test_segdb_rules_prints_the_rules_and_the_case(tmp_path):
    path = str(tmp_path / "r.duckdb")
    with segdb.connect(path) as db:
        db.con.register("src", known_rule_table())
        db.sql("CREATE TABLE t AS SELECT * FROM src")
        db.create("k3", source="t", key="id", features=KNOWN_FEATURES, k=3)
        db.refresh("k3")
        segments = db.show("k3").segments
    out = run_cli(["rules", "k3"], path)
    assert out.exit_code == 0, out.output
    by_size = {s["segment_id"]: s for s in segments}
    lines = ["k3, run 1 (its 1st run): a decision tree of depth 3 on 400 rows gives 3 rules; "
             "fidelity 100.0% (rows whose rule names their own segment)"]
    with segdb.connect(path, read_only=True) as db:
        conditions_by_id = {
            _members(db, "k3", "region <> 'North'").pop(): "\"region\" <> 'North'",
            _members(db, "k3", "region = 'North' AND x >= 6").pop(): "\"x\" >= 5 AND \"region\" = 'North'",
            _members(db, "k3", "region = 'North' AND x <= 2").pop(): "\"x\" <= 4 AND \"region\" = 'North'"}
    for sid in sorted(by_size):
        s = by_size[sid]
        lines += ["", f"segment {sid} ({s['size']} customers): {s['description']}",
                  f"  rule 1 of 1: {conditions_by_id[sid]} (coverage 100.0%, precision 100.0%)"]
    lines += ["", "-- the segment by its rule (NULL when none holds); k3_rule_segment(...) computes the same",
              "CASE"] + [f"    WHEN {conditions_by_id[sid]} THEN {sid}" for sid in sorted(by_size)] + ["END", ""]
    assert out.output == "\n".join(lines)


def test_rules_depth_zero_drops_the_function_and_rollback_brings_it_back(tmp_path):
    with segdb.connect(str(tmp_path / "r.duckdb")) as db:
        db.con.register("src", known_rule_table())
        db.sql("CREATE TABLE t AS SELECT * FROM src")
        db.create("k3", source="t", key="id", features=KNOWN_FEATURES, k=3)
        first = db.refresh("k3").run_id
        with pytest.raises(segdb.errors.DefinitionError, match="rules_depth"):
            db.create("k3", source="t", key="id", features=KNOWN_FEATURES, k=3, replace=True, rules_depth=9)
        db.create("k3", source="t", key="id", features=KNOWN_FEATURES, k=3, replace=True, rules_depth=0)
        second = db.refresh("k3").run_id

        def has_function():
            return db.sql("SELECT count(*) AS n FROM duckdb_functions() "
                          "WHERE function_name = 'k3_rule_segment'").to_pylist()[0]["n"] > 0
        assert not has_function() and db.rules("k3").tree is None
        assert db.sql(f"SELECT count(*) AS n FROM segdb.segment_rules WHERE run_id = {second}").to_pylist() == [{"n": 0}]
        db.rollback("k3", first)
        assert has_function()
        assert db.sql("SELECT k3_rule_segment(7, 'North') AS s").to_pylist()[0]["s"] == \
            _members(db, "k3", "region = 'North' AND x >= 6").pop()
        db.create("k3", source="t", key="id", features=KNOWN_FEATURES, k=3, replace=True)
        third = db.refresh("k3").run_id
        db.prune("k3", keep=1)
        left = db.sql("SELECT DISTINCT run_id FROM segdb.segment_rules UNION ALL "
                      "SELECT run_id FROM segdb.run_rules").to_pylist()
        assert {r["run_id"] for r in left} == {third}


def test_create_rules_depth_zero_from_the_cli(tmp_path):
    path = str(tmp_path / "r.duckdb")
    with segdb.connect(path) as db:
        db.con.register("src", known_rule_table())
        db.sql("CREATE TABLE t AS SELECT * FROM src")
    out = run_cli(["create", "k3", "--source", "t", "--key", "id", "--feature", "x", "--category", "region",
                   "--k", "3", "--rules-depth", "0"], path)
    assert out.exit_code == 0, out.output
    assert run_cli(["-q", "refresh", "k3"], path).exit_code == 0
    refused = run_cli(["rules", "k3"], path)
    assert refused.exit_code == 1
    assert "k3, run 1 (its 1st run) has no rules (rules_depth 0" in refused.output
    shown = run_cli(["show", "k3"], path).output
    assert "rules: none stored for this run (rules_depth 0" in shown


# -- the pieces ------------------------------------------------------------------------------------

def test_float32_boundary_splits_doubles_as_the_tree_does():
    rng = np.random.default_rng(0)
    thresholds = np.concatenate([rng.normal(0, 10, 200), [0.5, 4.5, 1.2000000476837158, -3.0, 1e-30]])
    for t in thresholds:
        b = rules_mod.float32_boundary(float(t))
        near = np.array([b, np.nextafter(b, np.inf), np.nextafter(b, -np.inf), t,
                         np.nextafter(t, np.inf), np.nextafter(t, -np.inf)])
        xs = np.concatenate([near, t + rng.normal(0, 1e-6 * (abs(t) + 1e-30), 50)])
        assert ((xs.astype(np.float32) <= t) == (xs <= b)).all(), t


def test_a_feature_beyond_float32s_range_gets_rules_exact_on_every_row(tmp_path):
    # |amount| up to 2e39: a tree's float32 copy of it would be infinite, which scikit-learn refuses
    rng = np.random.default_rng(0)
    amount = np.concatenate([rng.uniform(1, 2, 100) * 1e39, rng.uniform(-2, -1, 100) * 1e39])
    table = pa.table({"id": np.arange(200), "amount": amount, "other": rng.normal(0, 1, 200)})
    with segdb.connect(str(tmp_path / "big.duckdb")) as db:
        db.con.register("src", table)
        db.sql("CREATE TABLE t AS SELECT * FROM src")
        db.create("big", source="t", key="id", features=["amount", "other"], k=2)
        db.refresh("big")
        rr = db.rules("big")
        hits = ", ".join(f"{r['condition_sql']} AS r{i}" for i, r in enumerate(rr.rules))
        got = db.sql(f"SELECT l.segment_id, {hits} FROM t JOIN big_segments AS l USING (id)").to_pydict()
    labels = np.array(got["segment_id"])
    assert len(rr.rules) == 2 and rr.tree["fidelity"] == 1.0
    for i, r in enumerate(rr.rules):  # each rule is exactly its segment, read in source values
        hit = np.array(got[f"r{i}"], dtype=bool)
        assert (hit == (labels == r["segment_id"])).all()
        assert r["coverage"] == 1.0 and r["precision"] == 1.0


def test_float32_units_scale_only_columns_beyond_float32_by_a_power_of_two():
    R = np.array([[1.0, 3e38, -5e39, 1e-300], [2.0, -1.0, 1.0, 0.0]])
    units = rules_mod.float32_units(R)
    assert units[0] == 1.0 and units[3] == 1.0  # within range: unchanged, results as before
    assert units[1] == 2.0 ** (np.frexp(3e38)[1] - 120) and units[2] == 2.0 ** (np.frexp(5e39)[1] - 120)
    scaled = R / units
    assert np.isfinite(scaled.astype(np.float32)).all()
    assert np.array_equal(scaled * units, R)  # exact: a power of two


def test_numbers_and_levels_render_as_plain_sql():
    assert rulesql.number_sql(5.0) == "5" and rulesql.number_sql(-0.25) == "-0.25"
    assert rulesql.number_sql(0.1 + 0.2) == "0.30000000000000004e0"  # a DOUBLE, not a DECIMAL, in DuckDB
    assert rules_mod.nicest_between(1.19, 1.234) == 1.2 and rules_mod.nicest_between(3.0, 5.0) == 5.0
    level = {"feature": 1, "kind": "levels", "equal": "O'Hara", "not_in": [], "null": False}
    assert rulesql.term_sql(level, '"region"') == "\"region\" = 'O''Hara'"
    either = {"feature": 1, "kind": "levels", "equal": None, "not_in": ["A", "B"], "null": True}
    assert rulesql.term_sql(either, "x1") == "(x1 NOT IN ('A', 'B') OR x1 IS NULL)"
    coded = {"feature": 1, "kind": "range", "lower": 5.0, "lower_inclusive": True, "upper": None,
             "upper_inclusive": True, "null": False, "exclude": [99.0], "also": []}
    assert rulesql.term_sql(coded, '"q"') == '"q" >= 5 AND "q" <> 99'
    imputed = dict(coded, null=True, exclude=[], also=[-1.0], upper=7.0)
    assert rulesql.term_sql(imputed, '"q"') == '("q" BETWEEN 5 AND 7 OR "q" IS NULL OR "q" IN (-1))'


def test_likert_codes_outside_the_scale_are_left_out_by_its_other_end():
    from segdb.define.features import Feature
    f = Feature("q", kind="likert", scale_min=1, scale_max=7, codes=(9,))
    term = rules_mod.RulesJob._range_term(f, 1, (5.0, True), None, False)
    assert rulesql.term_sql(term, '"q"') == '"q" BETWEEN 5 AND 7'
    term = rules_mod.RulesJob._range_term(f, 1, None, (4.0, True), False)
    assert rulesql.term_sql(term, '"q"') == '"q" <= 4'
