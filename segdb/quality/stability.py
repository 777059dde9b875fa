"""Bootstrap stability: do the segments come back when the data is resampled?

On a seeded sample S of at most ``STABILITY_MAX_ROWS`` rows, ``BOOTSTRAPS`` times: draw |S| rows of
S with replacement (seeded), refit k-means with the same k, assign every row of S to the refit's
nearest centroid, and compare with the run's own labels on S.

Each refit is a cold start, independent of the run's labels and centres (a refit started from the
run's own centroids could not find that the data hold another, equally good partition), but
warm-started on a sample, as the run's own fast fit is (segdb.cluster.fastfit): the
``REFIT_N_INIT`` k-means++ restarts run on the first ``REFIT_INIT_ROWS`` rows of the resample
(themselves a uniform draw from S), and the best of them starts one Lloyd run over the whole
resample. On resamples of at most ``REFIT_INIT_ROWS`` rows this is the plain
``KMeans(n_init=REFIT_N_INIT)``. Measured at k = 6 on 5,000 rows of the benchmark data: 0.11 s of
CPU for the 20 refits instead of 0.2-0.3 s (the estimator's per-call set-up, 11.7 ms a fit against
3 ms of kernels, is gone too, see :func:`_kmeans_refitter`). The figures move within the spread of
20 resamples: mean ARI 0.91 -> 0.97 at k = 6 and 0.99 -> 0.96 at k = 4 on the benchmark data,
0.08 -> 0.11 (k = 4) and 0.16 -> 0.15 (k = 6) on structureless data, so no verdict changes
(tests/test_quality_kscan.py checks both readings on a refresh).

The comparison:

- the adjusted Rand index of the two partitions (1 = identical up to renumbering, about 0 = no more
  alike than chance); the run's stability is the mean over the refits;
- per segment, the Jaccard similarity between the segment and the refit cluster that overlaps it
  most (Hennig 2007, "Cluster-wise assessment of cluster stability"); the segment's stability is
  the mean over the refits. Hennig's reading: below 0.5 the segment dissolves, 0.6-0.75 a pattern
  without clear membership, above 0.85 highly stable.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .metrics import distinct_values, sample_indices
from ..cluster.threads import one_thread

STABILITY_MAX_ROWS = 5_000
BOOTSTRAPS = 20
REFIT_N_INIT = 3
REFIT_INIT_ROWS = 1_000  # the restarts' sample: about 170 rows per segment at k = 6


@dataclasses.dataclass(frozen=True)
class Stability:
    mean_ari: float | None
    min_ari: float | None
    bootstraps: int              # refits that entered the mean (a resample with < k distinct rows is skipped)
    sample_size: int
    segment_jaccard: dict        # segment id -> mean best-match Jaccard


def best_match_jaccard(labels: np.ndarray, other: np.ndarray, segment_ids) -> dict:
    """Per segment of ``labels``: the highest Jaccard with any cluster of ``other``."""
    out = {}
    other_ids, other_codes = np.unique(other, return_inverse=True)
    other_sizes = np.bincount(other_codes)
    for s in segment_ids:
        member = labels == s
        size = int(member.sum())
        if size == 0:
            out[s] = np.nan
            continue
        overlap = np.bincount(other_codes[member], minlength=len(other_ids))
        union = size + other_sizes - overlap
        out[s] = float(np.max(overlap / union))
    return out


def stability_sample(X: np.ndarray, labels, *, seed: int,
                     max_rows: int = STABILITY_MAX_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The seeded sample S the refits run on: (rows of ``X``, their labels), copies when sampled."""
    idx = sample_indices(X.shape[0], max_rows, seed + 2)
    return (X, np.asarray(labels)) if idx is None else (X[idx], np.asarray(labels)[idx])


def bootstrap_stability(X: np.ndarray, labels: np.ndarray, k: int, *, seed: int,
                        bootstraps: int = BOOTSTRAPS, max_rows: int = STABILITY_MAX_ROWS,
                        n_init: int = REFIT_N_INIT) -> Stability:
    """Stability of the partition ``labels`` (one label per row of ``X``) under bootstrap refits."""
    Xs, ls = stability_sample(X, labels, seed=seed, max_rows=max_rows)
    refits = bootstrap_refits(Xs, k, seed=seed, bootstraps=bootstraps, n_init=n_init)
    segment_ids = [int(v) for v in distinct_values(labels)]  # a counting pass: no sort of every label
    return compare_refits(ls, refits, segment_ids)


