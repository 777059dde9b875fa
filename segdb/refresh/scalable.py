"""The fast and bounded refresh paths (see segdb.cluster.fitplan): fetch, fit, and labelling in SQL.

fast     every used row is fetched (unordered, streamed into one writable matrix), fitted with
         segdb.cluster.fastfit, and written from memory like the exact path.
bounded  only a seeded sample of at most max_fit_rows rows is fetched and fitted; every row is then
         labelled in SQL with segdb.living.scoring.labelling_query, twice: once to count the segments (so
         they are numbered largest first over all rows, as everywhere else) and, on DuckDB and
         PostgreSQL, to give the profiles' figures in the same pass (:func:`score_with_moments`);
         and once inside the write transaction as ``INSERT INTO <labels> SELECT ...``. Sizes, SSE
         and the run's inertia are then read back from the inserted labels, so they agree with
         them exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses

import duckdb
import numpy as np

from ..cluster import fitplan
from . import matrix_stream, sampling
from ..store import run_partitions
from ..store.database import translate
from ..engines import dialect_of
from ..engines.dialects import key_hash
from ..define.definitions import Definition
from ..cluster.fastfit import fit_sampled_init
from ..cluster.kmeans import FitResult, canonical_order
from ..engines.quoting import quote_identifier as q
from ..engines.quoting import sql_literal
from ..define.features import feature_sql
from ..cluster.identity import fit_segment_ids
from .matrix import table_matrix
from ..living.scoring import PLACE_COLUMNS, labelling_query
from ..define.sqlgen import matrix_query, scaled_params, used_condition
from ..engines.base import ENGINE_ERRORS, Engine


def fetch(con: Engine, d: Definition, relation: str, st, plan: fitplan.FitPlan,
          where: str):
    """(keys or None, X, initialisation sample) for the fast or bounded plan."""
    # DuckDB keeps the pages its statistics' hash table freed (about 400 MB at 10M keys) unless its
    # allocator's background threads return them to the system; the matrix comes on top of that.
    if dialect_of(con) == "duckdb":
        con.execute("SET allocator_background_threads = true")
        # DuckDB keeps scanned blocks cached up to its limit: 1.5 GiB of a 3 GB table beside the
        # matrix would break the budget, so the rest of the refresh runs under a lower one (restored after).
        lower_memory_limit(con, DUCKDB_FETCH_MEMORY_LIMIT)
    init_rows = fitplan.init_sample_rows(plan.rows_used, d.k)
    if dialect_of(con) != "duckdb" and plan.max_fit_rows >= plan.rows_used:
        return _fetch_every_row(con, d, relation, st, plan, init_rows, where)
    init = sampling.init_sample(con, d, relation, st.features, init_rows, where, plan.rows_used)
    if plan.mode == "bounded":
        X = sampling.fit_sample(con, d, relation, st.features, plan.max_fit_rows, plan.rows_used, where)
        return None, X, init
    keys, X = matrix_stream.fetch_all(con, d, relation, st.features, plan.rows_used, where)
    return keys, X, init


def _fetch_every_row(con, d: Definition, relation: str, st, plan: fitplan.FitPlan, init_rows: int,
                     where: str):
    """Another engine's table under the bound: every used row, and the initialisation sample DuckDB
    would draw (its hash, run here on the fetched keys), so the fit is DuckDB's fast fit exactly."""
    try:
        table = con.sql(matrix_query(d, relation, ordered=False),
                        params=scaled_params(d, st.features)).to_arrow_table()
    except ENGINE_ERRORS as exc:
        raise translate(exc, f"reading the standardised features of {where}") from exc
    X = table_matrix(table, len(d.features))
    keys = table.column("segdb_key").combine_chunks()
    positions = sampling.init_positions(keys, d.seed, init_rows, plan.rows_used)
    # PostgreSQL writes these keys' labels with COPY (its plan stays "fast"); Spark labels in SQL
    return (keys if plan.mode == "fast" else None), X, X[positions]


def fit(X: np.ndarray, init: np.ndarray, d: Definition, st, where: str) -> FitResult:
    return fit_sampled_init(X, init, d=d, stats=st.features, rows_used=st.rows_used, where=where)


def _feature_sql(d: Definition, stats) -> list[str]:
    """Each feature as the labelling query reads it (filled with its mean under nulls=mean)."""
    out = []
    for f, s in zip(d.features, stats):
        x = f"CAST({feature_sql(f)} AS DOUBLE)"
        out.append(f"coalesce({x}, {sql_literal(float(s.mean))})" if d.nulls == "mean" else x)
    return out


