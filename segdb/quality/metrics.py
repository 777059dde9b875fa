"""Cluster quality metrics on an in-memory matrix, with bounded memory.

The formulas are scikit-learn's (``sklearn.metrics.silhouette_samples``, ``calinski_harabasz_score``,
``davies_bouldin_score``; the tests compare against them), computed so that:

- silhouette needs O(chunk x n) memory, never O(n^2): distances are formed a block of rows at a
  time, and one pass over the blocks serves several labelings at once (a k scan reuses the same
  distances for every k);
- Calinski-Harabasz and Davies-Bouldin need one pass over the rows and O(k x d) extra memory, so
  they run on every row used even at millions of rows.

Labels are any integer array; clusters are numbered by their distinct values (as scikit-learn does).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..cluster.fastfit import distances_to_own_centroid  # the buffered one: no per-chunk temporaries
from ..cluster.threads import one_thread

SILHOUETTE_MAX_ROWS = 10_000   # exact silhouette up to this many rows, a seeded sample beyond
CHUNK_BYTES = 64 * 1024 * 1024  # largest block of the distance matrix
BLOCK_ROWS = 256               # rows per block: small blocks stay in cache (measured fastest at 10k rows)


def sample_indices(n: int, cap: int, seed: int) -> np.ndarray | None:
    """Sorted row numbers of a seeded sample of ``cap`` rows, or None when ``n <= cap`` (all rows)."""
    if n <= cap:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=cap, replace=False))


_COUNT_CHUNK = 1 << 20  # labels counted or encoded per chunk: 8 MB of int64 at a time


def _small_int_range(labels: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(lowest value, presence per value from it) when ``labels`` are integers in a range small enough
    to count (segment ids are): a counting pass instead of np.unique's sort, 10x faster at 1M rows."""
    if labels.dtype.kind not in "iub" or not labels.size:
        return None
    low, high = int(labels.min()), int(labels.max())
    if high - low > 4 * labels.size + 1024:
        return None
    present = np.zeros(high - low + 1, dtype=bool)
    for start in range(0, labels.size, _COUNT_CHUNK):  # no int64 copy of every label at once
        present |= np.bincount(labels[start:start + _COUNT_CHUNK].astype(np.int64) - low,
                               minlength=high - low + 1) > 0
    return low, present


def distinct_values(labels) -> np.ndarray:
    """The sorted distinct values of ``labels``, as np.unique."""
    labels = np.asarray(labels).ravel()
    counted = _small_int_range(labels)
    if counted is None:
        return np.unique(labels)
    low, present = counted
    return (np.flatnonzero(present) + low).astype(labels.dtype)


def _encode(labels) -> tuple[np.ndarray, int]:
    """(codes 0..k-1 in the order of the sorted distinct labels, k), as np.unique(return_inverse)."""
    labels = np.asarray(labels).ravel()
    counted = _small_int_range(labels)
    if counted is not None:
        low, present = counted
        code_of = np.cumsum(present) - 1
        codes = np.empty(labels.size, dtype=np.int64)
        for start in range(0, labels.size, _COUNT_CHUNK):  # the codes are the only full-size array
            stop = start + _COUNT_CHUNK
            np.take(code_of, labels[start:stop].astype(np.int64) - low, out=codes[start:stop])
        return codes, int(present.sum())
    uniques, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64), len(uniques)


