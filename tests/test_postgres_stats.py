"""PostgreSQL's statistics scan (segdb.define.sqlgen.stats_query, translated): the non-finite check
(``x - x = 0``) finds each NaN and infinity and passes every finite value, down to the extremes;
the input fingerprint (a record hash per row, xored) ignores the rows' order and sees a value
moved from one customer to another."""

from __future__ import annotations

import pytest

import segdb
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
