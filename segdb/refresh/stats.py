"""Per-feature statistics computed by the database in one scan, and the checks they allow.

The checks run before anything is written: NULL or duplicate keys, NULL features under
nulls=error, NaN/Inf, overflowing values, constant features, too few rows for k; and PostgreSQL's
underflow, wherever its arithmetic on the features raises it, named (:func:`naming_underflow`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys

import duckdb

from ..cluster.kmeans import too_few_rows_message
from ..store.database import translate
from ..define.definitions import Definition
from ..errors import DatabaseError, DataError
from ..engines.quoting import quote_identifier
from ..engines.result import first_line
from ..define.features import feature_sql
from ..define.sqlgen import stats_query, used_condition
from ..engines import dialect_of
from ..engines.base import ENGINE_ERRORS, Engine
from ..engines.quoting import sql_literal


@dataclasses.dataclass(frozen=True)
class FeatureStats:
    feature_no: int
    feature: str
    n_rows: int
    n_null: int
    mean: float | None
    stddev: float | None
    min: float | None
    max: float | None
    center: float
    scale: float


@dataclasses.dataclass(frozen=True)
class SourceStats:
    rows_total: int
    rows_used: int
    rows_skipped: int
    fingerprint: str
    features: tuple[FeatureStats, ...]


# The smallest spread (max - min over the rows used) segdb standardises. Below it the squares in a
# standard deviation leave the normal doubles (a squared deviation under 2.2e-308 is denormal or 0),
# so the stddev is inexact or 0 and any scaling built on it meaningless or inf/NaN. With
# max - min >= 1e-140 the population sd is at least 1e-140 / sqrt(2n) >= 7e-148 for up to 1e15
# rows, whose square (5e-295) is still a normal double. A property of the data, not of the
# summation order: min and max are exact, so the rule is the same on every engine and in numpy.
MIN_SPREAD = 1e-140
# The smallest standard deviation a z-score divides by: its square is a normal double. Unweighted,
# MIN_SPREAD guarantees it; with survey weights it fails when the values differ only on rows of
# weight 0 (a weighted stddev of 0) or by too little on the others.
MIN_STDDEV = math.sqrt(sys.float_info.min)  # 1.49e-154


def _scaling(d: Definition, name: str, mean, stddev, lo, hi) -> tuple[float, float]:
    """Center and scale of one feature, or a DataError when it cannot be standardised, checked in
    this order over the rows used (lo/hi: min/max, exact; stddev: population, weighted if any):

    * too large: max - min overflows a double, or (zscore, none) the stddev does;
    * constant: min == max (the same value on every row used), under every scale mode;
    * too little variation: 0 < max - min < MIN_SPREAD, under every scale mode;
    * (zscore) a stddev below MIN_STDDEV, reachable only with survey weights.
    """
    spread = hi - lo
    stddev = math.nan if stddev is None else stddev
    if not math.isfinite(spread) or (d.scale != "minmax" and not math.isfinite(stddev)):
        raise DataError(f"feature {name!r} has values too large to standardise (its spread overflows "
                        "a double); rescale it in a source SELECT, e.g. divide by 1e6")
    if spread == 0.0:
        raise DataError(f"feature {name!r} has the same value on every row used (zero variance), so "
                        "it cannot separate segments; drop it from the definition")
    if spread < MIN_SPREAD:
        raise DataError(f"feature {name!r} varies by less than floating point can standardise "
                        f"(max - min = {spread:.3g}, stddev {stddev:.3g} on the rows used); rescale it "
                        "in a source SELECT, e.g. multiply it by a power of ten")
    if d.scale == "zscore" and not stddev >= MIN_STDDEV:
        raise DataError(f"feature {name!r} has a weighted standard deviation of {stddev:.3g} on the rows "
                        "used, too small to standardise: its values differ (almost) only on rows of "
                        "weight 0; drop the feature, or use scale='minmax'")
    if d.scale == "zscore":
        center, scale = mean, stddev
    elif d.scale == "minmax":
        center, scale = lo, spread
    else:
        center, scale = 0.0, 1.0
    return float(center), float(scale)


# PostgreSQL's float8 arithmetic raises this where DuckDB and numpy round to 0 (or a denormal):
# a product or quotient of nonzero doubles below the smallest denormal, e.g. a feature spanning
# +-1e150 beside 1e-300, whose z-score (1e-300 / 1e150) or square (1e-600) is not a double.
PG_UNDERFLOW = "value out of range: underflow"


def underflowing_features(con: Engine, d: Definition, relation: str,
                          features: tuple[FeatureStats, ...] | None = None) -> list[str]:
    """Names of the features with a nonzero value whose square underflows (below MIN_STDDEV, the
    square root of the smallest normal double, in magnitude), or, given the statistics, that close
    to their center in scales (its z-score or the z-score's square underflows). One scan, run only
    after PostgreSQL raised PG_UNDERFLOW, to name the culprits."""
    counts, params = [], []
    for i, f in enumerate(d.features):
        x = f"CAST({feature_sql(f)} AS DOUBLE)"
        near = f"({x} <> 0 AND abs({x}) < ?)"
        params.append(MIN_STDDEV)
        if features is not None:
            near += f" OR ({x} <> ? AND abs({x} - ?) < ?)"
            params += [features[i].center, features[i].center, features[i].scale * MIN_STDDEV]
        counts.append(f"count(CASE WHEN {near} THEN 1 END)")
    try:
        row = con.execute(f"SELECT {', '.join(counts)} FROM {relation} AS segdb_source "
                          f"WHERE {used_condition(d)}", params).fetchall()[0]
    except ENGINE_ERRORS:
        return []
    return [f.name for f, n in zip(d.features, row) if n]


def _underflow_message(names: list[str], where: str, cause: str) -> str:
    several = len(names) > 1
    which = (f"feature{'s' if several else ''} {', '.join(repr(n) for n in names)}" if names
             else "a feature")
    x = quote_identifier(names[0]) if names else "x"
    return (f"{which} of {where} {'hold' if several else 'holds'} nonzero values too close to 0 "
            f"beside {'their' if several else 'its'} spread for PostgreSQL's doubles ({cause}); "
            f"rescale in a source SELECT, e.g. CASE WHEN abs({x}) < 1e-150 THEN 0 ELSE {x} END "
            "(DuckDB rounds them to 0)")


class Underflow(DataError):
    """PostgreSQL's underflow on a segmentation's features, not yet named: the scan that names them
    cannot run in the transaction the error aborted (segdb.store.database.read_only_reads), so
    :func:`underflow_named` runs it after that transaction, around it."""

    def __init__(self, con: Engine, d: Definition, relation: str, where: str, exc: BaseException,
                 features: tuple[FeatureStats, ...] | None = None):
        engine_error = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ else exc
        self.con, self.d, self.relation, self.where, self.features = con, d, relation, where, features
        self.cause = first_line(engine_error)
        super().__init__(_underflow_message([], where, self.cause))

    def named(self) -> DataError:
        names = underflowing_features(self.con, self.d, self.relation, self.features)
        return DataError(_underflow_message(names, self.where, self.cause))


@contextlib.contextmanager
def naming_underflow(con: Engine, d: Definition, relation: str, where: str,
                     features: tuple[FeatureStats, ...] | None = None):
    """A PostgreSQL underflow raised inside (an engine error, or one already translated into a
    segdb DatabaseError) becomes an :class:`Underflow`."""
    try:
        yield
    except (DatabaseError, *ENGINE_ERRORS) as exc:
        if PG_UNDERFLOW not in str(exc):
            raise
        raise Underflow(con, d, relation, where, exc, features) from exc


@contextlib.contextmanager
def underflow_named(con: Engine):
    """Around the transaction of the reads: an :class:`Underflow` raised inside leaves as a
    DataError naming the features (the transaction rolled back, so the naming scan can run)."""
    try:
        yield
    except Underflow as exc:
        raise exc.named() from exc.__cause__


# DuckDB groups integer keys whose range (max - min, from the table's statistics) fits in this many
# bits in a "perfect" hash table: an array indexed by key - min, no hashing, no probing. Its own
# default is 12 bits (4,096 values); the distinct-key count of the statistics raises it to 24 (16.8M
# values, about 9 bytes each: 144 MiB at most, under the statistics' memory limit). Measured on the
# benchmark's 10M dense keys: the count took 0.37-0.56 s instead of 2.6-3.2 s (a loaded machine).
# Wider or non-integer keys, and sources whose key range DuckDB does not know, keep the ordinary
# hash table, which spills under the memory limit.
PERFECT_HASH_BITS = 24
# A table DuckDB estimates at more rows may use a wider one, up to twice its rows and at most
# this many bits: the array is as long as the key range, whatever the rows, so the bound follows
# the rows (1,000 keys spread over 2^27 took 0.63 s and 253 MiB in such an array, against 7 ms;
# over 2^30, 7.7 s and 2 GiB). Measured on the benchmark's 100M dense keys: the distinct count
# took 1.63 s at a 497 MiB peak instead of 6.13 s at 1,434 MiB (spilling).
PERFECT_HASH_MAX_BITS = 27


def perfect_hash_bits(rows_estimate: int | None) -> int:
    """The perfect hash table's bound in bits for a source of about ``rows_estimate`` rows (None:
    unknown): PERFECT_HASH_BITS, widened to hold twice the rows, at most PERFECT_HASH_MAX_BITS."""
    if not rows_estimate or rows_estimate <= 0:
        return PERFECT_HASH_BITS
    return min(PERFECT_HASH_MAX_BITS, max(PERFECT_HASH_BITS, (2 * int(rows_estimate) - 1).bit_length()))


@contextlib.contextmanager
def _perfect_hash_keys(con: Engine, bits: int = PERFECT_HASH_BITS):
    """DuckDB: ``perfect_ht_threshold`` raised to ``bits`` inside (never lowered), then restored."""
    if dialect_of(con) != "duckdb":
        yield
        return
    previous = int(con.execute("SELECT current_setting('perfect_ht_threshold')").fetchall()[0][0])
    if previous >= bits:
        yield
        return
    con.execute(f"SET perfect_ht_threshold = {sql_literal(bits)}")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # DuckDB here (see the dialect check above)
            con.execute(f"SET perfect_ht_threshold = {sql_literal(previous)}")


def compute(con: Engine, d: Definition, relation: str, where: str,
            key_declared_unique: bool = False, rows_estimate: int | None = None) -> SourceStats:
    """``key_declared_unique``: the database enforces the key's uniqueness (see sqlgen.stats_query);
    ``rows_estimate``: the engine's estimate of the source's rows, if it keeps one (DuckDB tables)."""
    try:
        with _perfect_hash_keys(con, perfect_hash_bits(rows_estimate)):
            row = con.execute(stats_query(d, relation, key_declared_unique,
                                          count_distinct=dialect_of(con) == "postgresql")).fetchall()[0]
    except ENGINE_ERRORS as exc:
        # DuckDB's OutOfRangeException; PostgreSQL's "value out of range: overflow" (its sum of
        # squares), on the same values; an underflow is another cause and keeps its own message
        if isinstance(exc, duckdb.OutOfRangeException) or "value out of range: overflow" in str(exc):
            raise DataError(f"the features of {where} hold values too large to sum ({first_line(exc)}); "
                            "rescale them in a source SELECT") from exc
        if PG_UNDERFLOW in str(exc):  # e.g. a weighted variance's squares
            raise Underflow(con, d, relation, where, exc) from exc
        raise translate(exc, f"computing statistics of {where}") from exc
    rows_total, keys_present, keys_distinct, rows_complete, fingerprint = row[:5]
    if rows_total == 0:
        raise DataError(f"{where} has no rows; load data before refreshing")
    if keys_present < rows_total:
        raise DataError(f"key {d.key!r} is NULL on {rows_total - keys_present} of {rows_total} rows "
                        f"of {where}; fill or filter them (WHERE {quote_identifier(d.key)} IS NOT NULL)")
    if keys_distinct < keys_present:
        raise DataError(f"key {d.key!r} is not unique in {where}: {keys_present - keys_distinct} "
                        "duplicate rows; deduplicate the source or choose another key")
    rows_used = rows_complete if d.nulls == "skip" else rows_total
    columns = [row[5 + 6 * (i - 1): 5 + 6 * i] for i in range(1, len(d.features) + 1)]
    for f, (n, nonfinite, *_rest) in zip(d.features, columns):
        n_null = rows_total - n
        if nonfinite:
            raise DataError(f"feature {f.name!r} has {nonfinite} NaN or infinite values in {where}; "
                            "replace them with NULL or finite numbers")
        if n == 0:
            raise DataError(f"feature {f.name!r} is NULL on every row of {where}; drop it from the "
                            "definition or fill it")
        if n_null and d.nulls == "error":
            raise DataError(f"feature {f.name!r} is NULL on {n_null} of {rows_total} rows of {where} "
                            "and nulls=error; fill them, or use nulls='skip' or nulls='mean'")
    if rows_used == 0:  # before the scaling: no row used, so no min, max or stddev
        raise DataError(f"no row of {where} has every feature (nulls=skip leaves nothing); "
                        "use nulls='mean' or fix the data")
    feats = []
    for i, (f, (n, _nonfinite, mean, stddev, lo, hi)) in enumerate(zip(d.features, columns), start=1):
        center, scale = _scaling(d, f.name, mean, stddev, lo, hi)
        feats.append(FeatureStats(i, f.name, int(n), int(rows_total - n), mean, stddev, lo, hi,
                                  center, scale))
    if rows_used < d.k:
        raise DataError(too_few_rows_message(d.k, rows_used, where, rows_total - rows_used))
    return SourceStats(int(rows_total), int(rows_used), int(rows_total - rows_used),
                       format(int(fingerprint) & (2**64 - 1), "016x"), tuple(feats))
