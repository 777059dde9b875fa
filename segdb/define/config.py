"""Segmentations declared in a TOML file: ``segdb apply segdb.toml``.

    [segmentation.rfm]
    source = "SELECT customer_id, count(*) AS purchases, ... FROM cdnow GROUP BY customer_id"
    key = "customer_id"
    k = 4                      # or k = "auto" with k_range = [2, 10]
    seed = 0
    features = ["recency_days"]          # plain numeric columns, and/or tables:

    [[segmentation.rfm.features]]
    name = "log_purchases"
    expr = "ln(1 + purchases)"

Every segmentation is checked (file syntax, keys and types, then against the database) before any
is stored; then each is stored as a new definition version unless it is unchanged. Errors name the
file, the line and the key.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from . import definitions
from ..store.database import read_only_reads
from .features import Feature
from ..engines.result import first_line
from ..errors import DefinitionError, EngineError, NotFoundError, SegdbError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SEGMENTATION_KEYS = {"source": str, "key": str, "k": (int, str), "k_range": list, "scale": str,
                     "nulls": str, "seed": int, "n_init": int, "max_fit_rows": int, "weight": str,
                     "external_access": bool, "warm_start": bool, "rules_depth": int,
                     "features": list}
REQUIRED_KEYS = ("source", "key", "features")
FEATURE_KEYS = {"name": str, "label": str, "expr": str, "type": str, "scale": list, "codes": list,
                "reverse": bool, "weight": (int, float)}
TYPE_NAMES = {str: "a string", int: "a whole number", list: "a list", bool: "true or false",
              (int, str): "a whole number or \"auto\"", (int, float): "a number"}


class ConfigError(DefinitionError):
    """A declaration file is invalid; the message names the file, line and key."""


@dataclasses.dataclass(frozen=True)
class Declared:
    name: str
    kwargs: dict          # keyword arguments of definitions.validate
    k_auto: tuple | None  # (k_min, k_max) when k = "auto"


@dataclasses.dataclass(frozen=True)
class Applied:
    name: str
    action: str   # created | updated | unchanged
    version: int


class _Locator:
    """Best-effort line numbers for keys of a parsed TOML file (tomllib keeps no positions)."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def _header(self, pattern: str, occurrence: int = 0) -> int | None:
        seen = -1
        for i, line in enumerate(self.lines):
            if re.match(pattern, line):
                seen += 1
                if seen == occurrence:
                    return i
        return None

    def _key_after(self, start: int, key: str) -> int | None:
        for i in range(start + 1, len(self.lines)):
            if re.match(r"\s*\[", self.lines[i]):
                return None
            if re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", self.lines[i]):
                return i
        return None

    def line(self, seg: str | None, key: str | None = None, feature: int | None = None,
             feature_name: str | None = None) -> int:
        name = rf"(?:{re.escape(seg)}|\"{re.escape(seg)}\"|'{re.escape(seg)}')" if seg else ""
        table = self._header(rf"\s*\[\s*segmentation\s*\.\s*{name}\s*\]") if seg else None
        if feature is not None:
            # an array of tables [[segmentation.NAME.features]]: the n-th header among those
            # (features given as strings or inline tables come first in the list)
            inline = self._key_after(table, "features") if table is not None else None
            if inline is not None and feature_name is not None:
                for i in range(inline, len(self.lines)):
                    if re.search(rf"[\"']{re.escape(feature_name)}[\"']", self.lines[i]):
                        return i + 1
                    if i > inline and re.match(r"\s*\[", self.lines[i]):
                        break
            pattern = rf"\s*\[\[\s*segmentation\s*\.\s*{name}\s*\.\s*features\s*\]\]"
            for occurrence in range(feature, -1, -1):
                found = self._header(pattern, occurrence)
                if found is not None:
                    at_key = self._key_after(found, key) if key else None
                    return (at_key if at_key is not None else found) + 1
            if inline is not None:
                return inline + 1
        if table is not None:
            at_key = self._key_after(table, key) if key else None
            return (at_key if at_key is not None else table) + 1
        return 1