def _labelling(d: Definition, relation: str, stats, centers: np.ndarray, segment_ids=None,
               carry=()) -> str:
    return labelling_query(
        q(d.key), _feature_sql(d, stats), relation,
        centers=[s.center for s in stats], scales=[s.scale for s in stats],
        centroids=centers.tolist(),
        segment_ids=range(1, centers.shape[0] + 1) if segment_ids is None else segment_ids,
        where=used_condition(d), carry=carry)


def labelled_values(d: Definition, relation: str, st, fit: FitResult) -> str:
    """Every used row's segment id, exactly as :func:`labels_writer` writes it (the same query), with
    the feature values the profiles average (``segdb_f1 .. segdb_fd``, as
    ``segdb.define.features.keyed_values_relation`` gives them): the profiles of a run whose labels are
    written in SQL then need no join of the new labels with the source. At 100M rows that join ran
    under the refresh's memory limit, spilled, and took 33 s of an 89 s refresh; scoring the rows
    again is one more pass at the scoring speed."""
    carry = [(f"CAST({feature_sql(f)} AS DOUBLE)", f"segdb_f{i}") for i, f in enumerate(d.features, start=1)]
    return _labelling(d, relation, st.features, fit.centers, fit_segment_ids(fit).tolist(), carry)


def count_segments(con, d: Definition, relation: str, stats, centers: np.ndarray, where: str) -> np.ndarray:
    """Rows nearest to each centre (in the given order), over every used row, in SQL."""
    query = (f"SELECT segment_id, count(*) FROM ({_labelling(d, relation, stats, centers)}) AS segdb_labelled "
             "GROUP BY segment_id")
    try:
        rows = con.execute(query).fetchall()
    except ENGINE_ERRORS as exc:
        raise translate(exc, f"labelling every row of {where}") from exc
    sizes = np.zeros(centers.shape[0], dtype=np.int64)
    for segment_id, count in rows:
        sizes[int(segment_id) - 1] = int(count)
    return sizes


def renumber_by_all_rows(con, d: Definition, relation: str, st, fit: FitResult, where: str) -> FitResult:
    """The sample fit, its segments renumbered largest first by their size over every row."""
    return renumbered(fit, count_segments(con, d, relation, st.features, fit.centers, where))


def renumbered(fit: FitResult, sizes: np.ndarray) -> FitResult:
    """The sample fit renumbered largest first by ``sizes`` (rows nearest each centre, all rows)."""
    order = canonical_order(fit.centers, sizes)
    position = np.empty(len(order), dtype=np.int32)
    position[order] = np.arange(len(order), dtype=np.int32)
    centers = np.ascontiguousarray(fit.centers[order])
    labels = position.take(fit.labels - 1) + 1
    # the sample rows keep their centres, so their distances do not change
    return dataclasses.replace(fit, labels=labels.astype(np.int32), centers=centers)


def score_with_moments(con: Engine, d: Definition, relation: str, st, fit, where: str):
    """A bounded fit's "score" pass on DuckDB and PostgreSQL: (the fit renumbered largest first by
    its sizes over every row, the profiles' figures of each of its centres' rows: count, mean and
    population variance of each feature's values centred on the population mean, or None for an
    empty segment), from one SELECT over the scored rows. The profiles then need no scoring pass of
    their own inside the write-back: on PostgreSQL an ``INSERT ... SELECT`` is never parallel, a
    SELECT is; on DuckDB the figures cost a fraction of a pass (at 100M rows the count alone took
    10.2 s and the profiles' own pass 15.0 s). The figures come from this pass's snapshot of the
    source, as the statistics and the sample come from theirs (outside the write-back transaction);
    the labels are scored again in the write-back."""
    carry = [(f"CAST({feature_sql(f)} AS DOUBLE)", f"segdb_f{i}") for i, f in enumerate(d.features, start=1)]
    labelled = _labelling(d, relation, st.features, fit.centers, carry=carry)
    nf = len(d.features)
    centred = ", ".join(f"segdb_f{i} - ? AS x{i}" for i in range(1, nf + 1))
    aggregates = ", ".join(f"count(x{i}), avg(x{i}), var_pop(x{i})" for i in range(1, nf + 1))
    query = (f"SELECT segment_id, count(*), {aggregates} FROM (SELECT segment_id, {centred} "
             f"FROM ({labelled}) AS segdb_labelled) AS segdb_centred GROUP BY segment_id")
    try:
        rows = con.execute(query, [s.mean for s in st.features]).fetchall()
    except ENGINE_ERRORS as exc:
        raise translate(exc, f"labelling every row of {where}") from exc
    k = fit.centers.shape[0]
    sizes = np.zeros(k, dtype=np.int64)
    figures: dict[int, list] = {}
    for segment_id, size, *values in rows:
        sizes[int(segment_id) - 1] = int(size)
        figures[int(segment_id) - 1] = [int(v) if j % 3 == 0 else (None if v is None else float(v))
                                        for j, v in enumerate(values)]
    order = canonical_order(fit.centers, sizes)
    return renumbered(fit, sizes), [figures.get(int(j)) for j in order]


