"""k-means for many rows: restarts on a seeded sample, one Lloyd pass over the whole matrix.

scikit-learn's ``KMeans(n_init=10).fit`` on ten million rows spends most of its time outside the
Lloyd iterations: ten k-means++ initialisations over every row, a variance pass for the tolerance,
a copy of the input and its mean-centring. Here

* the ``n_init`` restarts (k-means++ and Lloyd, scikit-learn's own) run on the initialisation
  sample, and the best centres start one Lloyd run over every row (scikit-learn's Lloyd kernel);
* the tolerance is scikit-learn's ``tol * mean(var(X))``, with the variances taken from the
  statistics the database already computed;
* the matrix is used in place: no copy, no centring (z-scored columns already have mean 0).

The result is numbered canonically exactly as :func:`segdb.cluster.kmeans.fit_kmeans` numbers its own.
"""

from __future__ import annotations

import numpy as np

from ..define.definitions import Definition
from .kmeans import FitResult, canonical_order, fit_kmeans
from .threads import one_thread

TOL = 1e-4      # scikit-learn's default relative tolerance
MAX_ITER = 300  # scikit-learn's default


def mean_variance(d: Definition, stats, rows_used: int) -> float:
    """Mean over features of the scaled column's population variance, from the SQL statistics.

    Under nulls=mean the filled-in rows sit at the mean, which scales the variance by the share of
    present values.
    """
    variances = []
    for s in stats:
        var = (float(s.stddev) / float(s.scale)) ** 2
        if d.nulls == "mean" and rows_used:
            var *= s.n_rows / rows_used
        variances.append(var)
    return float(np.mean(variances))


def lloyd(X: np.ndarray, centers: np.ndarray, tol: float):
    """(raw labels int32, centres, inertia, n_iter) of one Lloyd run from ``centers``."""
    try:
        from sklearn.cluster._kmeans import _kmeans_single_lloyd
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # a scikit-learn without the private kernel: the public estimator
        from sklearn.cluster import KMeans
        model = KMeans(n_clusters=centers.shape[0], init=centers, n_init=1, copy_x=False,
                       tol=TOL, max_iter=MAX_ITER).fit(X)
        return model.labels_, model.cluster_centers_, float(model.inertia_), int(model.n_iter_)
    weights = np.ones(X.shape[0], dtype=X.dtype)
    labels, inertia, new_centers, n_iter = _kmeans_single_lloyd(
        X, weights, np.array(centers, dtype=X.dtype, order="C"), max_iter=MAX_ITER, tol=tol,
        n_threads=_openmp_effective_n_threads())
    return labels, new_centers, float(inertia), int(n_iter)


def distances_to_own_centroid(X: np.ndarray, centers: np.ndarray, labels0: np.ndarray,
                              chunk: int = 1 << 16) -> np.ndarray:
    """Row-wise distance to the assigned centroid, through one reused buffer (no per-chunk pages)."""
    n, width = X.shape
    out = np.empty(n, dtype=np.float64)
    buf = np.empty((min(chunk, n), width), dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        b = buf[: stop - start]
        np.take(centers, labels0[start:stop], axis=0, out=b, mode="clip")  # "raise" buffers out
        np.subtract(X[start:stop], b, out=b)
        np.einsum("ij,ij->i", b, b, out=out[start:stop])
    np.sqrt(out, out=out)
    return out


def fit_sampled_init(X: np.ndarray, init_sample: np.ndarray, *, d: Definition, stats, rows_used: int,
                     where: str) -> FitResult:
    """The fast fit of ``X`` (every row, or the bounded sample) from restarts on ``init_sample``."""
    # One thread for the small sample: its chunks are too few to share, and on a busy
    # machine idle-spinning threads cost more than they give (0.6 s against 2.8 s measured here).
    with one_thread():  # OpenMP (Lloyd) and BLAS (k-means++ distances)
        start = fit_kmeans(init_sample, k=d.k, seed=d.seed, n_init=d.n_init, where=where)
    return fit_from_start(X, start.centers, d=d, stats=stats, rows_used=rows_used)


def fit_from_start(X: np.ndarray, start_centers: np.ndarray, *, d: Definition, stats,
                   rows_used: int) -> FitResult:
    """One Lloyd run over ``X`` from ``start_centers`` (the best sample centres, or a warm start's
    previous centroids), numbered canonically."""
    tol = TOL * mean_variance(d, stats, rows_used)
    raw_labels, centers, inertia, n_iter = lloyd(X, start_centers, tol)
    k = start_centers.shape[0]
    sizes = np.bincount(raw_labels, minlength=k)
    order = canonical_order(centers, sizes)
    position = np.empty(k, dtype=np.int32)
    position[order] = np.arange(k, dtype=np.int32)
    labels0 = position.take(raw_labels)
    centers = np.ascontiguousarray(centers[order])
    distances = distances_to_own_centroid(X, centers, labels0)
    labels0 += 1
    return FitResult(labels=labels0, centers=centers, distances=distances, inertia=inertia,
                     n_iter=n_iter)
