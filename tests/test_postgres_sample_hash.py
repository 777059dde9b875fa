"""PostgreSQL's bounded fit sample (segdb.refresh.sampling): an integer key is hashed as an integer
(``hashint8extended(key, seed)``, segdb.engines.dialects.key_hash), any other key by its text, as
before. The sample is the rows whose hash, shifted into [0, 2^64), is below the threshold: the
labels' ``fitted`` flag names the same rows, the run's fit_rows counts them, and they do not depend
on the order rows are stored in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import segdb
from engines import load_table, postgres_conninfo
from segdb.engines.translate import translate
from segdb.refresh.sampling import HASH_RANGE, threshold_for

pytestmark = pytest.mark.usefixtures("one_blas_thread")

N, MAX_FIT_ROWS = 3000, 1000
SHIFT = 2 ** 63


def _points(keys: np.ndarray, key_type: pa.DataType) -> pa.Table:
    rng = np.random.default_rng(5)
    centres = rng.normal(0, 4, (3, 2))
    X = centres[rng.integers(0, 3, len(keys))] + rng.normal(0, 1, (len(keys), 2))
    return pa.table({"id": pa.array(keys, type=key_type), "a": pa.array(X[:, 0]), "b": pa.array(X[:, 1])})


def _fitted(db, name: str) -> tuple[set, int]:
    run = db.refresh(name)
    keys = {r["segdb_key"] for r in db.sql(f"SELECT segdb_key FROM segdb.{name}_labels WHERE run_id = %s "
                                            "AND fitted", params=[run.run_id]).to_pylist()}
    fit_rows = db.sql("SELECT fit_rows FROM segdb.runs WHERE run_id = %s",
                      params=[run.run_id]).to_pylist()[0]["fit_rows"]
    return keys, fit_rows


def _pg(url: str, statement: str, params: list) -> list[tuple]:
    import psycopg
    with psycopg.connect(**postgres_conninfo(url), autocommit=True) as con:
        return con.execute(statement, params).fetchall()


def _rows_below(url: str, hashed: str, seed: int, threshold: int) -> set:
    """Keys of ``pts`` whose hash (an SQL expression of id and the seed %s, written out here, not
    translated) + 2^63 is below the threshold."""
    rows = _pg(url, f"SELECT id FROM pts WHERE ({hashed})::numeric + {SHIFT} < %s::numeric", [seed, threshold])
    return {r[0] for r in rows}


@pytest.mark.parametrize("key_type", [pa.int16(), pa.int32(), pa.int64()], ids=["smallint", "integer", "bigint"])
def test_an_integer_key_is_sampled_by_its_integer_hash_in_any_row_order(postgres_url, key_type):
    keys = np.arange(N, dtype=np.int64) - N // 2  # negative keys too
    load_table(postgres_url, "pts", _points(keys, key_type))
    threshold = threshold_for(MAX_FIT_ROWS, N)
    with segdb.connect(postgres_url) as db:
        db.create("s", source="pts", key="id", features=["a", "b"], k=3, max_fit_rows=MAX_FIT_ROWS)
        fitted, fit_rows = _fitted(db, "s")
        want = _rows_below(postgres_url, "hashint8extended(id::bigint, %s::bigint)", 0, threshold)
        assert fitted == want and fit_rows == len(want)
        # the expected size: about max_fit_rows - 4 sd, never above it
        sd = (MAX_FIT_ROWS * (1 - MAX_FIT_ROWS / N)) ** 0.5
        assert MAX_FIT_ROWS - 9 * sd < len(fitted) <= MAX_FIT_ROWS
        # the rows stored in another order: the same sample
        db.con.native("CREATE TABLE pts_shuffled AS SELECT * FROM pts ORDER BY md5(id::text)")
        db.con.native("DROP TABLE pts")
        db.con.native("ALTER TABLE pts_shuffled RENAME TO pts")
        assert _fitted(db, "s") == (fitted, fit_rows)
        # another seed: another sample, by the same rule
        db.create("s7", source="pts", key="id", features=["a", "b"], k=3, max_fit_rows=MAX_FIT_ROWS, seed=7)
        fitted7, _ = _fitted(db, "s7")
        assert fitted7 == _rows_below(postgres_url, "hashint8extended(id::bigint, %s::bigint)", 7, threshold)
        assert fitted7 != fitted


def test_a_text_key_keeps_its_text_hash(postgres_url):
    keys = np.array([f"c{i:05d}" for i in range(N)])
    load_table(postgres_url, "pts", _points(keys, pa.string()))
    with segdb.connect(postgres_url) as db:
        db.create("t", source="pts", key="id", features=["a", "b"], k=3, max_fit_rows=MAX_FIT_ROWS)
        fitted, fit_rows = _fitted(db, "t")
    want = _rows_below(postgres_url, "hashtextextended(concat_ws(E'\\x1f', id, %s::bigint::text), 0)", 0,
                       threshold_for(MAX_FIT_ROWS, N))
    assert fitted == want and fit_rows == len(want)


@pytest.mark.parametrize("share", [0.05, 0.5, 0.9])
def test_the_integer_hash_spreads_over_the_whole_range(postgres_url, share):
    """The translated filter keeps each row with probability threshold / 2^64: the signed
    hashint8extended is compared in [0, 2^64), not as a signed number."""
    n, threshold = 200_000, int(share * HASH_RANGE)
    (statement,) = translate("SELECT count(*) FROM generate_series(-100000, 99999) AS g(i) "
                             "WHERE hash(CAST(i AS BIGINT), ?::BIGINT) < ?::UBIGINT", "postgresql")
    assert "hashint8extended" in statement
    kept = _pg(postgres_url, statement, [3, threshold])[0][0]
    assert abs(kept - share * n) < 5 * (n * share * (1 - share)) ** 0.5
