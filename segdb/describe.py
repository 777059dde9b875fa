"""One line per segment, from the features on which its centroid departs most from the population."""

from __future__ import annotations

import math

MIN_SD = 0.25    # departures smaller than this (in population standard deviations) are not mentioned
MAX_TERMS = 3


def z_differences(centroid_raw, means, stddevs) -> list[float]:
    out = []
    for c, m, s in zip(centroid_raw, means, stddevs):
        out.append((c - m) / s if s else 0.0)
    return out


def describe_segment(labels, z_diffs, *, min_sd: float = MIN_SD, max_terms: int = MAX_TERMS) -> str:
    """E.g. 'high Premium savings very important (+1.0 sd); low Agent not important (-0.9 sd)'."""
    ranked = sorted(range(len(labels)), key=lambda i: (-abs(z_diffs[i]), i))
    terms = []
    for i in ranked[:max_terms]:
        z = z_diffs[i]
        if math.isnan(z) or abs(z) < min_sd:
            continue
        terms.append(f"{'high' if z > 0 else 'low'} {labels[i]} ({z:+.1f} sd)")
    return "; ".join(terms) if terms else "close to the average on every feature"


VERY = 1.5       # departures at least this large (in sd) read "very high" / "very low"


def describe_profile(rows, *, min_sd: float = MIN_SD, max_terms: int = MAX_TERMS) -> str:
    """One line from a segment's profile rows, taken in their rank order (strongest effect first).

    Each row needs ``label`` and ``z_diff``; features departing less than ``min_sd`` from the
    population mean are left out. E.g. 'very high Detergents_Paper (+1.9 sd); high Milk (+1.2 sd);
    low Fresh (-0.4 sd)'.
    """
    terms = []
    for r in rows:
        z = r["z_diff"]
        if z is None or math.isnan(z) or abs(z) < min_sd:
            continue
        level = ("very " if abs(z) >= VERY else "") + ("high" if z > 0 else "low")
        terms.append(f"{level} {r['label']} ({z:+.1f} sd)")
        if len(terms) == max_terms:
            break
    return "; ".join(terms) if terms else "close to the average on every feature"