def _key_path(seg, key=None, feature=None) -> str:
    path = f"segmentation.{seg}" if seg else "segmentation"
    if feature is not None:
        path += f".features[{feature + 1}]"
    return f"{path}.{key}" if key else path


def _fail(path, loc: _Locator, message: str, seg=None, key=None, feature=None, feature_name=None):
    line = loc.line(seg, key, feature, feature_name)
    raise ConfigError(f"{path}, line {line}, key {_key_path(seg, key, feature)}: {message}")


def _check_type(value, expected) -> bool:
    if expected is int or expected == (int, str):
        if isinstance(value, bool):
            return False
    if expected == (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def _feature(path, loc, seg, i, item) -> dict:
    if isinstance(item, str):
        return {"name": item}
    if not isinstance(item, dict):
        _fail(path, loc, f"a feature is a column name or a table, not {item!r}", seg, "features")
    fname = item.get("name") if isinstance(item.get("name"), str) else None
    for key, value in item.items():
        if key not in FEATURE_KEYS:
            _fail(path, loc, f"unknown feature key {key!r}; use {', '.join(FEATURE_KEYS)}",
                  seg, key, i, fname)
        if not _check_type(value, FEATURE_KEYS[key]):
            _fail(path, loc, f"{key} must be {TYPE_NAMES[FEATURE_KEYS[key]]}, not {value!r}",
                  seg, key, i, fname)
    if fname is None:
        _fail(path, loc, "every feature needs name = \"...\"", seg, "name", i)
    spec = {"name": fname}
    for key in ("label", "expr", "codes", "reverse", "weight"):
        if key in item:
            spec[key] = item[key]
    if "scale" in item:
        scale = item["scale"]
        if len(scale) != 2:
            _fail(path, loc, f"scale is [lowest, highest], e.g. [1, 7], not {scale!r}", seg, "scale", i, fname)
        spec["scale_min"], spec["scale_max"] = scale
    spec["kind"] = item.get("type", "likert" if "scale" in item else "numeric")
    try:
        Feature(**spec)
    except SegdbError as exc:
        # the key the message is about ("code 4 lies inside its scale" is about codes)
        bad = next((k for k in ("codes", "reverse", "weight", "scale", "type", "expr")
                    if k in item and k.rstrip("s") in exc.message), "name")
        _fail(path, loc, exc.message, seg, bad, i, fname)
    return spec


def _segmentation(path, loc, seg, table) -> Declared:
    if not isinstance(table, dict):
        _fail(path, loc, f"[segmentation.{seg}] must be a table", seg)
    for key, value in table.items():
        if key not in SEGMENTATION_KEYS:
            _fail(path, loc, f"unknown key {key!r}; use {', '.join(SEGMENTATION_KEYS)}", seg, key)
        if not _check_type(value, SEGMENTATION_KEYS[key]):
            _fail(path, loc, f"{key} must be {TYPE_NAMES[SEGMENTATION_KEYS[key]]}, not {value!r}", seg, key)
    for key in REQUIRED_KEYS:
        if key not in table:
            _fail(path, loc, f"missing required key {key!r}", seg)
    kwargs = {k: v for k, v in table.items() if k not in ("features", "k_range")}
    kwargs["name"] = seg
    kwargs["features"] = [_feature(path, loc, seg, i, item) for i, item in enumerate(table["features"])]
    k_auto = None
    if table.get("k") == "auto":
        k_range = table.get("k_range", list(definitions.DEFAULT_K_RANGE))
        if len(k_range) != 2 or not all(_check_type(v, int) for v in k_range) or k_range[0] > k_range[1]:
            _fail(path, loc, f"k_range is [smallest k, largest k], e.g. {list(definitions.DEFAULT_K_RANGE)}, not {k_range!r}",
                  seg, "k_range")
        k_auto = tuple(k_range)
    elif isinstance(table.get("k"), str):
        _fail(path, loc, f"k must be a whole number or \"auto\", not {table['k']!r}", seg, "k")
    elif "k_range" in table:
        _fail(path, loc, "k_range goes with k = \"auto\"", seg, "k_range")
    kwargs.setdefault("k", 3)
    return Declared(seg, kwargs, k_auto)


def parse(path) -> list[Declared]:
    """Read and check a declaration file (syntax, keys, types); nothing touches the database."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a UTF-8 text file (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
                          "give a TOML declaration file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", detail)
        line = m.group(1) if m else "?"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", first_line(exc))
        key = re.match(r"\s*([\w\".-]+)\s*=", text.splitlines()[int(line) - 1]) if m else None
        where = f", key {key.group(1)}" if key else ""
        raise ConfigError(f"{path}, line {line}{where}: not valid TOML: {reason}") from None
    loc = _Locator(text)
    for key in data:
        if key != "segmentation":
            line = next((i + 1 for i, l in enumerate(loc.lines)
                         if re.match(rf"\s*\[*\s*{re.escape(key)}\b", l)), 1)
            raise ConfigError(f"{path}, line {line}, key {key}: unknown top-level key; declare "
                              "segmentations as [segmentation.NAME] tables")
    segs = data.get("segmentation")
    if not isinstance(segs, dict) or not segs:
        raise ConfigError(f"{path}, line 1, key segmentation: no segmentation declared; "
                          "add a [segmentation.NAME] table")
    return [_segmentation(path, loc, name, table) for name, table in segs.items()]


def _feature_index(decl: Declared, message: str):
    for i, f in enumerate(decl.kwargs["features"]):
        if f"feature {f['name']!r}" in message or f"column {f['name']!r}" in message:
            return i, f["name"]
    return None, None


def _key_of(message: str) -> str | None:
    for pattern, key in ((r"^k=|^k range\b", "k"), (r"\bweight column\b", "weight"),
                         (r"^key\b|\bkey column\b|\bthe key\b", "key"), (r"\bsource\b|\btable\b", "source"),
                         (r"\bk=|\bn_clusters\b", "k"),
                         (r"\bscale\b", "scale"), (r"\bnull policy\b", "nulls"), (r"\bseed\b", "seed")):
        if re.search(pattern, message):
            return key
    return None


def _validate(con, path, loc, decl: Declared) -> definitions.Definition:
    kwargs = decl.kwargs if decl.k_auto is None else dict(decl.kwargs, k_range=decl.k_auto)
    try:
        with read_only_reads(con, decl.name):  # PostgreSQL: the checks read the source without side effects
            return definitions.validate(con, **kwargs)
    except EngineError:  # the database failed, not the file's declaration (as duckdb.Error on DuckDB)
        raise
    except SegdbError as exc:
        i, fname = _feature_index(decl, exc.message)
        key = ("expr" if "expr" in exc.message else "name") if i is not None else _key_of(exc.message)
        _fail(path, loc, exc.message, decl.name, key, i, fname)


def apply(con, path) -> list[Applied]:
    """Create or update every segmentation declared in ``path``; unchanged ones keep their version.

    All declarations are checked against the database before any is stored."""
    declared = parse(path)  # checks the file exists and is UTF-8 TOML
    loc = _Locator(Path(path).read_text(encoding="utf-8"))
    checked = [_validate(con, path, loc, decl) for decl in declared]
    for d in checked:  # the one refusal of store(), checked before anything is stored
        before = definitions.get(con, d.name, missing_ok=True)
        if before is not None and before.key_type != d.key_type:
            _fail(path, loc, f"the key of {d.name!r} changes type from {before.key_type} to "
                             f"{d.key_type}; declare the segmentation under a new name instead", d.name, "key")
    out = []
    for d in checked:
        before = definitions.get(con, d.name, missing_ok=True)
        stored = definitions.store(con, d, replace=True)
        action = ("created" if before is None else
                  "unchanged" if stored.version == before.version else "updated")
        out.append(Applied(d.name, action, stored.version))
    return out