def identified_moments(moments, fit):
    """The rows for segdb.quality.profiles' ``moments`` (segment_id first) from a scored fit's
    figures (``(its centres, figures per centre row)``), for ``fit``, the same centres renumbered
    with the current run's segment ids (segdb.living); None without figures."""
    if moments is None:
        return None
    centers, figures = moments
    ids = fit_segment_ids(fit)
    rows = []
    for r in range(fit.centers.shape[0]):
        (p,) = [p for p in range(centers.shape[0]) if np.array_equal(centers[p], fit.centers[r])]
        if figures[p] is not None:
            rows.append([int(ids[r])] + list(figures[p]))
    return rows


PLACES = ", ".join(PLACE_COLUMNS)  # the labelling query's runner-up columns, written with the labels
SCORED_VIEW = "segdb_scored_rows"  # Spark: the cached scoring pass of a write-back (cached_scoring)


@contextlib.contextmanager
def cached_scoring(con: Engine, labelled: str):
    """Spark: every used row scored once, cached (``CACHE LAZY TABLE``, a temporary view of this
    session, filled by its first reader: the labels' INSERT inside the write-back), for the labels
    and the profiles to read instead of a scoring pass over the source each; yields its name,
    uncached and dropped afterwards. Nothing persistent: a kill leaves no trace of it."""
    from ..engines.translate import translate
    (select,) = translate(labelled, "spark", False)
    con.native(f"CACHE LAZY TABLE {SCORED_VIEW} AS {select}")
    try:
        yield SCORED_VIEW
    finally:
        with contextlib.suppress(*ENGINE_ERRORS):
            con.native(f"UNCACHE TABLE IF EXISTS {SCORED_VIEW}")
            con.native(f"DROP VIEW IF EXISTS {SCORED_VIEW}")


def labels_writer(d: Definition, relation: str, st, fit: FitResult, plan: fitplan.FitPlan,
                  scored: str | None = None):
    """``writer(con, run_id, partitioned) -> (sizes, sse)`` writing every row's label in SQL.

    ``fitted`` marks the rows of the fit sample (same hash rule as segdb.refresh.sampling).
    ``scored``: a relation holding :func:`labelled_values`'s rows (:func:`cached_scoring`), read
    instead of scoring the source again. ``partitioned`` (a PostgreSQL labels table with one
    partition per run, segdb.store.run_partitions): the run's partition is made by a parallel
    ``CREATE TABLE ... AS`` of the labelling query and attached, instead of an ``INSERT ... SELECT``,
    whose SELECT PostgreSQL never runs in parallel.
    """
    ids = fit_segment_ids(fit)  # ascending; the ids issue-4 matching gave, or 1..k
    source = scored or '(' + _labelling(d, relation, st.features, fit.centers, ids.tolist()) + ')'

    def rows(dialect: str) -> tuple[str, list]:
        """The labels' SELECT (run id first) and its parameters after the run id."""
        if plan.max_fit_rows >= plan.rows_used:  # every row was fitted (other engines' exact fit)
            fitted, params = "TRUE", []
        else:  # the labels' key has the source key's type, so the hash is the sample's
            fitted = f"{key_hash(dialect, 'segdb_key', d.key_type)} < ?::UBIGINT"
            params = [d.seed, sampling.threshold_for(plan.max_fit_rows, plan.rows_used)]
        return (f"SELECT ? AS run_id, segdb_key, segment_id, distance, {fitted} AS fitted, {PLACES}\n"
                f"FROM {source} AS segdb_labelled"), params

    def write(con, run_id, partitioned: bool):
        select, params = rows(dialect_of(con))
        if partitioned:
            table = run_partitions.fill(con, d.name + "_labels", run_id, select, [run_id, *params])
        else:
            table = d.labels_table
            con.execute(f"INSERT INTO {table} (run_id, segdb_key, segment_id, distance, fitted, {PLACES})\n"
                        + select, [run_id, *params])
        rows_ = con.execute(f"SELECT segment_id, count(*), sum(distance * distance) FROM {table} "
                            "WHERE run_id = ? GROUP BY segment_id", [run_id]).fetchall()
        k = fit.centers.shape[0]
        sizes, sse = np.zeros(k, dtype=np.int64), np.zeros(k)
        for segment_id, count, total in rows_:
            j = int(np.searchsorted(ids, int(segment_id)))
            sizes[j], sse[j] = int(count), float(total)
        return sizes, sse
    return write


