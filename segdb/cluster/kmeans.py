"""Fit k-means on the standardised matrix (scikit-learn), and number the segments canonically."""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np

from ..errors import DataError


@dataclasses.dataclass(frozen=True)
class FitResult:
    labels: np.ndarray      # int32, 1-based segment ids, one per row
    centers: np.ndarray     # (k, d) centroids in scaled units, row s-1 is segment s
    distances: np.ndarray   # float64 Euclidean distance of each row to its own centroid
    inertia: float          # sum of squared distances, as scikit-learn's inertia_
    n_iter: int
    # Row r of centers is segment segment_ids[r] (ascending); None: segments 1..k. Set by
    # segdb.cluster.identity.apply_ids when a refresh keeps the previous run's ids; labels then hold those ids.
    segment_ids: np.ndarray | None = None


def canonical_order(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Old label -> position: largest segment first; ties broken by the centroid's coordinates."""
    keys = [(-int(sizes[j]), tuple(np.round(centers[j], 12))) for j in range(len(sizes))]
    return np.array(sorted(range(len(sizes)), key=lambda j: keys[j]))


def distances_to_own_centroid(X: np.ndarray, centers: np.ndarray, labels0: np.ndarray,
                              chunk: int = 1 << 18) -> np.ndarray:
    """Row-wise distance to the assigned centroid, in chunks to bound temporary memory."""
    out = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        diff = X[start:stop] - centers[labels0[start:stop]]
        np.sqrt(np.einsum("ij,ij->i", diff, diff), out=out[start:stop])
    return out


def fit_kmeans(X: np.ndarray, *, k: int, seed: int, n_init: int, where: str,
               sample_weight: np.ndarray | None = None, init: np.ndarray | None = None) -> FitResult:
    """scikit-learn's KMeans: ``n_init`` k-means++ restarts, or with ``init`` (k, d) centres one
    Lloyd run from them (a warm start)."""
    n = X.shape[0]
    if n < k:
        raise DataError(too_few_rows_message(k, n, where))
    from sklearn.cluster import KMeans  # here, not at import: `segdb --help` / `list` stay light
    from sklearn.exceptions import ConvergenceWarning
    model = (KMeans(n_clusters=k, n_init=n_init, random_state=seed) if init is None else
             KMeans(n_clusters=k, init=np.asarray(init, dtype=np.float64), n_init=1, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model.fit(X, sample_weight=sample_weight)
        except ConvergenceWarning as exc:
            if "distinct clusters" in str(exc):
                # scikit-learn: "Number of distinct clusters (6) found smaller than n_clusters (7)"
                found = re.search(r"\((\d+)\)", str(exc))
                distinct = int(found.group(1)) if found else None
                bound = f"at most {distinct}" if distinct is not None else "the number of distinct rows"
                raise DataError(
                    f"k={k} is more than the {'' if distinct is None else f'{distinct} '}distinct "
                    f"rows of {where}; lower k to {bound} by redefining the segmentation, or add rows "
                    "that differ"
                ) from None
            raise
    raw_labels = model.labels_.astype(np.int64)
    sizes = np.bincount(raw_labels, minlength=k)
    order = canonical_order(model.cluster_centers_, sizes)
    position = np.empty(k, dtype=np.int64)
    position[order] = np.arange(k)
    labels0 = position[raw_labels]
    centers = np.ascontiguousarray(model.cluster_centers_[order])
    distances = distances_to_own_centroid(X, centers, labels0)
    return FitResult(labels=(labels0 + 1).astype(np.int32), centers=centers, distances=distances,
                     inertia=float(model.inertia_), n_iter=int(model.n_iter_))


def too_few_rows_message(k: int, rows_used: int, where: str, rows_skipped: int = 0) -> str:
    """k above the usable rows at refresh (rows deleted since create, or skipped for NULLs); the
    wording of the check at create (segdb.definitions.check_k_against_rows)."""
    skipped = f", after {rows_skipped} rows with a NULL feature are skipped" if rows_skipped else ""
    return (f"k={k} is more than the {rows_used} usable rows of {where}{skipped}; lower k to at most "
            f"{rows_used} by redefining the segmentation, or add rows")