def bootstrap_refits(Xs: np.ndarray, k: int, *, seed: int, bootstraps: int = BOOTSTRAPS,
                     n_init: int = REFIT_N_INIT, init_rows: int = REFIT_INIT_ROWS) -> list[np.ndarray | None]:
    """Each refit's labels of every row of the sample ``Xs`` (None: the resample had fewer than k
    distinct rows). Needs no run labels, so it can run while the run itself is being fitted."""
    rng = np.random.default_rng(seed + 3)
    boots = [rng.integers(0, Xs.shape[0], size=Xs.shape[0]) for _ in range(bootstraps)]
    # Distinct rows are counted up front instead of catching scikit-learn's ConvergenceWarning:
    # warnings.catch_warnings changes process-wide state, and this may run beside the main fit.
    row_ids = np.unique(Xs, axis=0, return_inverse=True)[1].ravel() if Xs.shape[0] else np.zeros(0, int)

    def distinct_rows(rows: np.ndarray) -> int:
        return np.count_nonzero(np.bincount(row_ids[rows]))

    refit_kmeans = _kmeans_refitter()

    def refit(b: int):
        if Xs.shape[0] < k or distinct_rows(boots[b]) < k:
            return None  # fewer than k distinct rows in this resample
        random_state = (seed + 1000 + b) % 2 ** 32
        head = boots[b][:init_rows]
        if head.size == boots[b].size or distinct_rows(head) < k:  # small (or degenerate): no warm start
            return refit_kmeans(Xs[boots[b]], Xs, k, n_init=n_init, random_state=random_state)
        start = refit_kmeans(Xs[head], None, k, n_init=n_init, random_state=random_state)
        return refit_kmeans(Xs[boots[b]], Xs, k, init=start)

    # One thread, taken once for all refits: on small bounded samples OpenMP start-up and
    # oversubscription cost far more than they save (measured 10-30x slower on a busy 2-core machine).
    # Running two refits side by side in threads measured no faster on the shared 2-core machine.
    with one_thread():
        return [refit(b) for b in range(bootstraps)]


def compare_refits(ls: np.ndarray, refits: list[np.ndarray | None], segment_ids) -> Stability:
    """Adjusted Rand index and per-segment best-match Jaccard of the run's labels ``ls`` on the
    sample against each refit; ``segment_ids``: every segment of the run (one without rows in the
    sample gets NaN)."""
    from sklearn.metrics import adjusted_rand_score
    aris, jaccards = [], {s: [] for s in segment_ids}
    for refit_labels in refits:
        if refit_labels is None:
            continue
        aris.append(adjusted_rand_score(ls, refit_labels))
        for s, j in best_match_jaccard(ls, refit_labels, segment_ids).items():
            jaccards[s].append(j)
    if not aris:
        return Stability(None, None, 0, int(ls.shape[0]), {s: None for s in segment_ids})
    return Stability(float(np.mean(aris)), float(np.min(aris)), len(aris), int(ls.shape[0]),
                     {s: (float(np.nanmean(v)) if v else None) for s, v in jaccards.items()})


def _kmeans_refitter():
    """``refit(X, Y, k, *, n_init=1, random_state=None, init=None)``: the centres of
    ``KMeans(n_clusters=k, n_init=n_init, random_state=random_state, init=init or "k-means++").fit(X)``,
    or, when ``Y`` is given, ``.predict(Y)`` of that fit; ``X`` is a copy it may change.

    The same numbers as the estimator (tests/test_quality_metrics.py compares them), through
    scikit-learn's own k-means++ and Lloyd kernels: on resamples of a few thousand rows the
    estimator's validation and set-up cost more than its k-means (11.7 ms a fit, 3 ms of kernels).
    """
    try:  # here, not at import: `segdb --help` / `list` stay light
        from sklearn.cluster._kmeans import (_is_same_clustering, _kmeans_plusplus, _kmeans_single_lloyd,
                                             _labels_inertia)
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
        from sklearn.utils.extmath import row_norms
    except ImportError:  # a scikit-learn without the private kernels: the public estimator
        return _estimator

    def kernels(X, Y, k, *, n_init=1, random_state=None, init=None):
        try:
            return _kernels(X.copy(), Y, k, n_init=n_init, random_state=random_state, init=init)
        except TypeError:  # a scikit-learn whose private kernels take other arguments
            return _estimator(X, Y, k, n_init=n_init, random_state=random_state, init=init)

    def _kernels(X, Y, k, *, n_init=1, random_state=None, init=None):
        n_threads = _openmp_effective_n_threads()
        tol = float(np.mean(np.var(X, axis=0))) * 1e-4  # KMeans' default tol, relative to the data
        weights = np.ones(X.shape[0], dtype=X.dtype)
        mean = X.mean(axis=0)
        X -= mean  # as KMeans does, for accurate distances
        norms = row_norms(X, squared=True)
        rng = np.random.RandomState(random_state)
        best_inertia = best_labels = best_centers = None
        for _ in range(n_init if init is None else 1):
            if init is None:
                start = _kmeans_plusplus(X, k, x_squared_norms=norms, sample_weight=weights,
                                         random_state=rng)[0]
            else:
                start = np.array(init, dtype=X.dtype, order="C") - mean
            labels, inertia, centers, _n_iter = _kmeans_single_lloyd(
                X, weights, start, max_iter=300, tol=tol, n_threads=n_threads)
            if best_inertia is None or (inertia < best_inertia
                                        and not _is_same_clustering(labels, best_labels, k)):
                best_inertia, best_labels, best_centers = inertia, labels, centers
        best_centers = best_centers + mean
        if Y is None:
            return best_centers
        Y = np.ascontiguousarray(Y, dtype=X.dtype)
        return _labels_inertia(Y, np.ones(Y.shape[0], dtype=Y.dtype), best_centers, n_threads=n_threads,
                               return_inertia=False)
    return kernels


def _estimator(X, Y, k, *, n_init=1, random_state=None, init=None):
    from sklearn.cluster import KMeans
    model = KMeans(n_clusters=k, n_init=n_init, random_state=random_state,
                   init="k-means++" if init is None else init).fit(X)
    return model.cluster_centers_ if Y is None else model.predict(Y)