def cluster_sums(X: np.ndarray, codes: np.ndarray, k: int, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, per-cluster sums of the rows of X), one pass and no copy of X.

    Each block of rows is summed per cluster by a (k x rows) 0/1 matrix times the block: BLAS reads
    the rows once, where one bincount per feature walks the row-major matrix d times (4.5x slower at
    10M x 8); the block's 0/1 matrix (3 MiB at k = 6) stays in cache.
    """
    n, width = X.shape
    sizes = np.bincount(codes, minlength=k).astype(np.float64)
    sums = np.zeros((k, width))
    member = np.empty((k, min(chunk, max(n, 1))))
    cluster_ids = np.arange(k)[:, None]
    for start in range(0, n, chunk):
        block = codes[start:start + chunk]
        m = member[:, :block.size]
        np.equal(block[None, :], cluster_ids, out=m)
        sums += m @ X[start:start + chunk]
    return sizes, sums


@dataclasses.dataclass(frozen=True)
class ClusterMoments:
    """Per cluster, in the order of the sorted distinct labels ``ids``: its size, the mean of its
    rows, the per-column sums of squared deviations from that mean, and the sum of its rows'
    distances to it (:func:`cluster_moments`)."""
    ids: np.ndarray
    sizes: np.ndarray      # float64, k
    means: np.ndarray      # k x d
    squares: np.ndarray    # k x d
    distances: np.ndarray  # k


def cluster_moments(X: np.ndarray, labels, chunk: int = 1 << 16) -> ClusterMoments:
    """The clusters' :class:`ClusterMoments` in two blocked passes over X, no copy of X: the means,
    then the deviations from them. What Calinski-Harabasz and Davies-Bouldin need, and the profiles'
    per-segment means and variances (segdb.quality.profiles.figures_from_moments) from the same
    passes instead of a join of the labels with the source in SQL (1.3-1.9 s at 10M).

    Each cluster's rows are summed as differences from one of them (its first row): a column that
    is constant within a cluster then has exactly its value as mean and exactly 0 as variance, as
    the database's ``var_pop`` gives, where a plain sum's rounding leaves a deviation of about
    1e-16 whose square made a Cohen's d of 1.7e16 (tests/test_quality_present.py)."""
    codes, k = _encode(labels)
    ids = distinct_values(labels)
    n, width = X.shape
    sizes = np.bincount(codes, minlength=k).astype(np.float64)
    rows = min(chunk, max(n, 1))
    member, deviation, distance = np.empty((k, rows)), np.empty((rows, width)), np.empty(rows)
    cluster_ids = np.arange(k)[:, None]
    first, missing = np.zeros((k, width)), np.ones(k, dtype=bool)
    shifted = np.zeros((k, width))
    for start in range(0, n, chunk):
        block = codes[start:start + chunk]
        for c in np.flatnonzero(missing):  # a cluster's first row, in the first block holding it
            found = np.flatnonzero(block == c)
            if found.size:
                first[c], missing[c] = X[start + found[0]], False
        m, b = member[:, :block.size], deviation[:block.size]
        np.equal(block[None, :], cluster_ids, out=m)
        np.take(first, block, axis=0, out=b, mode="clip")  # "raise" buffers out
        np.subtract(X[start:start + chunk], b, out=b)
        shifted += m @ b
    means = first + shifted / sizes[:, None]
    squares, distances = np.zeros((k, width)), np.zeros(k)
    for start in range(0, n, chunk):
        block = codes[start:start + chunk]
        m, b, r = member[:, :block.size], deviation[:block.size], distance[:block.size]
        np.equal(block[None, :], cluster_ids, out=m)
        np.take(means, block, axis=0, out=b, mode="clip")
        np.subtract(X[start:start + chunk], b, out=b)
        np.multiply(b, b, out=b)
        squares += m @ b
        np.sum(b, axis=1, out=r)
        np.sqrt(r, out=r)
        distances += m @ r
    return ClusterMoments(ids, sizes, means, squares, distances)


