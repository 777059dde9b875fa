"""Plain-text tables, CSV and JSON for the CLI (no dependency, stable output for tests)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math


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


def segment_label(segment_id, name: str | None = None) -> str:
    """How a segment id is displayed in tables and headings: '2', or '2 Price hunters' once named."""
    return f"{segment_id} {name}" if name else str(segment_id)


def cell(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0:
            value = 0.0  # no "-0.000"
        if value != 0 and (abs(value) >= 1e9 or abs(value) < 1e-4):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def ordinal_word(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def run_label(run_id, ordinal=None) -> str:
    """How a run is named to a person: 'run 7 (its 2nd run)'. Run ids are shared by every
    segmentation, so the ordinal (the run's number within its own segmentation) says which of
    its runs it is; without one (a run that is not recorded), just 'run 7'."""
    if ordinal is None:
        return f"run {run_id}"
    return f"run {run_id} (its {ordinal_word(ordinal)} run)"


def table(headers, rows, *, digits: int = 4) -> str:
    text_rows = [[cell(v, digits) for v in r] for r in rows]
    widths = [len(str(h)) for h in headers]
    for r in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]
    numeric = [all(isinstance(r[i], (int, float, decimal.Decimal)) and not isinstance(r[i], bool)
                   for r in rows if r[i] is not None) and any(r[i] is not None for r in rows)
               for i in range(len(headers))]

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.rjust(w) if numeric[i] else c.ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line([str(h) for h in headers]), sep] + [line(r) for r in text_rows])


def to_csv(headers, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for r in rows:
        writer.writerow(["" if v is None else v for v in r])
    return buf.getvalue().rstrip("\n")


def _json_default(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def to_json(headers, rows) -> str:
    return json.dumps([dict(zip(headers, r)) for r in rows], default=_json_default, ensure_ascii=False)
