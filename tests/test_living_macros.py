"""The <name>_assign / <name>_distance macros against Python nearest-centroid: 100,000 random rows,
ties (lowest segment id wins), NULL arguments, and the macros following refreshes and rollbacks."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from living_helpers import FEATURES, blobs, write_table

ARGS = ", ".join('"' + f.replace('"', '""') + '"' for f in FEATURES)


def python_nearest(X: np.ndarray, centers, scales, centroids, ids):
    """Nearest centroid in the run's scaled units; ties -> the first (lowest) id; like the SQL, the
    squared distance is summed feature by feature, left to right."""
    T = (X - np.asarray(centers)) / np.asarray(scales)
    D = np.empty((X.shape[0], len(ids)))
    for j, c in enumerate(centroids):
        acc = (T[:, 0] - c[0]) * (T[:, 0] - c[0])
        for i in range(1, T.shape[1]):
            acc = acc + (T[:, i] - c[i]) * (T[:, i] - c[i])
        D[:, j] = acc
    best = np.argmin(D, axis=1)  # first minimum: ids are ascending
    return np.asarray(ids)[best], np.sqrt(D[np.arange(len(best)), best])


def stored_model(db, name):
    s = db.show(name)
    centers = [f["center"] for f in s.feature_stats]
    scales = [f["scale"] for f in s.feature_stats]
    matrix = s.centroid_matrix("value_scaled")
    ids = sorted(matrix)
    return centers, scales, [matrix[i] for i in ids], ids


def test_macros_equal_python_nearest_centroid_on_100000_random_rows(db):
    rng = np.random.default_rng(11)
    X, _ = blobs(rng, [300, 250, 200, 150], sd=2.0)
    write_table(db.con, "survey", np.arange(1, 901), X)
    db.create("ins", source="survey", key="customer_id", features=FEATURES, k=4)
    db.refresh("ins")
    R = rng.uniform(-6.0, 16.0, size=(100_000, 3))
    write_table(db.con, "new_responses", np.arange(100_000), R)
    got = db.sql(f"SELECT customer_id, ins_assign({ARGS}) AS a, ins_distance({ARGS}) AS d "
                 "FROM new_responses ORDER BY customer_id")
    want_ids, want_dist = python_nearest(R, *stored_model(db, "ins"))
    assert np.array_equal(np.array(got.column("a").to_pylist()), want_ids)
    np.testing.assert_allclose(np.array(got.column("d").to_pylist()), want_dist, rtol=1e-7, atol=1e-9)
    assert len(set(want_ids.tolist())) == 4

    # On the fitted rows, the macro gives the stored label and distance.
    fitted = db.sql(f"SELECT s.segment_id, s.distance, ins_assign({ARGS}) AS a, ins_distance({ARGS}) AS d "
                    "FROM survey JOIN ins_segments AS s USING (customer_id)").to_pydict()
    assert fitted["a"] == fitted["segment_id"]
    np.testing.assert_allclose(fitted["d"], fitted["distance"], rtol=1e-7, atol=1e-9)


@pytest.fixture
def ties_db(db):
    # scale=none keeps the arithmetic exact: centroids (-2,0,0) [4 rows, id 1], (2,0,0) [3 rows,
    # id 2], (0,2,0) [2 rows, id 3]; the third feature varies around 0 within each group.
    X = np.array([[-2.0, 0, 1], [-2.0, 0, -1], [-2.0, 0, 1], [-2.0, 0, -1],
                  [2.0, 0, 1], [2.0, 0, -1], [2.0, 0, 0], [0.0, 2, 1], [0.0, 2, -1]])
    write_table(db.con, "pts", np.arange(1, 10), X)
    db.create("toy", source="pts", key="customer_id", features=FEATURES, k=3, scale="none")
    db.refresh("toy")
    return db


@pytest.mark.parametrize("point, segment, distance", [
    ((0.0, 0.0, 0.0), 1, 2.0),          # 4 = 4 = 4: three-way tie, lowest id
    ((1.0, 1.0, 0.0), 2, np.sqrt(2)),   # ids 2 and 3 both at 2, id 1 at 10
    ((-1.0, 1.0, 7.0), 1, np.sqrt(51)), # ids 1 and 3 both at 2 + 49
    ((2.0, 0.1, 0.0), 2, 0.1),          # no tie
])
def test_ties_go_to_the_lowest_segment_id(ties_db, point, segment, distance):
    centers, scales, centroids, ids = stored_model(ties_db, "toy")
    assert ids == [1, 2, 3] and centroids == [[-2.0, 0, 0], [2.0, 0, 0], [0, 2.0, 0]]
    row = ties_db.sql("SELECT toy_assign(?, ?, ?) AS a, toy_distance(?, ?, ?) AS d",
                      [*point, *point]).to_pylist()[0]
    assert row["a"] == segment
    assert row["d"] == pytest.approx(distance, rel=1e-15)
    want_id, want_d = python_nearest(np.array([point]), centers, scales, centroids, ids)
    assert (row["a"], row["d"]) == (want_id[0], want_d[0])


@pytest.mark.parametrize("point", [(None, 0.0, 0.0), (0.0, None, 0.0), (0.0, 0.0, None),
                                   (None, None, None)])
def test_null_arguments_give_null(ties_db, point):
    row = ties_db.sql("SELECT toy_assign(?::DOUBLE, ?::DOUBLE, ?::DOUBLE) AS a, "
                      "toy_distance(?::DOUBLE, ?::DOUBLE, ?::DOUBLE) AS d", [*point, *point]).to_pylist()
    assert row == [{"a": None, "d": None}]


def test_null_arguments_give_null_under_nulls_mean(db):
    rng = np.random.default_rng(2)
    X, _ = blobs(rng, [30, 20])
    write_table(db.con, "t", np.arange(1, 51), X)
    db.sql(f'UPDATE t SET "{FEATURES[2]}" = NULL WHERE customer_id = 3')
    db.create("m", source="t", key="customer_id", features=FEATURES, k=2, nulls="mean")
    db.refresh("m")
    row = db.sql(f"SELECT m_assign({ARGS}) AS a FROM t WHERE customer_id = 3").to_pylist()
    assert row == [{"a": None}]


def test_macros_follow_refresh_and_rollback_and_persist(db, db_path):
    rng = np.random.default_rng(5)
    X, _ = blobs(rng, [300, 200, 100])
    write_table(db.con, "t", np.arange(1, 601), X)
    db.create("s", source="t", key="customer_id", features=FEATURES, k=2)
    run2 = db.refresh("s")
    db.create("s", source="t", key="customer_id", features=FEATURES, k=3, replace=True)
    db.refresh("s")
    query = f"SELECT count(DISTINCT s_assign({ARGS})) AS n FROM t"
    assert db.sql(query).to_pylist() == [{"n": 3}]
    params = db.sql("SELECT parameters FROM duckdb_functions() WHERE function_name = 's_assign'")
    assert params.column(0).to_pylist() == [["x1", "x2", "x3"]]
    db.rollback("s")
    assert db.sql(query).to_pylist() == [{"n": 2}]
    same = db.sql(f"SELECT bool_and(s_assign({ARGS}) = g.segment_id) AS ok FROM t "
                  "JOIN s_segments AS g USING (customer_id)").to_pylist()
    assert same == [{"ok": True}]
    assert db.sql("SELECT DISTINCT run_id FROM s_segments").column(0).to_pylist() == [run2.run_id]
    db.close()
    con = duckdb.connect(db_path, read_only=True)  # plain DuckDB, no segdb: the macros are stored
    try:
        assert con.execute(query).fetchall() == [(2,)]
    finally:
        con.close()
