"""PostgreSQL's statistics scan (segdb.define.sqlgen.stats_query, translated): the non-finite check
(``x - x = 0``) finds each NaN and infinity and passes every finite value, down to the extremes;
the input fingerprint (a record hash per row, xored) ignores the rows' order and sees a value
moved from one customer to another."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import segdb
from engines import load_table, query
from segdb.errors import DataError

pytestmark = pytest.mark.usefixtures("one_blas_thread")

ROWS = [(1, 1.0, 5.0), (2, 2.0, 1e6), (3, 3.0, 1e-300), (4, 4.0, -1e6), (5, 5.5, 0.0), (6, 6.0, -0.0)]
LARGEST = 1.7976931348623157e308


def _put(db, name: str, rows) -> None:
    db.con.native(f"DROP TABLE IF EXISTS {name}")
    db.con.native(f"CREATE TABLE {name} (id bigint, a double precision, b double precision)")
    for row in rows:
        db.con.native(f"INSERT INTO {name} VALUES (%s, %s::float8, %s::float8)", list(row))


def _fingerprint(db, name: str) -> str:
    run = db.refresh(name)
    return db.sql("SELECT input_fingerprint FROM segdb.runs WHERE run_id = %s",
                  params=[run.run_id]).to_pylist()[0]["input_fingerprint"]


def test_every_finite_value_passes_and_each_nan_and_infinity_is_counted(postgres_url):
    with segdb.connect(postgres_url) as db:
        _put(db, "extremes", ROWS)
        db.create("x", source="extremes", key="id", features=["a", "b"], k=2)
        db.refresh("x")  # large, tiny and signed-zero doubles are finite
        _put(db, "extremes", ROWS + [(7, 1.0, LARGEST)])  # finite, but its square is not: one clear line
        with pytest.raises(DataError, match=r"^the features of the source of x \(table extremes\) hold "
                                            r"values too large to sum \(.*overflow.*\); rescale them"):
            db.refresh("x")
        _put(db, "extremes", ROWS + [(7, 1.0, "NaN"), (8, 2.0, "Infinity"), (9, 3.0, "-Infinity")])
        with pytest.raises(DataError, match=r"feature 'b' has 3 NaN or infinite values"):
            db.refresh("x")


def test_the_fingerprint_ignores_row_order_and_sees_a_value_moved(postgres_url):
    with segdb.connect(postgres_url) as db:
        _put(db, "fp", ROWS)
        db.create("fp", source="fp", key="id", features=["a", "b"], k=2)
        first = _fingerprint(db, "fp")
        _put(db, "fp", list(reversed(ROWS)))
        assert _fingerprint(db, "fp") == first
        swapped = [(1, 2.0, 5.0), (2, 1.0, 1e6)] + ROWS[2:]  # a of customers 1 and 2
        _put(db, "fp", swapped)
        assert _fingerprint(db, "fp") != first


SPANNING = [(1, 1.0, 1e30), (2, 2.0, -1e30), (3, 3.0, 1e-300), (4, 4.0, 1e30), (5, 5.5, -1e30), (6, 6.0, 0.0)]
UNDERFLOW = (r"^feature 'b' of the source of u \(table spanning\) holds nonzero values too close to 0 beside "
             r"its spread for PostgreSQL's doubles \(value out of range: underflow\); rescale in a source "
             r"SELECT, e\.g\. CASE WHEN abs\(\"b\"\) < 1e-150 THEN 0 ELSE \"b\" END \(DuckDB rounds them to 0\)$")


def _runs(db) -> int:
    return db.sql("SELECT count(*) AS n FROM segdb.runs").to_pylist()[0]["n"]


def test_an_underflow_names_the_feature_and_the_fix(postgres_url, tmp_path):
    """1e-300 beside +-1e30: its z-score (about 1e-330) is 0 on DuckDB, an error on PostgreSQL,
    which then says which feature and what to do, and writes nothing."""
    with segdb.connect(postgres_url) as db:
        _put(db, "spanning", SPANNING)
        db.create("u", source="spanning", key="id", features=["a", "b"], k=2)
        with pytest.raises(DataError, match=UNDERFLOW):
            db.refresh("u")
        assert _runs(db) == 0
        # the advice works: the tiny value read as 0, as DuckDB reads its z-score
        db.con.native("CREATE VIEW spanning_fixed AS SELECT id, a, "
                      "CASE WHEN abs(b) < 1e-150 THEN 0 ELSE b END AS b FROM spanning")
        db.create("fixed", source="spanning_fixed", key="id", features=["a", "b"], k=2)
        assert db.refresh("fixed").rows_used == len(SPANNING)
    with segdb.connect(str(tmp_path / "same.duckdb")) as duck:
        duck.sql("CREATE TABLE spanning (id BIGINT, a DOUBLE, b DOUBLE)")
        duck.sql("INSERT INTO spanning VALUES " + ", ".join(["(?, ?, ?)"] * len(SPANNING)),
                 params=[v for row in SPANNING for v in row])
        duck.create("u", source="spanning", key="id", features=["a", "b"], k=2)
        assert duck.refresh("u").rows_used == len(SPANNING)


def test_an_underflow_outside_the_bounded_sample_is_named_by_the_scoring_pass(postgres_url):
    """A bounded fit reads a sample; the two tiny values sit in the rows neither sample draws, so
    the scoring pass over every row meets them (segdb.refresh.fit.score), and names them the same
    way. The others, +-1e30 in equal numbers, keep the mean 0 or tiny (their sums are exact)."""
    n = 30_000
    # the rows hashed last by the samples' rule (segdb.engines.dialects.key_hash, seed 0): in neither
    last = [r[0] for r in query(postgres_url, f"SELECT i FROM generate_series(1, {n}) AS g(i) "
                                              "ORDER BY hashint8extended(i, 0) DESC LIMIT 2")]
    others = np.setdiff1d(np.arange(1, n + 1), last)
    ids = np.concatenate([others, last])
    b = np.concatenate([np.where(np.arange(n - 2) % 2 == 0, 1e30, -1e30), [1e-300, -1e-300]])
    a = np.random.default_rng(3).normal(0, 1, n)
    load_table(postgres_url, "spanning", pa.table({"id": pa.array(ids), "a": pa.array(a), "b": pa.array(b)}))
    with segdb.connect(postgres_url) as db:
        db.create("u", source="spanning", key="id", features=["a", "b"], k=2, max_fit_rows=1000)
        with pytest.raises(DataError, match=UNDERFLOW):
            db.refresh("u")
        assert _runs(db) == 0


def test_a_weighted_statistics_underflow_names_the_feature(postgres_url):
    """A weighted definition's standard deviation squares each deviation from the weighted mean;
    deviations of 1e-170 square to below the smallest double, which PostgreSQL refuses. The
    statistics then name the feature the same way, and nothing is written."""
    tiny = [(1, 1.0, 1e-170), (2, 2.0, 3e-170), (3, 3.0, 1e-170), (4, 4.0, 3e-170), (5, 5.0, 2e-170)]
    with segdb.connect(postgres_url) as db:
        db.con.native("CREATE TABLE weighted (id bigint, a double precision, b double precision, "
                      "w double precision)")
        for row in tiny:
            db.con.native("INSERT INTO weighted VALUES (%s, %s::float8, %s::float8, 1.5)", list(row))
        db.create("u", source="weighted", key="id", features=["a", "b"], k=2, weight="w")
        with pytest.raises(DataError, match=r"^feature 'b' of the source of u \(table weighted\) holds nonzero "
                                            r"values too close to 0 beside its spread for PostgreSQL's doubles"):
            db.refresh("u")
        assert _runs(db) == 0
