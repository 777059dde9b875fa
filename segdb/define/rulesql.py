"""A segment rule's terms and their SQL: one place renders them over the source's columns (the
readable, pasteable rule) and over any other expressions (the parameters of ``<name>_rule_segment``).

A rule is a conjunction of terms, at most one per declared feature, stored as JSON
(``segdb.segment_rules.terms``); segdb.quality.rules derives them from a decision tree. A term is

* ``{"feature": i, "kind": "range", "lower": a, "lower_inclusive": true, "upper": b,
  "upper_inclusive": false, "null": false, "exclude": [], "also": []}`` for a numeric or likert
  feature, in the values of its source column (before a likert item's reversal): ``a <= x < b``
  (either bound may be null). ``exclude``: codes (read as NULL by the definition) that the bounds
  would let through and that must be left out; ``null``: the definition's imputed value (nulls=mean)
  satisfies the term, so NULL, and each code in ``also``, satisfies it too;
* ``{"feature": i, "kind": "levels", "equal": "North" | null, "not_in": [...], "null": false}`` for
  a category feature: its value is ``equal``, or is none of ``not_in``; with ``equal`` and
  ``not_in`` both null/empty and ``"none": true`` no level satisfies it (only NULL may).

Numbers are segdb's own (thresholds chosen from the data), rendered inline as the shortest decimal
that reads back as the same double (:func:`number_sql`); category levels go through
:func:`segdb.engines.quoting.sql_literal`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from ..engines.quoting import sql_literal
from ..errors import DefinitionError

DEFAULT_DEPTH = 3   # the decision tree's depth the rules are read from
MAX_DEPTH = 8
OPTION = "rules_depth"  # the definition option (not stored when it is the default)


def rules_depth(options: dict) -> int:
    """The definition's ``rules_depth`` option: the tree's depth, 0 for no rules."""
    depth = options.get(OPTION, DEFAULT_DEPTH)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        raise DefinitionError(f"option {OPTION}={depth!r} should be an integer from 0 (no rules) to "
                              f"{MAX_DEPTH}; the default is {DEFAULT_DEPTH}")
    return depth


def number_sql(value: float) -> str:
    """A number as an inline SQL literal that every engine reads back as the same double: an integer
    as such, else Python's shortest round-trip form (``repr``). More than 15 significant digits
    get an exponent, so DuckDB reads a DOUBLE, not a DECIMAL it would divide into a double."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"a rule bound must be finite, not {v!r}")
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = repr(v)
    digits = text.split("e")[0].replace("-", "").replace(".", "").strip("0")
    if "e" not in text and len(digits) > 15:
        text += "e0"
    return text


def _range_sql(t: dict, x: str) -> str:
    lo, hi = t.get("lower"), t.get("upper")
    lo_in, hi_in = t.get("lower_inclusive", True), t.get("upper_inclusive", True)
    if lo is not None and hi is not None and lo == hi and lo_in and hi_in:
        cond = f"{x} = {number_sql(lo)}"
    elif lo is not None and hi is not None and lo_in and hi_in:
        cond = f"{x} BETWEEN {number_sql(lo)} AND {number_sql(hi)}"
    else:
        parts = []
        if lo is not None:
            parts.append(f"{x} {'>=' if lo_in else '>'} {number_sql(lo)}")
        if hi is not None:
            parts.append(f"{x} {'<=' if hi_in else '<'} {number_sql(hi)}")
        cond = " AND ".join(parts) or "TRUE"
    codes = [number_sql(c) for c in t.get("exclude") or ()]
    if codes:
        cond += f" AND {x} NOT IN ({', '.join(codes)})" if len(codes) > 1 else f" AND {x} <> {codes[0]}"
    if t.get("null"):
        also = [number_sql(c) for c in t.get("also") or ()]
        extra = f" OR {x} IN ({', '.join(also)})" if also else ""
        return f"({cond} OR {x} IS NULL{extra})"
    return cond


def _levels_sql(t: dict, x: str) -> str:
    if t.get("none"):
        cond = None
    elif t.get("equal") is not None:
        cond = f"{x} = {sql_literal(str(t['equal']))}"
    else:
        levels = [sql_literal(str(v)) for v in t.get("not_in") or ()]
        cond = (f"{x} <> {levels[0]}" if len(levels) == 1 else
                f"{x} NOT IN ({', '.join(levels)})" if levels else "TRUE")
    if t.get("null"):
        return f"({cond} OR {x} IS NULL)" if cond else f"{x} IS NULL"
    return cond or "FALSE"


def term_sql(term: dict, x: str) -> str:
    """One term as SQL over the expression ``x`` (the feature's column, or a parameter)."""
    return _levels_sql(term, x) if term["kind"] == "levels" else _range_sql(term, x)


def condition_sql(terms: Sequence[dict], columns: Sequence[str]) -> str:
    """A rule's condition: its terms joined by AND, term i over ``columns[feature - 1]``."""
    parts = [term_sql(t, columns[int(t["feature"]) - 1]) for t in sorted(terms, key=lambda t: t["feature"])]
    return " AND ".join(parts) or "TRUE"


def case_sql(rules: Sequence[tuple[int, Sequence[dict]]], columns: Sequence[str], *,
             indent: str | None = None, dialect=None) -> str:
    """``CASE WHEN <rule> THEN <segment id> ... END`` over ``columns`` (NULL when no rule holds);
    ``rules``: (segment id, terms) in the order they are tested (they never overlap). With
    ``indent``, one WHEN per line, for people; ``dialect(sql)``: each condition in another SQL
    dialect (segdb.engines.dialects.expression)."""
    def cond(terms):
        text = condition_sql(terms, columns)
        return dialect(text) if dialect is not None else text
    whens = [f"WHEN {cond(terms)} THEN {int(segment_id)}" for segment_id, terms in rules]
    if indent is None:
        return "CASE " + " ".join(whens) + " END"
    return "CASE\n" + "".join(f"{indent}{w}\n" for w in whens) + "END"


def dump_terms(terms: Sequence[dict]) -> str:
    return json.dumps(list(terms), sort_keys=True)


def load_terms(text: str) -> list[dict]:
    return json.loads(text)
