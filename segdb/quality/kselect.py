"""Choosing k: scan a range of k on a bounded seeded sample, then apply one documented rule.

The scan fits k-means (scikit-learn, the definition's seed) for k = 1 and
every k of the range on at most ``SCAN_MAX_ROWS`` rows (a seeded sample beyond), with
``scan_restarts`` restarts: as many as ``SCAN_RESTART_BUDGET`` row-fits allow, between the
definition's n_init (at least ``SCAN_MIN_N_INIT``) and ``SCAN_MAX_N_INIT`` (50 restarts on small
tables, where a rare better local minimum matters and restarts are cheap; 10 at 20,000 rows), and records
inertia, silhouette (on at most ``metrics.SILHOUETTE_MAX_ROWS`` of those rows, one pass of
distances shared by every k), Calinski-Harabasz, Davies-Bouldin and seconds per k.

The rule (``choose_k``):

1. knee: put k = 1..k_max and the inertia on [0, 1] scales; the knee is the k in the range whose
   point lies farthest below the straight line from the first point (k=1) to the last (k_max).
2. best silhouette: the k in the range with the highest silhouette.
3. If they agree, that k ("knee+silhouette"). If the knee's silhouette is within
   ``SILHOUETTE_TOLERANCE`` of the best, the knee ("knee"): the elbow is the classic reading and
   the silhouette does not contradict it. Otherwise the best silhouette ("silhouette"): the
   inertia curve bends where the clusters are not separated.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from . import metrics
from ..cluster.threads import one_thread
from ..define.definitions import DEFAULT_K_RANGE

SCAN_MAX_ROWS = 20_000
SCAN_MIN_N_INIT = 10
SCAN_MAX_N_INIT = 50
SCAN_RESTART_BUDGET = 200_000   # restarts x scan rows
SILHOUETTE_TOLERANCE = 0.05


@dataclasses.dataclass(frozen=True)
class ScanRow:
    k: int
    inertia: float
    silhouette: float | None
    calinski_harabasz: float | None
    davies_bouldin: float | None
    seconds: float
    scan_rows: int
    silhouette_sample_size: int | None


@dataclasses.dataclass(frozen=True)
class KChoice:
    k: int
    rule: str      # fixed | knee+silhouette | knee | silhouette
    reason: str    # one sentence, in words
    k_min: int | None = None
    k_max: int | None = None
    edge: str | None = None  # the range may be too narrow: one sentence (see ``edge_note``)


def _fit_labels(Xs: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray | None:
    """Labels of the best of ``n_init`` k-means fits, or None when there are fewer than k distinct rows."""
    from sklearn.cluster import KMeans  # here, not at import: `segdb --help` / `list` stay light
    from sklearn.exceptions import ConvergenceWarning
    model = KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    # One thread: the scan sample is bounded, and OpenMP oversubscription on a busy machine costs
    # far more than the parallelism saves (see segdb.quality.stability).
    with warnings.catch_warnings(), one_thread():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model.fit(Xs)
        except ConvergenceWarning:
            return None
    return model.labels_


def scan(X: np.ndarray, k_min: int, k_max: int, *, seed: int, n_init: int) -> list[ScanRow]:
    """k = 1 and k_min..k_max on the scan sample; stops early when k exceeds the distinct rows."""
    idx = metrics.sample_indices(X.shape[0], SCAN_MAX_ROWS, seed)
    Xs = X if idx is None else X[idx]
    n_init = scan_restarts(Xs.shape[0], n_init)
    sil_idx = metrics.sample_indices(Xs.shape[0], metrics.SILHOUETTE_MAX_ROWS, seed + 1)
    fits = {}
    for k in [1] + list(range(k_min, k_max + 1)):
        if k > Xs.shape[0]:
            break
        started = time.perf_counter()
        labels = np.zeros(Xs.shape[0], dtype=np.int64) if k == 1 else _fit_labels(Xs, k, seed, n_init)
        if labels is None:
            break
        fits[k] = (labels, time.perf_counter() - started)
    ks = [k for k in fits if k > 1]
    sil_rows = Xs if sil_idx is None else Xs[sil_idx]
    started = time.perf_counter()
    sils = metrics.silhouette_samples_many(
        sil_rows, [fits[k][0] if sil_idx is None else fits[k][0][sil_idx] for k in ks])
    sil_seconds = (time.perf_counter() - started) / max(len(ks), 1)
    sil_by_k = dict(zip(ks, sils))
    rows = []
    for k, (labels, seconds) in fits.items():
        started = time.perf_counter()
        if k == 1:
            rows.append(ScanRow(1, metrics.inertia(Xs, labels), None, None, None,
                                round(seconds + time.perf_counter() - started, 4), Xs.shape[0], None))
            continue
        ch = metrics.calinski_harabasz(Xs, labels)
        db = metrics.davies_bouldin(Xs, labels)
        sil = float(np.mean(sil_by_k[k]))
        rows.append(ScanRow(k, metrics.inertia(Xs, labels), _finite(sil), _finite(ch), _finite(db),
                            round(seconds + sil_seconds + time.perf_counter() - started, 4),
                            Xs.shape[0], sil_rows.shape[0]))
    return rows


def scan_restarts(rows: int, n_init: int) -> int:
    floor = max(n_init, SCAN_MIN_N_INIT)
    return max(floor, min(SCAN_MAX_N_INIT, SCAN_RESTART_BUDGET // max(rows, 1)))


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def knee(rows: list[ScanRow], k_min: int, k_max: int) -> int | None:
    """The k in [k_min, k_max] farthest below the chord of the normalised inertia curve."""
    pts = sorted((r.k, r.inertia) for r in rows)
    if len(pts) < 3:
        return None
    ks = np.array([p[0] for p in pts], dtype=float)
    inert = np.array([p[1] for p in pts], dtype=float)
    span = inert[0] - inert[-1]
    if span <= 0:
        return None
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (inert - inert[-1]) / span
    gap = (1.0 - x) - y           # the chord runs from (0, 1) to (1, 0)
    candidates = [(gap[i], -ks[i]) for i in range(len(ks)) if k_min <= ks[i] <= k_max]
    if not candidates:
        return None
    best_gap, neg_k = max(candidates)
    return int(-neg_k) if best_gap > 0 else None


def choose_k(rows: list[ScanRow], k_min: int, k_max: int) -> KChoice:
    """The rule of the module docstring; a choice at the edge of the range says so (``edge_note``)."""
    choice = _choose(rows, k_min, k_max)
    edge = edge_note(rows, choice)
    if edge is None:
        return choice
    return dataclasses.replace(choice, reason=f"{choice.reason}; {edge}", edge=edge)


def _gaps(rows: list[ScanRow]) -> dict[int, float]:
    """Per k, the depth of the normalised inertia curve below its chord (see :func:`knee`)."""
    pts = sorted((r.k, r.inertia) for r in rows)
    span = pts[0][1] - pts[-1][1] if len(pts) >= 3 else 0.0
    if span <= 0:
        return {}
    k_first, k_last, low = pts[0][0], pts[-1][0], pts[-1][1]
    return {k: (1.0 - (k - k_first) / (k_last - k_first)) - (i - low) / span for k, i in pts}


def edge_note(rows: list[ScanRow], choice: KChoice) -> str | None:
    """One sentence when ``choice`` sits at an edge of its range with the criterion still improving
    toward it (see the module docstring), else None."""
    lo, hi, k = choice.k_min, choice.k_max, choice.k
    if lo is None or hi is None or lo == hi or k not in (lo, hi):
        return None
    if k == lo and lo <= 2:
        return None  # k=2 is the smallest k there is
    neighbour = k + 1 if k == lo else k - 1
    by_k = {r.k: r for r in rows}
    if neighbour not in by_k:
        return None
    if choice.rule == "knee":
        gaps = _gaps(rows)
        at, near = gaps.get(k), gaps.get(neighbour)
        trend = "the inertia curve bends most there"
    else:
        at, near = by_k[k].silhouette, by_k[neighbour].silhouette
        trend = (f"the silhouette still rises toward it ({near:.3f} at k={neighbour}, {at:.3f} at k={k})"
                 if at is not None and near is not None else "")
    if at is None or near is None or not at > near:
        return None
    from ..define.definitions import K_AUTO_MAX  # late: definitions is not needed to scan
    if k == lo:
        return (f"k={k} is the smallest k of the range {lo}..{hi} and {trend}: the best k may lie "
                f"below {lo}; widen the k range, e.g. to 2..{hi}")
    if hi >= K_AUTO_MAX:
        return (f"k={k} is the largest k of the range {lo}..{hi} and {trend}: the best k may lie "
                f"above {hi}, beyond the largest k segdb scans ({K_AUTO_MAX})")
    return (f"k={k} is the largest k of the range {lo}..{hi} and {trend}: the best k may lie "
            f"above {hi}; widen the k range, e.g. to {lo}..{min(K_AUTO_MAX, 2 * hi)}")


def _choose(rows: list[ScanRow], k_min: int, k_max: int) -> KChoice:
    in_range = [r for r in rows if k_min <= r.k <= k_max]
    if not in_range:
        raise ValueError("no k of the range could be fitted")
    top = max(in_range, key=lambda r: (r.silhouette if r.silhouette is not None else -2.0, -r.k))
    if top.silhouette is None:  # only possible with almost no rows: keep the smallest k
        return KChoice(top.k, "silhouette", f"no silhouette could be computed in {k_min}..{k_max}, "
                       f"so the smallest k={top.k} is kept", k_min, k_max)
    by_k = {r.k: r for r in rows}
    knee_k = knee(rows, k_min, k_max)
    fitted_max = max(r.k for r in in_range)
    note = "" if fitted_max == k_max else f" (k above {fitted_max} not fitted: too few distinct rows)"
    if knee_k is None:
        return KChoice(top.k, "silhouette", f"the inertia curve has no knee in {k_min}..{k_max}{note}, "
                       f"so k={top.k} has the highest silhouette ({top.silhouette:.3f})", k_min, k_max)
    knee_sil = by_k[knee_k].silhouette
    if knee_k == top.k:
        return KChoice(knee_k, "knee+silhouette",
                       f"k={knee_k} is the knee of the inertia curve and also has the highest "
                       f"silhouette ({top.silhouette:.3f}) in {k_min}..{k_max}{note}", k_min, k_max)
    if knee_sil is not None and top.silhouette is not None and knee_sil >= top.silhouette - SILHOUETTE_TOLERANCE:
        return KChoice(knee_k, "knee",
                       f"k={knee_k} is the knee of the inertia curve; its silhouette ({knee_sil:.3f}) is "
                       f"within {SILHOUETTE_TOLERANCE} of the best (k={top.k}, {top.silhouette:.3f}){note}",
                       k_min, k_max)
    knee_text = f"{knee_sil:.3f}" if knee_sil is not None else "undefined"
    return KChoice(top.k, "silhouette",
                   f"k={top.k} has the highest silhouette ({top.silhouette:.3f}); the knee of the inertia "
                   f"curve, k={knee_k}, scores {knee_text}, more than {SILHOUETTE_TOLERANCE} lower{note}",
                   k_min, k_max)


def select(X: np.ndarray, *, k: int | None, k_min: int | None, k_max: int | None, seed: int,
           n_init: int, scan_requested: bool = False) -> tuple[KChoice, list[ScanRow]]:
    """The k to fit and the scan to store: a fixed k needs no scan unless one is requested; an
    automatic k (``k`` None) scans ``k_min..k_max`` and applies :func:`choose_k`."""
    if k is not None and not scan_requested:
        return KChoice(k, "fixed", f"k={k} is fixed by the definition"), []
    lo, hi = (k_min, k_max) if k_min and k_max else DEFAULT_K_RANGE
    if k is not None:
        lo, hi = min(lo, k), max(hi, k)
    rows = scan(X, lo, hi, seed=seed, n_init=n_init)
    if k is None:
        return choose_k(rows, lo, hi), rows
    auto = _choose(rows, lo, hi)  # a fixed k: what the scan would choose, no advice on the range
    if auto.k == k:
        reason = f"k={k} is fixed by the definition, and the scan of {lo}..{hi} agrees: {auto.reason}"
    else:
        reason = (f"k={k} is fixed by the definition; the scan of {lo}..{hi} would choose k={auto.k} "
                  f"by the {auto.rule} rule: {auto.reason}")
    return KChoice(k, "fixed", reason, lo, hi), rows
