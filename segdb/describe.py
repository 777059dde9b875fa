"""One line per segment, from the features on which it departs most from the population (its profile)."""

from __future__ import annotations

import math

MIN_SD = 0.25    # departures smaller than this (in population standard deviations) are not mentioned
MAX_TERMS = 3


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
