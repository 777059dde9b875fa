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
from .stability import Stability, bootstrap_refits, compare_refits
from .stability import sample_rows as stability_sample_rows

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
    job = QualityJob(X, k, seed=seed, background=False)
    job.set_labels(X, labels, choice=choice, scan=scan)
    return job.result()


class QualityJob:
    """A run's quality, computed beside the fit and the write-back on a worker thread.

    The silhouette (on at most ``metrics.SILHOUETTE_MAX_ROWS`` rows) and the bootstrap refits cost
    about half a second of single-threaded numpy and scikit-learn whatever the table's size, so they
    run on a second thread:

    1. ``QualityJob(X, k, ...)`` — as soon as the matrix and k are known — copies the stability
       sample and starts the bootstrap refits (they need no run labels) while the run is fitted;
    2. ``set_labels(X, labels, ...)`` — once the run's labels are final — makes the passes over every
       row (Calinski-Harabasz, Davies-Bouldin) and copies the silhouette sample on the caller's
       thread, so the caller may free ``X`` right after; the worker then computes the silhouette and
       compares the refits with the labels while the database writes the run (DuckDB releases the
       GIL while it works);
    3. ``result()`` waits for the worker inside the write transaction: the quality is stored
       atomically with the run. ``close()`` ends the worker when the refresh fails before that.

    The caller holds :func:`segdb.threads.one_blas_thread` while the job may run (BLAS limits are
    process-wide). With ``background=False`` everything runs on the caller's thread, in ``result()``.
    """

    def __init__(self, X: np.ndarray, k: int, *, seed: int, background: bool = True):
        started = time.perf_counter()
        self._k, self._seed = k, seed
        self._stability_idx = stability_sample_rows(X.shape[0], seed=seed)
        self._stability_X = X if self._stability_idx is None else X[self._stability_idx]
        self._labelled = threading.Event()
        self._cancelled = False
        self._labels_part: dict | None = None
        self._result: RunQuality | None = None
        self._error: BaseException | None = None
        self._thread = None
        self._seconds = time.perf_counter() - started  # work on the worker is added as it is done
        if background:
            self._thread = threading.Thread(target=self._run, name="segdb-quality", daemon=True)
            self._thread.start()

    def set_labels(self, X: np.ndarray, labels: np.ndarray, *, choice: KChoice,
                   scan: list[ScanRow] = ()) -> None:
        """The run's final labels (segment ids, one per row of ``X``, the same ``X`` as given first)."""
        started = time.perf_counter()
        labels = np.asarray(labels)
        segment_ids = metrics.distinct_values(labels)
        silhouette_rows = None
        if len(segment_ids) >= 2 and X.shape[0] > len(segment_ids):
            idx = metrics.sample_indices(X.shape[0], metrics.SILHOUETTE_MAX_ROWS, seed=self._seed)
            silhouette_rows = (X, labels) if idx is None else (X[idx], labels[idx])
        ch, db = metrics.calinski_harabasz_and_davies_bouldin(X, labels)
        stability_labels = labels if self._stability_idx is None else labels[self._stability_idx]
        self._labels_part = dict(choice=choice, scan=tuple(scan), silhouette_rows=silhouette_rows, ch=ch,
                                 db=db, stability_labels=stability_labels,
                                 segment_ids=[int(v) for v in segment_ids])
        self._seconds += time.perf_counter() - started
        self._labelled.set()

    def _run(self) -> None:
        try:
            self._result = self._compute()
        except BaseException as exc:  # handed to the thread that asks for the result
            self._error = exc
        finally:
            self._stability_X = self._labels_part = None  # the samples are not needed any more

    def _compute(self) -> RunQuality | None:
        started = time.perf_counter()
        refits = bootstrap_refits(self._stability_X, self._k, seed=self._seed)
        self._seconds += time.perf_counter() - started
        self._labelled.wait()
        if self._cancelled:
            return None
        started = time.perf_counter()
        part = self._labels_part
        if part["silhouette_rows"] is not None:
            Xs, ls = part["silhouette_rows"]
            values = metrics.silhouette_samples_many(Xs, [ls])[0]
            sil = float(np.mean(values))
            per_segment = {int(s): (float(np.mean(values[ls == s])), int(np.sum(ls == s)))
                           for s in np.unique(ls)}
            sil_rows = values.shape[0]
        else:
            sil, per_segment, sil_rows = None, {}, 0
        stab = compare_refits(part["stability_labels"], refits, part["segment_ids"])
        sil = _finite(sil)
        self._seconds += time.perf_counter() - started
        return RunQuality(choice=part["choice"], scan=part["scan"], silhouette=sil,
                          silhouette_sample_size=sil_rows, segment_silhouette=per_segment,
                          calinski_harabasz=_finite(part["ch"]), davies_bouldin=_finite(part["db"]),
                          stability=stab, verdict=verdict(sil, stab), seconds=round(self._seconds, 4))

    def result(self) -> RunQuality:
        """The run's quality (after ``set_labels``); waits for the worker, re-raising its error."""
        if self._thread is None:
            if self._result is None and self._error is None:
                self._run()
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def close(self) -> None:
        """End the worker (a refresh that failed before its labels were final); idempotent."""
        if self._thread is not None:
            if not self._labelled.is_set():
                self._cancelled = True
                self._labelled.set()
            self._thread.join()
