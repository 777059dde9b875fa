"""When segdb refuses a feature as constant or too little varying (segdb.refresh.stats._scaling), by hand.

The rule, over the rows used: min == max is constant ("the same value on every row used");
0 < max - min < 1e-140 varies by less than floating point can standardise (the squares in its
standard deviation are denormal or 0: [0, 0, 0, 1.1e-284] has stddev 0 in SQL and in numpy, and
[1e-300, 2e-300, 3e-300] is not constant); from 1e-140 on it is standardised. min and max are exact,
so the rule does not depend on the engine or the summation order. With survey weights a feature whose
values differ only on rows of weight 0 has a weighted stddev of 0 and is refused under zscore.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from segdb.refresh import stats
from segdb.errors import DataError


def refresh(db, values, scale="zscore", weights=None):
    n = len(values)
    columns = {"id": pa.array(range(1, n + 1), pa.int64()), "x": pa.array(values, pa.float64()),
               "y": pa.array([float(i % 3) for i in range(n)], pa.float64())}
    if weights is not None:
        columns["w"] = pa.array(weights, pa.float64())
    db.con.register("segdb_test_source", pa.table(columns))
    db.sql("CREATE OR REPLACE TABLE src AS SELECT * FROM segdb_test_source")
    db.con.unregister("segdb_test_source")
    db.create("s", source="src", key="id", features=["x", "y"], k=2, scale=scale, replace=True,
              **({"weight": "w"} if weights is not None else {}))
    return db.refresh("s")


def test_the_threshold_is_1e_140():
    assert stats.MIN_SPREAD == 1e-140
    assert stats.MIN_STDDEV == pytest.approx(1.4916681462400413e-154, rel=1e-15)  # sqrt(2**-1022)
    assert stats.MIN_STDDEV ** 2 >= 2.0 ** -1022  # its square is a normal double


@pytest.mark.parametrize("scale", ["zscore", "minmax", "none"])
def test_constant_feature_is_refused_as_constant(db, scale):
    with pytest.raises(DataError) as err:
        refresh(db, [5.0, 5.0, 5.0, 5.0, 5.0, 5.0], scale)
    assert str(err.value) == ("feature 'x' has the same value on every row used (zero variance), so it "
                              "cannot separate segments; drop it from the definition")


@pytest.mark.parametrize("scale", ["zscore", "minmax", "none"])
def test_tiny_but_varying_feature_is_refused_truthfully(db, scale):
    # mean 2.75e-285; squared deviations ~1e-569 underflow to 0, so the stddev is 0 (numpy agrees)
    with pytest.raises(DataError) as err:
        refresh(db, [0.0, 0.0, 0.0, 1.1e-284, 0.0, 0.0], scale)
    assert str(err.value) == ("feature 'x' varies by less than floating point can standardise "
                              "(max - min = 1.1e-284, stddev 0 on the rows used); rescale it in a source "
                              "SELECT, e.g. multiply it by a power of ten")


def test_values_around_1e_300_are_not_called_constant(db):
    with pytest.raises(DataError) as err:
        refresh(db, [1e-300, 2e-300, 3e-300, 1e-300, 2e-300, 3e-300])
    message = str(err.value)
    assert "same value" not in message
    assert message.startswith("feature 'x' varies by less than floating point can standardise "
                              "(max - min = 2e-300, stddev ")


def test_denormal_stddev_is_refused(db):
    # max - min = 1e-150 < 1e-140: the squared deviations (2.5e-301) lose digits near the denormals
    with pytest.raises(DataError, match=r"^feature 'x' varies by less than floating point can "
                                        r"standardise \(max - min = 1e-150, "):
        refresh(db, [1e-150, 2e-150, 1e-150, 2e-150, 1e-150, 2e-150])


@pytest.mark.parametrize("scale, center, scale_value", [
    ("zscore", 5e-141, 5e-141),  # mean and population sd of three 0s and three 1e-140s, by hand
    ("minmax", 0.0, 1e-140),
    ("none", 0.0, 1.0),
])
def test_spread_of_exactly_1e_140_is_standardised(db, scale, center, scale_value):
    refresh(db, [0.0, 1e-140, 0.0, 1e-140, 0.0, 1e-140], scale)
    x = db.show("s").feature_stats[0]
    assert (x["min"], x["max"]) == (0.0, 1e-140)
    assert x["center"] == pytest.approx(center, rel=1e-12)
    assert x["scale"] == pytest.approx(scale_value, rel=1e-12)
    z = sorted({r[0] for r in db.con.execute("SELECT (x - ?) / ? FROM src", [x["center"], x["scale"]]).fetchall()})
    want = {"zscore": [-1.0, 1.0], "minmax": [0.0, 1.0], "none": [0.0, 1e-140]}[scale]
    assert z == pytest.approx(want, rel=1e-12) and all(math.isfinite(v) for v in z)


def test_weighted_feature_varying_only_on_weight_zero_rows_is_refused(db):
    # weighted mean 1 (the weight-0 rows do not count), weighted sd 0, yet min 1 != max 3
    with pytest.raises(DataError) as err:
        refresh(db, [1.0, 1.0, 1.0, 1.0, 2.0, 3.0], weights=[1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    assert str(err.value) == ("feature 'x' has a weighted standard deviation of 0 on the rows used, too "
                              "small to standardise: its values differ (almost) only on rows of weight 0; "
                              "drop the feature, or use scale='minmax'")
    run = refresh(db, [1.0, 1.0, 1.0, 1.0, 2.0, 3.0], "minmax", weights=[1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    assert run.rows_used == 6
