"""Store a run's quality (k scan, run figures, per-segment figures) and read it back.

``quality_writer`` and ``profiles_writer`` build the ``writer(con, run_id)`` callables that
:func:`segdb.refresh.writeback.write_run` runs inside the run's transaction; ``load`` reads everything
about one run's quality for ``segdb show``, plots and the report.
"""

from __future__ import annotations

import dataclasses


from . import profiles
from ..store.database import dict_rows, insert_rows
from .job import QualityJob, RunQuality
from ..store.sqlfiles import load_sql
from ..engines.base import Engine


@dataclasses.dataclass
class QualityRecord:
    """One run's quality as stored: the run row, per-segment rows, the k scan (maybe empty)."""
    run: dict
    segments: list[dict]
    k_scan: list[dict]


def quality_writer(quality: RunQuality | QualityJob):
    """The writer of a run's quality; a :class:`QualityJob` still running is waited for here, inside
    the write transaction (list this writer last, so the job has the rest of the write to finish)."""
    def write(con: Engine, run_id: int) -> None:
        q = quality.result() if isinstance(quality, QualityJob) else quality
        scan_range = (q.choice.k_min, q.choice.k_max) if q.scan else (None, None)
        st = q.stability
        con.execute(load_sql("insert_run_quality"), [
            run_id, q.choice.k, q.choice.rule, q.choice.reason, *scan_range, q.silhouette,
            q.silhouette_sample_size, q.calinski_harabasz, q.davies_bouldin, st.mean_ari,
            st.min_ari, st.bootstraps, st.sample_size, q.verdict, q.seconds])
        # one statement per table, not per row (on Spark each is a job)
        insert_rows(con, load_sql("insert_k_scan"), [
            [run_id, r.k, r.inertia, r.silhouette, r.calinski_harabasz, r.davies_bouldin,
             r.seconds, r.scan_rows, r.silhouette_sample_size] for r in q.scan])
        segment_ids = sorted(set(q.segment_silhouette) | set(st.segment_jaccard))
        insert_rows(con, load_sql("insert_segment_quality"), [
            [run_id, int(s), *q.segment_silhouette.get(s, (None, None)), st.segment_jaccard.get(s)]
            for s in segment_ids])
    return write


def profiles_writer(d, relation: str, stats, labelled: str | None = None, moments=None):
    """The writer of a run's profiles; it returns the segments' descriptions as segment columns
    (see segdb.refresh.writeback.write_run). ``moments``: the per-segment figures when Python
    computed them (segdb.quality.profiles.figures_from_moments)."""
    def write(con: Engine, run_id: int) -> dict:
        return {"description": profiles.write_profiles(con, d, relation, stats, run_id, labelled, moments)}
    return write


def _rows(con, name: str, params) -> list[dict]:
    return dict_rows(con, load_sql(name), params)


def load(con: Engine, run_id: int) -> QualityRecord | None:
    """The stored quality of ``run_id``, or None for a run written before quality existed."""
    run = _rows(con, "run_quality", [run_id])
    if not run:
        return None
    return QualityRecord(run[0], _rows(con, "run_segment_quality", [run_id]),
                         _rows(con, "run_k_scan", [run_id]))
