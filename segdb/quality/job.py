"""Judge a run: silhouette (overall and per segment), Calinski-Harabasz, Davies-Bouldin, bootstrap
stability, and a verdict in plain words.

Everything takes the matrix, the labels and k as arguments (not a definition), so a fit on a sample
or renumbered segment ids compose with it. Costs are bounded: silhouette on at most
``metrics.SILHOUETTE_MAX_ROWS`` rows, stability on at most ``stability.STABILITY_MAX_ROWS`` rows with
``stability.BOOTSTRAPS`` refits; Calinski-Harabasz and Davies-Bouldin are one pass over every row.

The verdict combines two readings (thresholds are the usual ones):

- separation, by the mean silhouette (Kaufman & Rousseeuw): >= 0.5 well separated,
  >= 0.25 weakly separated, below: not separated;
- stability, by the mean adjusted Rand index over bootstrap refits: >= 0.85 stable,
  >= 0.6 moderately stable, below: unstable.

strong = stable and well separated; reasonable = at least moderately stable and at least weakly
separated; arbitrary = stable but not separated (k-means cuts a continuum the same way each time);
weak = unstable (the segments change when the data is resampled). Segments whose own stability
(mean best-match Jaccard) is below 0.6 are named.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np

from . import metrics
from .kselect import KChoice, ScanRow
from .stability import Stability, bootstrap_refits, compare_refits, stability_sample

WELL_SEPARATED, WEAKLY_SEPARATED = 0.5, 0.25
STABLE, MODERATELY_STABLE = 0.85, 0.6
UNSTABLE_SEGMENT_JACCARD = 0.6


@dataclasses.dataclass(frozen=True)
class RunQuality:
    choice: KChoice
    scan: tuple[ScanRow, ...]
    silhouette: float | None
    silhouette_sample_size: int
    segment_silhouette: dict     # segment id -> (mean silhouette, rows in the sample)
    calinski_harabasz: float | None
    davies_bouldin: float | None
    stability: Stability
    verdict: str
    seconds: float


def _finite(v):
    return float(v) if v is not None and np.isfinite(v) else None


def verdict(silhouette: float | None, stability: Stability) -> str:
    ari = stability.mean_ari
    if ari is None or silhouette is None:
        return ("not judged: too few rows to compute the silhouette or to refit on bootstrap "
                "resamples; add data before trusting these segments")
    sep = ("well separated" if silhouette >= WELL_SEPARATED else
           "weakly separated" if silhouette >= WEAKLY_SEPARATED else "not separated")
    stab = "stable" if ari >= STABLE else "moderately stable" if ari >= MODERATELY_STABLE else "unstable"
    figures = (f"silhouette {silhouette:.2f}, stability {ari:.2f} mean adjusted Rand index over "
               f"{stability.bootstraps} bootstrap refits")
    if stab == "unstable":
        text = (f"weak: the segments are unstable, they change when the data is resampled, so they may "
                f"be artefacts of k-means rather than real groups ({figures})")
    elif stab == "stable" and sep == "well separated":
        text = f"strong: the segments are well separated and stable ({figures})"
    elif sep == "not separated":
        text = (f"arbitrary: the segments are {stab} but not separated; k-means cuts a continuum "
                f"the same way each time, a convenient split rather than natural groups ({figures})")
    else:
        text = f"reasonable: the segments are {sep} and {stab} ({figures})"
    shaky = [s for s, j in sorted(stability.segment_jaccard.items())
             if j is not None and j < UNSTABLE_SEGMENT_JACCARD]
    if shaky and stab != "unstable":
        names = ", ".join(str(s) for s in shaky)
        text += (f"; segment{'s' if len(shaky) > 1 else ''} {names} "
                 f"{'are' if len(shaky) > 1 else 'is'} unstable (Jaccard below {UNSTABLE_SEGMENT_JACCARD})")
    return text


def evaluate(X: np.ndarray, labels: np.ndarray, k: int, *, seed: int, choice: KChoice,
             scan: list[ScanRow] = ()) -> RunQuality:
    """Quality of the partition ``labels`` (segment ids, one per row of ``X``) with ``k`` segments."""
    return QualityJob(X, labels, k, seed=seed, choice=choice, scan=scan, background=False).result()


class QualityJob:
    """A run's quality: the passes over every row now, the rest on a worker thread.

    The constructor makes, on the caller's thread, everything that reads every row: the clusters'
    moments (:attr:`moments`, segdb.quality.metrics.cluster_moments: the Calinski-Harabasz /
    Davies-Bouldin scores, and the profiles' figures) and the copies of the two bounded samples; the caller
    may free ``X`` as soon as it returns. The silhouette (on at most ``metrics.SILHOUETTE_MAX_ROWS``
    rows) and the bootstrap refits cost about half a second of single-threaded numpy and
    scikit-learn whatever the table's size; with ``background=True`` they run on a worker thread
    while the database writes the run (DuckDB releases the GIL while it works), and :meth:`result`,
    called inside the write transaction, waits for them: the quality is still stored atomically
    with the run. Starting the refits earlier, beside the fit, measured slower on two cores.

    The caller holds :func:`segdb.cluster.threads.one_blas_thread` while the worker may run (BLAS limits
    are process-wide) and calls :meth:`close` when done, also after a failure.
    """

    def __init__(self, X: np.ndarray, labels: np.ndarray, k: int, *, seed: int, choice: KChoice,
                 scan: list[ScanRow] = (), background: bool = True):
        started = time.perf_counter()
        labels = np.asarray(labels)
        # the moments of every row's segment: the two scores now, and the profiles' figures when X
        # holds every used row (segdb.refresh.pipeline), from the same two passes
        self.moments = metrics.cluster_moments(X, labels)
        segment_ids = self.moments.ids
        self._silhouette_rows = None
        if len(segment_ids) >= 2 and X.shape[0] > len(segment_ids):
            self._silhouette_rows = metrics.silhouette_sample(X, labels, seed=seed)[:2]
        self._stability_rows = stability_sample(X, labels, seed=seed)
        self._ch, self._db = metrics.calinski_harabasz_and_davies_bouldin(X, labels, self.moments)
        self._k, self._seed, self._choice, self._scan = k, seed, choice, tuple(scan)
        self._segment_ids = [int(v) for v in segment_ids]
        self._result: RunQuality | None = None
        self._error: BaseException | None = None
        self._thread = None
        self._caller_seconds = time.perf_counter() - started
        if background:
            self._thread = threading.Thread(target=self._run, name="segdb-quality", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self._result = self._compute()
        except BaseException as exc:  # handed to the thread that asks for the result
            self._error = exc
        finally:
            self._silhouette_rows = self._stability_rows = None  # the samples are not needed any more

    def _compute(self) -> RunQuality:
        started = time.perf_counter()
        if self._silhouette_rows is not None:
            Xs, ls = self._silhouette_rows
            values = metrics.silhouette_samples_many(Xs, [ls])[0]
            sil = float(np.mean(values))
            per_segment = {int(s): (float(np.mean(values[ls == s])), int(np.sum(ls == s)))
                           for s in np.unique(ls)}
            sil_rows = values.shape[0]
        else:
            sil, per_segment, sil_rows = None, {}, 0
        Xs, ls = self._stability_rows
        stab = compare_refits(ls, bootstrap_refits(Xs, self._k, seed=self._seed), self._segment_ids)
        sil = _finite(sil)
        seconds = self._caller_seconds + time.perf_counter() - started
        return RunQuality(choice=self._choice, scan=self._scan, silhouette=sil,
                          silhouette_sample_size=sil_rows, segment_silhouette=per_segment,
                          calinski_harabasz=_finite(self._ch), davies_bouldin=_finite(self._db),
                          stability=stab, verdict=verdict(sil, stab), seconds=round(seconds, 4))

    def result(self) -> RunQuality:
        """The run's quality; waits for the worker and re-raises its error, if any."""
        self.close()
        if self._error is not None:
            raise self._error
        return self._result

    def close(self) -> None:
        """Wait for the worker (idempotent): after a failed refresh too, so no thread outlives it."""
        if self._thread is not None:
            self._thread.join()
