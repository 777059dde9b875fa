"""Features defined by a SQL expression over the source: computed by the database, checked to be
one row-wise expression (never a second statement), re-checked when the source changes."""

from __future__ import annotations

import numpy as np
import pytest

from segdb.errors import DefinitionError


@pytest.fixture
def toy(db):
    db.sql("CREATE TABLE t AS SELECT range AS id, (range * 7 % 11)::DOUBLE AS x, "
           "(range * 5 % 13)::INTEGER AS y, 'n' || range AS label FROM range(40)")
    return db


def test_expression_features_match_numpy(toy):
    toy.create("e", source="t", key="id", k=2, features=[
        {"name": "log_x", "expr": "ln(1 + x)"}, {"name": "xy", "expr": "x * y"},
        {"name": "band", "expr": "CASE WHEN y < 6 THEN 'low' ELSE 'high' END", "kind": "category"}])
    toy.refresh("e")
    ids = np.arange(40)
    x, y = (ids * 7 % 11).astype(float), (ids * 5 % 13).astype(float)
    stats = {s["feature"]: s for s in toy.show("e").feature_stats}
    assert stats["log_x"]["mean"] == pytest.approx(np.log1p(x).mean(), rel=1e-7)
    assert stats["xy"]["stddev"] == pytest.approx((x * y).std(), rel=1e-7)
    assert stats["band=low"]["mean"] == pytest.approx((y < 6).mean(), rel=1e-7)
    assert sorted(stats) == ["band=high", "band=low", "log_x", "xy"]


@pytest.mark.parametrize("expr,message", [
    ("sum(x)", r"^feature 'f': expr 'sum\(x\)' is not a row-wise expression over table t: "
               r"Binder Error: .*; write one expression over the source's columns \(aggregates belong in a "
               r"grouped source SELECT\)$"),
    ("x) FROM t; DROP TABLE t; SELECT (x", r"^feature 'f': expr must be one SQL expression, not "
                                           r"'x\) FROM t; DROP TABLE t; SELECT \(x'$"),
    # parsed as one expression (DuckDB's parser, segdb.define.access) before anything runs
    ("x) AS a, (y", r"^feature 'f': expr must be one SQL expression, not 'x\) AS a, \(y'$"),
    ("x, y", r"^feature 'f': expr must be one SQL expression, not 'x, y'$"),
    ("x) AS v FROM t UNION ALL SELECT 999, (1",
     r"^feature 'f': expr must be one SQL expression, not 'x\) AS v FROM t UNION ALL SELECT 999, \(1'$"),
    ("upper(label)", r"^feature 'f' expr 'upper\(label\)' has type VARCHAR, not a number; cast it "
                     r"\(e.g. CAST\(upper\(label\) AS DOUBLE\)\), declare it a category \(kind='category'\), or drop it$"),
    ("nosuch + 1", r"^feature 'f': expr 'nosuch \+ 1' is not a row-wise expression over table t: Binder Error"),
])
def test_bad_expressions_are_refused(toy, expr, message):
    with pytest.raises(DefinitionError, match=message):
        toy.create("bad", source="t", key="id", k=2, features=["x", {"name": "f", "expr": expr}])
    assert toy.sql("SELECT count(*) AS n FROM t").column("n").to_pylist() == [40]  # nothing ran
    assert toy.names() == []


def test_expression_rechecked_when_the_source_changes(toy):
    toy.create("e", source="t", key="id", k=2, features=["x", {"name": "y2", "expr": "y * y"}])
    toy.sql("CREATE OR REPLACE TABLE t AS SELECT id, x FROM t")
    with pytest.raises(DefinitionError, match=r"^feature 'y2': expr 'y \* y' is not a row-wise "
                                              r"expression over table t: Binder Error"):
        toy.refresh("e")
