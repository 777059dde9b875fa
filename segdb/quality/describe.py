"""One line per segment, from the features on which it departs most from the population (its profile)."""

from __future__ import annotations

import dataclasses
import math


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


# A displayed value smaller than this, relative to the size of the numbers it was computed from,
# is floating-point noise: doubles carry 2.2e-16 relative error per operation, and a sum over n rows
# in SQL accumulates at most about n times that (1e-9 covers 4.5 million rows in the worst case and
# far more in practice); no customer feature is read to nine significant digits.
NOISE = 1e-9


def shown(value, magnitude: float | None = 1.0):
    """``value`` as displayed: 0.0 when it is floating-point noise, |value| < NOISE * magnitude.

    ``magnitude`` is the size of the numbers ``value`` was computed from, in ``value``'s own unit:
    see :func:`magnitudes` for a feature's means, centroids and differences. A share of 0 computed
    as 1.0 - 1.0 + 1.1e-16 thus prints 0.000, not 1.11e-16; a genuinely small value (a feature
    measured in millionths) keeps its digits, because its magnitude is small too. Anything that is
    not a finite float is returned unchanged."""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    m = 1.0 if magnitude is None or not math.isfinite(magnitude) or magnitude <= 0 else magnitude
    return 0.0 if abs(value) < NOISE * m else value


def magnitudes(stat: dict) -> dict[str, float]:
    """A feature's magnitudes for :func:`shown`, from its ``segdb.feature_stats`` row: in source
    units ``|mean| + sd`` ('raw': means and raw centroids), in scaled units that over the
    feature's scale, at least 1 ('scaled': scaled centroids), and in population standard
    deviations that over the sd ('sd': z_diff and Cohen's d)."""
    mean, sd, scale = (abs(stat.get(k) or 0.0) for k in ("mean", "stddev", "scale"))
    raw = mean + sd
    return {"raw": raw if raw > 0 else 1.0,
            "scaled": max(1.0, raw / scale) if scale > 0 else 1.0,
            "sd": raw / sd if sd > 0 else 1.0}


def percent(share: float) -> str:
    """'72%'; one decimal when whole percents would round a share that is not 0 or 1 to 0% or
    100% ('99.6%'); floating-point noise around 0 and 1 prints as 0% and 100%."""
    share = shown(float(share))
    if share == 0.0 or shown(1.0 - share) == 0.0:
        return f"{100 * round(share):.0f}%"
    for digits in (0, 1, 2, 3):
        text = f"{100 * share:.{digits}f}"
        if float(text) not in (0.0, 100.0):
            break
    return text + "%"
