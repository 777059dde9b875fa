"""Plain-text tables, CSV and JSON for the CLI (no dependency, stable output for tests)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math


def cell(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
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
