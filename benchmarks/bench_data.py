"""Synthetic customers for the benchmarks, generated in SQL and cached by parameters.

N customers x d features: the first half are 1-7 Likert items (INTEGER), the second half continuous
values on scales from 0.1 to 1000 (DOUBLE), drawn around the centres of k groups of unequal sizes
(group g holds a share proportional to g + 1). Every random number is a hash of (row, column, seed),
so the same parameters give the same table whatever the number of threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np

TABLE = "customers"
HASH_SCALE = float(2 ** 64)


def feature_names(d: int) -> list[str]:
    half = d // 2
    return [f"likert_{i}" for i in range(1, half + 1)] + [f"amount_{i}" for i in range(1, d - half + 1)]


def _scales(count: int) -> list[float]:
    """Continuous scales spread log-evenly from 0.1 to 1000."""
    if count == 1:
        return [1000.0]
    return [float(s) for s in np.logspace(-1, 3, count)]


def _uniform(*parts) -> str:
    """A uniform number in [0, 1) from a hash of the given SQL expressions."""
    return f"(hash({', '.join(str(p) for p in parts)}) / {HASH_SCALE!r})"


def _normal(*parts) -> str:
    """Approximately standard normal: a centred sum of three uniforms, scaled to unit variance."""
    us = " + ".join(_uniform(*parts, j) for j in (101, 102, 103))
    return f"(({us}) - 1.5) * 2.0"


def generate_sql(rows: int, d: int, k: int, seed: int) -> str:
    weights = np.arange(1, k + 1, dtype=float)
    bounds = np.cumsum(weights) / weights.sum()
    group = "CASE " + " ".join(f"WHEN u < {float(b)!r} THEN {g}" for g, b in enumerate(bounds[:-1])) + f" ELSE {k - 1} END"
    rng = np.random.default_rng(seed)
    names = feature_names(d)
    half = d // 2
    scales = _scales(d - half)
    cols = []
    for j, name in enumerate(names):
        centres = rng.uniform(0, 1, size=k)
        centre = "CASE g " + " ".join(f"WHEN {g} THEN {float(c)!r}" for g, c in enumerate(centres)) + " END"
        noise = _normal("i", j, seed)
        if j < half:  # Likert: group mean in 1.5..6.5, noise of 1.1 points, rounded and clipped
            cols.append(f"CAST(greatest(1, least(7, round(1.5 + 5 * {centre} + 1.1 * {noise}))) AS INTEGER) AS {name}")
        else:
            s = scales[j - half]
            cols.append(f"(4 * {centre} + {noise}) * {s!r} AS {name}")
    return (
        f"CREATE TABLE {TABLE} AS\n"
        f"SELECT i AS customer_id, {', '.join(cols)}\n"
        f"FROM (SELECT i, {group} AS g FROM (SELECT i, {_uniform('i', seed, 7)} AS u "
        f"FROM range({rows}) t(i)))"
    )


def data_path(data_dir: str | os.PathLike, rows: int, d: int, k: int, seed: int) -> Path:
    return Path(data_dir) / f"customers_n{rows}_d{d}_k{k}_s{seed}.duckdb"


def ensure_data(data_dir: str | os.PathLike, rows: int, d: int, k: int, seed: int) -> Path:
    """The cached DuckDB file (created when missing) and its .npy matrix for the bare pipeline."""
    path = data_path(data_dir, rows, d, k, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp.duckdb")
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute(generate_sql(rows, d, k, seed))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        tmp.rename(path)
    return path


def ensure_matrix(path: Path, d: int, rows: int, max_rows: int) -> Path | None:
    """The raw features as a float64 .npy (what the bare pipeline starts from), if small enough."""
    if rows > max_rows:
        return None
    npy = path.with_suffix(".npy")
    if not npy.exists():
        con = duckdb.connect(str(path), read_only=True)
        try:
            cols = ", ".join(f"CAST({c} AS DOUBLE)" for c in feature_names(d))
            table = con.sql(f"SELECT [{cols}]::DOUBLE[{d}] AS z FROM {TABLE} ORDER BY customer_id").to_arrow_table()
        finally:
            con.close()
        flat = table.column("z").combine_chunks().flatten().to_numpy()
        X = flat.reshape(-1, d)
        tmp = npy.with_suffix(".tmp.npy")
        np.save(tmp, X)
        tmp.rename(npy)
    return npy
