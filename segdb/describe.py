"""One line per segment, from the features on which it departs most from the population (its profile)."""

from __future__ import annotations

import dataclasses
import math

from .textformat import percent

MIN_SD = 0.25    # departures smaller than this (in population standard deviations) are not mentioned
MAX_TERMS = 3


VERY = 1.5       # departures at least this large (in sd) read "very high" / "very low"


@dataclasses.dataclass(frozen=True)
class LevelShare:
    """One level of a category feature in one segment: its share there and among all rows used."""
    level: str
    share: float
    overall: float

    @property
    def departure(self) -> float:
        """(share - overall) in population standard deviations of the level's 0/1 indicator,
        sqrt(overall (1 - overall)): the z_diff of its profile row, comparable with MIN_SD."""
        sd = math.sqrt(self.overall * (1.0 - self.overall))
        return (self.share - self.overall) / sd if sd > 0 else 0.0


def category_term(label: str, levels: list[LevelShare], min_sd: float = MIN_SD) -> str | None:
    """'Gender: 72% Female vs 44% overall', from the level most over-represented in the segment
    (largest departure); None when no level departs by ``min_sd`` or more."""
    if not levels:
        return None
    top = max(levels, key=lambda s: (s.departure, s.share))
    if not top.departure >= min_sd:
        return None
    return f"{label}: {percent(top.share)} {top.level} vs {percent(top.overall)} overall"


def describe_profile(rows, *, min_sd: float = MIN_SD, max_terms: int = MAX_TERMS,
                     categories: dict | None = None) -> str:
    """One line from a segment's profile rows, taken in their rank order (strongest effect first).

    Each row needs ``feature``, ``label`` and ``z_diff``; features departing less than ``min_sd``
    from the population mean are left out. E.g. 'very high Detergents_Paper (+1.9 sd); high Milk
    (+1.2 sd); low Fresh (-0.4 sd)'.

    ``categories`` maps each indicator column of a category feature (a profile row's ``feature``,
    e.g. 'gender=Female') to (category name, its label, [LevelShare] of this segment). A category is
    described once, where its first indicator comes in rank order, by its level shares
    (:func:`category_term`), not as 'high gender=Female (+0.9 sd); low gender=Male (-0.9 sd)'.
    """
    terms, seen = [], set()
    for r in rows:
        category = (categories or {}).get(r.get("feature"))
        if category is not None:
            name, label, levels = category
            if name in seen:
                continue
            seen.add(name)
            term = category_term(label, levels, min_sd)
            if term is None:
                continue
            terms.append(term)
        else:
            z = r["z_diff"]
            if z is None or math.isnan(z) or abs(z) < min_sd:
                continue
            level = ("very " if abs(z) >= VERY else "") + ("high" if z > 0 else "low")
            terms.append(f"{level} {r['label']} ({z:+.1f} sd)")
        if len(terms) == max_terms:
            break
    return "; ".join(terms) if terms else "close to the average on every feature"
