"""Per-feature statistics computed by the database in one scan, and the checks they allow.

The checks run before anything is written: NULL or duplicate keys, NULL features under
nulls=error, NaN/Inf, overflowing values, constant features, too few rows for k.
"""

from __future__ import annotations

import dataclasses
import math

import duckdb

from .database import translate
from .definitions import Definition
from .errors import DataError
from .quoting import quote_identifier
from .sqlgen import stats_query


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


def _scaling(d: Definition, name: str, mean, stddev, lo, hi) -> tuple[float, float]:
    if d.scale == "zscore":
        center, scale = mean, stddev
    elif d.scale == "minmax":
        center, scale = lo, (hi - lo) if hi is not None and lo is not None else None
    else:
        center, scale = 0.0, 1.0
    spread = stddev if d.scale != "minmax" else scale
    if spread is not None and not math.isfinite(spread):
        raise DataError(f"feature {name!r} has values too large to standardise (its spread overflows "
                        "a double); rescale it in a source SELECT, e.g. divide by 1e6")
    if spread is None or spread == 0.0:
        raise DataError(f"feature {name!r} has the same value on every row used (zero variance), so "
                        "it cannot separate segments; drop it from the definition")
    return float(center), float(scale)


def too_few_rows_message(k: int, rows_used: int, where: str, rows_skipped: int = 0) -> str:
    """k above the usable rows at refresh (rows deleted since create, or skipped for NULLs); the
    wording of the check at create (segdb.definitions.check_k_against_rows)."""
    skipped = f", after {rows_skipped} rows with a NULL feature are skipped" if rows_skipped else ""
    return (f"k={k} is more than the {rows_used} usable rows of {where}{skipped}; lower k to at most "
            f"{rows_used} by redefining the segmentation, or add rows")


def compute(con: duckdb.DuckDBPyConnection, d: Definition, relation: str, where: str,
            key_declared_unique: bool = False) -> SourceStats:
    """``key_declared_unique``: the database enforces the key's uniqueness (see sqlgen.stats_query)."""
    try:
        row = con.execute(stats_query(d, relation, key_declared_unique)).fetchall()[0]
    except duckdb.OutOfRangeException as exc:
        raise DataError(f"the features of {where} hold values too large to sum ({str(exc).splitlines()[0]}); "
                        "rescale them in a source SELECT") from exc
    except duckdb.Error as exc:
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
    feats = []
    for i, f in enumerate(d.features, start=1):
        n, nonfinite, mean, stddev, lo, hi = row[5 + 6 * (i - 1): 5 + 6 * i]
        n_null = rows_total - n
        if nonfinite:
            raise DataError(f"feature {f.name!r} has {nonfinite} NaN or infinite values in {where}; "
                            "replace them with NULL or finite numbers")
        if n == 0:
            raise DataError(f"feature {f.name!r} is NULL on every row of {where}; drop it from the "
                            "definition or fill it")
        if n_null and d.nulls == "error":
            raise DataError(f"feature {f.name!r} is NULL on {n_null} of {rows_total} rows of {where} "
                            "and nulls=error; fill them, or use --nulls skip or --nulls mean")
        center, scale = _scaling(d, f.name, mean, stddev, lo, hi)
        feats.append(FeatureStats(i, f.name, int(n), int(n_null), mean, stddev, lo, hi, center, scale))
    rows_used = rows_complete if d.nulls == "skip" else rows_total
    if rows_used == 0:
        raise DataError(f"no row of {where} has every feature (nulls=skip leaves nothing); "
                        "use --nulls mean or fix the data")
    if rows_used < d.k:
        raise DataError(too_few_rows_message(d.k, rows_used, where, rows_total - rows_used))
    return SourceStats(int(rows_total), int(rows_used), int(rows_total - rows_used),
                       format(int(fingerprint) & (2**64 - 1), "016x"), tuple(feats))