def cluster_means(X: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, means) per cluster."""
    sizes, sums = cluster_sums(X, codes, k)
    return sizes, sums / sizes[:, None]


def silhouette_samples_many(X: np.ndarray, labelings, *, chunk_bytes: int = CHUNK_BYTES) -> list[np.ndarray]:
    """Per-row silhouette for each labeling of the rows of ``X`` (as sklearn's silhouette_samples).

    Rows alone in their cluster get 0. A labeling with one cluster (or one cluster per row) is
    undefined in scikit-learn; here it gets NaN for every row.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    encoded = [_encode(lab) for lab in labelings]
    left, right = _augmented(X)
    rows_per_chunk = max(1, min(BLOCK_ROWS, int(chunk_bytes // (8 * max(n, 1)))))
    onehots = [_onehot(codes, k) for codes, k in encoded]
    sizes = [np.bincount(codes, minlength=k).astype(np.float64) for codes, k in encoded]
    sums = [np.zeros((n, k)) for _, k in encoded]  # distance sums of every row to every cluster
    # One BLAS thread: measured 2-4x faster than the default on a busy 2-core machine.
    with one_thread():
        for start in range(0, n, rows_per_chunk):
            _accumulate_strip(left, right, start, min(n, start + rows_per_chunk), onehots, sums)
    out = []
    rows = np.arange(n)
    for m, (codes, k) in enumerate(encoded):
        if k < 2 or k >= n:
            out.append(np.full(n, np.nan))
            continue
        own_size = sizes[m][codes]
        a_sum = sums[m][rows, codes]
        means = sums[m] / sizes[m][None, :]
        means[rows, codes] = np.inf
        b_min = means.min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = a_sum / (own_size - 1)
            s = (b_min - a) / np.maximum(a, b_min)
        s[own_size <= 1] = 0.0
        out.append(np.nan_to_num(s))
    return out


def _augmented(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, R) with ``L[i] @ R[:, j] = |x_i|^2 - 2 x_i.x_j + |x_j|^2``: the squared distances of a
    block come out of one matrix product instead of a product and two passes adding the norms."""
    sq = np.einsum("ij,ij->i", X, X)[:, None]
    ones = np.ones_like(sq)
    return np.hstack([X, ones, sq]), np.ascontiguousarray(np.hstack([-2.0 * X, sq, ones]).T)


def _accumulate_strip(left, right, start, stop, onehots, sums) -> None:
    """Add the distances between rows start..stop and rows start..n-1 to the per-cluster sums.

    Distances are symmetric, so each pair is computed once: the strip's rows get their sums over
    columns from ``start`` on, and the columns beyond the strip's own rows get the transposed sums
    (rows before ``start`` reached them in earlier strips). Half the products and square roots of
    computing every row against every row.
    """
    D = _euclidean_strip(left, right, start, stop)
    own = stop - start
    for m, onehot in enumerate(onehots):
        row_sums = D @ onehot[start:]                # (own, k): sums to each cluster
        if m == 0:
            # a NaN distance (see _euclidean_strip) makes every sum of its row NaN
            bad = np.flatnonzero(np.isnan(row_sums[:, 0]))
            if bad.size:
                D[bad] = _clipped_rows(left, right, start + bad, start)
                row_sums[bad] = D[bad] @ onehot[start:]
        sums[m][start:stop] += row_sums
        if D.shape[1] > own:
            sums[m][stop:] += D[:, own:].T @ onehot[start:stop]


def _euclidean_strip(left: np.ndarray, right: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Distances from rows start..stop to rows start..n-1, as sklearn's euclidean_distances.

    Rounding can make the squared distance of two (nearly) equal rows slightly negative; sklearn
    clips at 0 before the square root. Clipping every entry costs a full pass, as long as the
    square root itself, so the root is taken first and the rows where it gave NaN are redone with
    the clip by :func:`_clipped_rows` (the caller finds them in its per-cluster sums): the same
    numbers, one pass fewer in the usual case.
    """
    D = left[start:stop] @ right[:, start:]
    with np.errstate(invalid="ignore"):
        np.sqrt(D, out=D)
    # A row's distance to itself is exactly 0 (sklearn sets the diagonal too).
    own = np.arange(stop - start)
    D[own, own] = 0.0
    return D


def _clipped_rows(left: np.ndarray, right: np.ndarray, rows: np.ndarray, start: int) -> np.ndarray:
    """Distances from ``rows`` to rows start..n-1 with the squared distances clipped at 0 (sklearn's way)."""
    D = left[rows] @ right[:, start:]
    np.maximum(D, 0.0, out=D)
    D[np.arange(rows.size), rows - start] = 0.0
    return np.sqrt(D, out=D)


def _onehot(codes: np.ndarray, k: int) -> np.ndarray:
    m = np.zeros((codes.shape[0], k))
    m[np.arange(codes.shape[0]), codes] = 1.0
    return m


def silhouette_sample(X: np.ndarray, labels, *, max_rows: int = SILHOUETTE_MAX_ROWS,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(rows, their labels, sampled row numbers or None): every row up to ``max_rows``, else a
    seeded sample (copies)."""
    idx = sample_indices(X.shape[0], max_rows, seed)
    return (X, np.asarray(labels), None) if idx is None else (X[idx], np.asarray(labels)[idx], idx)


def silhouette(X: np.ndarray, labels, *, max_rows: int = SILHOUETTE_MAX_ROWS,
               seed: int = 0) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(mean silhouette, per-row values, sampled row numbers or None) — exact up to ``max_rows``."""
    Xs, ls, idx = silhouette_sample(X, labels, max_rows=max_rows, seed=seed)
    values = silhouette_samples_many(Xs, [ls])[0]
    return float(np.mean(values)), values, idx


def calinski_harabasz(X: np.ndarray, labels) -> float:
    return calinski_harabasz_and_davies_bouldin(X, labels)[0]


def davies_bouldin(X: np.ndarray, labels) -> float:
    return calinski_harabasz_and_davies_bouldin(X, labels)[1]


def calinski_harabasz_and_davies_bouldin(X: np.ndarray, labels,
                                         moments: ClusterMoments | None = None) -> tuple[float, float]:
    """Both scores from the clusters' moments (:func:`cluster_moments`: one pass for the cluster
    means and one for the deviations from them; computing the scores apart repeats both passes
    over every row). ``moments``: those of ``X`` and ``labels``, already computed."""
    n = X.shape[0]
    m = moments if moments is not None else cluster_moments(X, labels)
    k = len(m.ids)
    if k < 2 or k >= n:
        return float("nan"), float("nan")
    sizes, means = m.sizes, m.means
    # Calinski-Harabasz: between-cluster over within-cluster dispersion.
    overall = (sizes @ means) / n  # the overall mean from the cluster means: no pass over X
    extra = float(np.sum(sizes * np.sum((means - overall) ** 2, axis=1)))
    intra_sq = float(np.sum(m.squares))
    ch = 1.0 if intra_sq == 0.0 else extra * (n - k) / (intra_sq * (k - 1.0))
    # Davies-Bouldin: mean over clusters of the worst (spread_i + spread_j) / separation_ij.
    intra = m.distances / sizes
    diff = means[:, None, :] - means[None, :, :]
    centroid_dist = np.sqrt(np.sum(diff ** 2, axis=2))
    if np.allclose(intra, 0) or np.allclose(centroid_dist, 0):
        return ch, 0.0
    centroid_dist[centroid_dist == 0] = np.inf
    combined = intra[:, None] + intra[None, :]
    return ch, float(np.mean(np.max(combined / centroid_dist, axis=1)))


def inertia(X: np.ndarray, labels) -> float:
    """Sum of squared distances to the cluster means (k=1: to the overall mean)."""
    codes, k = _encode(labels)
    _, means = cluster_means(X, codes, k)
    dist = distances_to_own_centroid(X, means, codes)
    return float(np.dot(dist, dist))
