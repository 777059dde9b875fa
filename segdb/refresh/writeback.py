"""Write a finished fit back: one transaction holds the run row, statistics, segments, centroids,
every customer's label, the views and the switch of the current run.

Readers on other connections see the previous run until COMMIT and the new one after it; a crash
before COMMIT leaves nothing of the new run behind (DuckDB rolls the transaction back on reopen).
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import duckdb

from ..store.database import insert_rows, transaction
from ..define.definitions import Definition
from ..cluster.identity import fit_segment_ids
from ..store.sqlfiles import load_sql
from ..define import sqlgen

LABELS_RELATION = "segdb_new_labels"


def segment_rows(d: Definition, stats, fit, sizes=None, sse=None) -> tuple[list[tuple], list[tuple]]:
    """(segments rows, centroids rows) without the run id; sizes and SSE from ``fit`` unless given."""
    k = fit.centers.shape[0]
    ids = fit_segment_ids(fit)  # ascending; labels hold ids, so their row is found by search
    if sizes is None:
        labels0 = np.searchsorted(ids, fit.labels.astype(np.int64))
        sizes = np.bincount(labels0, minlength=k)
        sse = np.bincount(labels0, weights=fit.distances ** 2, minlength=k)
    total = int(sizes.sum())
    centers_raw = fit.centers * np.array([s.scale for s in stats]) + np.array([s.center for s in stats])
    segments, centroids = [], []
    for j in range(k):
        size = int(sizes[j])
        segments.append((int(ids[j]), size, size / total, float(sse[j]),
                         float(np.sqrt(sse[j] / size)) if size else 0.0,
                         None))  # the description is written from the profiles (segdb.profiles)
        for i in range(len(stats)):
            centroids.append((int(ids[j]), i + 1, float(centers_raw[j, i]), float(fit.centers[j, i])))
    return segments, centroids


def write_run(con: duckdb.DuckDBPyConnection, d: Definition, *, run_row: dict, stats, keys: pa.Array,
              fit, hook=lambda stage: None, extra_writers=(), labels_writer=None) -> int:
    """Write everything in one transaction; returns the new run id.

    ``extra_writers`` are callables ``writer(con, run_id)`` run inside the same transaction after
    the core rows and before the views switch, so whatever they write (quality, profiles, k scans,
    transitions, ...) appears atomically with the run, or not at all.
    ``labels_writer(con, run_id) -> (sizes, sse)``, when given, writes the labels instead of ``keys``
    and ``fit.labels`` (a bounded fit labels every row in SQL); the run's inertia becomes sum(sse).
    """
    if labels_writer is None:
        segments, centroids = segment_rows(d, stats, fit)
        labels = pa.table({
            "segdb_key": keys,
            "segment_id": pa.array(fit.labels, type=pa.int32()),
            "distance": pa.array(fit.distances, type=pa.float64()),
        })
    started = time.perf_counter()
    with transaction(con, f"writing the new run of {d.name!r}"):
        run_id = con.execute(load_sql("next_run_id")).fetchall()[0][0]
        hook("write_labels")
        if labels_writer is not None:
            sizes, sse = labels_writer(con, run_id)
            segments, centroids = segment_rows(d, stats, fit, sizes=sizes, sse=sse)
            run_row["inertia"] = float(np.sum(sse))
        else:
            con.register(LABELS_RELATION, labels)
            try:
                con.execute(
                    f"INSERT INTO {d.labels_table} (run_id, segdb_key, segment_id, distance) "
                    f"SELECT ?, segdb_key, segment_id, distance FROM {LABELS_RELATION}", [run_id])
            finally:
                # After a failed INSERT (e.g. a full disk) the transaction is aborted and unregister
                # fails too; that second error must not hide the first.
                with contextlib.suppress(duckdb.Error):
                    con.unregister(LABELS_RELATION)
        hook("labels_written")
        insert_rows(con, load_sql("insert_feature_stats"), [
            [run_id, s.feature_no, s.feature, s.n_rows, s.n_null, s.mean, s.stddev, s.min, s.max,
             s.center, s.scale] for s in stats])
        insert_rows(con, load_sql("insert_segment"), [[run_id, *row] for row in segments])
        insert_rows(con, load_sql("insert_centroid"), [[run_id, *row] for row in centroids])
        for writer in extra_writers:
            writer(con, run_id)
        hook("views")
        con.execute(sqlgen.segments_view(d, run_id))
        con.execute(sqlgen.centroids_view(d, run_id))
        r = run_row
        r["stage_seconds"]["write"] = round(time.perf_counter() - started, 4)
        r["finished_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
        con.execute(load_sql("insert_run"), [
            run_id, d.name, d.version, "succeeded", r["triggered_by"], r["started_at"],
            r["finished_at"], r["rows_total"], r["rows_used"], r["rows_skipped"], r["fit_rows"],
            r["k"], r["inertia"], r["seed"], r["n_init"], r["n_iter"],
            json.dumps(r["package_versions"], sort_keys=True), r["input_fingerprint"],
            json.dumps(r["stage_seconds"]), None])
        con.execute(load_sql("set_current_run"), [run_id, d.name])
        hook("commit")
    hook("committed")
    return int(run_id)
