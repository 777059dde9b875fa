"""Plain-text tables, CSV and JSON for the CLI (no dependency, stable output for tests)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math

from ..quality.describe import magnitudes, shown


def segment_label(segment_id, name: str | None = None) -> str:
    """How a segment id is displayed in tables and headings: '2', or '2 Price hunters' once named."""
    return f"{segment_id} {name}" if name else str(segment_id)


def segment_title(segment: dict) -> str:
    """'segment 2' or, once named with `segdb name`, 'segment 2: Price hunters' (the pictures)."""
    name = segment.get("name")
    return f"segment {segment['segment_id']}" + (f": {name}" if name else "")


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


def displayed(rows: list[dict], feature_stats: list[dict]) -> list[dict]:
    """Profile rows as printed (`segdb profile`, the report): mean_raw, z_diff and effect_size with
    floating-point noise shown as 0, judged against the feature's magnitude
    (:func:`shown`): a share that is 0 prints 0.000, not 1.67e-16."""
    size = {s["feature"]: magnitudes(s) for s in feature_stats}
    out = []
    for r in rows:
        m = size.get(r["feature"], {"raw": 1.0, "sd": 1.0})
        out.append({**r, "mean_raw": shown(r["mean_raw"], m["raw"]), "z_diff": shown(r["z_diff"], m["sd"]),
                    "effect_size": shown(r["effect_size"], m["sd"])})
    return out