DUCKDB_MEMORY_LIMIT = "1.5GiB"   # for the statistics: 100M distinct keys spill under 1.5 GiB, not 1
DUCKDB_FETCH_MEMORY_LIMIT = "768MiB"  # afterwards: DuckDB then only caches blocks and streams


# DuckDB's type on purpose: memory_limit is DuckDB's setting; callers check dialect_of(con) first
def lower_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> bool:
    """Lower DuckDB's memory limit to ``limit`` (plus what its in-memory tables hold:
    :func:`above_in_memory_tables`) if it is higher (DuckDB evicts cached blocks)."""
    current = _parse_size(str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]))
    limit = above_in_memory_tables(con, limit)
    wanted = _parse_size(limit)
    if current is None or wanted is None or wanted >= current:
        return False
    con.execute(f"SET memory_limit = {sql_literal(limit)}")
    return True


# while Python fits and judges the fetched matrix, DuckDB runs only a few small queries: under this
# limit it drops the blocks it cached while reading the source and its allocator returns them (at
# 10M x 8, 270 MB measured: the RSS fell from 1,317 to 1,047 MiB; docs/performance.md, "Memory")
DUCKDB_IDLE_MEMORY_LIMIT = "64MiB"
# a bounded fit's score pass beside the fit sample: a scan into k groups pins only the blocks each
# thread is reading (256 KB per column and thread), so it needs no more than this
DUCKDB_SCAN_MEMORY_LIMIT = "256MiB"


def above_in_memory_tables(con: duckdb.DuckDBPyConnection, limit: str) -> str:
    """``limit`` plus what DuckDB's in-memory tables hold (an in-memory database's, temporary
    tables): their blocks are the data, not a cache, and under a lower limit DuckDB would write
    them to its temporary directory (``.tmp`` in the working directory by default) and read them
    back for the write."""
    held = con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                       "WHERE tag = 'IN_MEMORY_TABLE'").fetchall()[0][0]
    wanted = _parse_size(limit)
    return limit if not held or wanted is None else f"{wanted + int(held)}B"


@contextlib.contextmanager
def duckdb_memory_bound(con: Engine, limit: str = DUCKDB_MEMORY_LIMIT):
    """Run a refresh, or a stretch of one, with DuckDB's memory limit lowered to ``limit`` (never
    raised), then restore it, also after a failure.

    DuckDB's default limit is 80% of RAM, and it keeps scanned blocks cached up to that limit: at
    100M rows the statistics' distinct-key count and the cached table alone would exceed a 2.5 GiB
    budget. Under the limit DuckDB spills its hash tables to its temporary directory instead.
    The fast and bounded paths lower it further after the statistics (see :func:`fetch`), and the
    refresh (segdb.refresh.pipeline) to :data:`DUCKDB_IDLE_MEMORY_LIMIT` between the fetch and the
    next statement that reads the source; whatever the refresh lowered is restored to the limit it
    found. A limit DuckDB cannot lower (memory another query holds) is left as it is: the bound
    only saves memory.
    """
    if dialect_of(con) != "duckdb":  # the other engines manage their own memory, outside this process
        yield
        return
    previous = str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    try:
        lowered = lower_memory_limit(con, limit)
    except duckdb.Error:
        lowered = False
    try:
        yield
    finally:
        if lowered:
            with contextlib.suppress(duckdb.Error):  # DuckDB here (see the dialect check above)
                con.execute(f"SET memory_limit = {sql_literal(previous)}")


_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}


def _parse_size(text: str) -> int | None:
    """'18.8 GiB' / '1GiB' / '134217728B' -> bytes (None if unreadable)."""
    t = text.strip().lower().replace(" ", "")
    number = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(number):] or "b"
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        return None
