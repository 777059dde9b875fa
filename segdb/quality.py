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
import time

import numpy as np

from . import metrics
from .kselect import KChoice, ScanRow
from .stability import Stability, bootstrap_stability

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
    started = time.perf_counter()
    labels = np.asarray(labels)
    n_segments = len(metrics.distinct_values(labels))
    if n_segments >= 2 and X.shape[0] > n_segments:
        sil, values, idx = metrics.silhouette(X, labels, seed=seed)
        sample_labels = labels if idx is None else labels[idx]
        per_segment = {int(s): (float(np.mean(values[sample_labels == s])), int(np.sum(sample_labels == s)))
                       for s in np.unique(sample_labels)}
        sil_rows = values.shape[0]
    else:
        sil, per_segment, sil_rows = None, {}, 0
    ch, db = metrics.calinski_harabasz_and_davies_bouldin(X, labels)
    stab = bootstrap_stability(X, labels, k, seed=seed)
    sil = _finite(sil)
    return RunQuality(choice=choice, scan=tuple(scan), silhouette=sil, silhouette_sample_size=sil_rows,
                      segment_silhouette=per_segment, calinski_harabasz=_finite(ch),
                      davies_bouldin=_finite(db), stability=stab, verdict=verdict(sil, stab),
                      seconds=round(time.perf_counter() - started, 4))
