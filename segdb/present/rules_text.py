"""A run's segment rules for people: the pasteable CASE expression and one line per rule, for
`segdb rules`, `segdb show`, `segdb profile` and the report (segdb.quality.rules stores them)."""

from __future__ import annotations

import dataclasses

from ..define import rulesql
from ..define.definitions import Definition
from ..define.features import base_sql
from ..engines import dialect_of
from ..engines.dialects import expression
from ..quality import rules as rules_mod


@dataclasses.dataclass
class RunRules:
    """A run's rules as stored: the tree's figures (None for a run without rules) and its rules."""
    definition: Definition   # the run's definition, as declared (one column per feature)
    run_id: int
    tree: dict | None        # segdb.run_rules: max_depth, leaves, sample_rows, fidelity, seconds
    rules: list[dict]        # segdb.segment_rules rows, terms parsed

    dialect: str = "duckdb"  # the engine's: the CASE is printed in its SQL

    def case_sql(self, columns=None) -> str | None:
        """The CASE giving each row's segment by its rule, over the source's columns (or
        ``columns``, one SQL expression per feature), in the engine's SQL; None for a run without
        rules."""
        if not self.rules:
            return None
        columns = columns or [base_sql(f) for f in self.definition.features]
        translate = None if self.dialect != "spark" else (lambda text: expression(self.dialect, text))
        return rulesql.case_sql([(r["segment_id"], r["terms"]) for r in self.rules], columns, indent="    ",
                                dialect=translate)

    def of_segment(self, segment_id: int) -> list[dict]:
        return [r for r in self.rules if r["segment_id"] == segment_id]


def load(con, definition: Definition, run_id: int) -> RunRules:
    tree, rules = rules_mod.load(con, run_id)
    return RunRules(definition, int(run_id), tree, rules, dialect_of(con))


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def rule_line(rule: dict, of: int) -> str:
    """'rule 1 of 2: "x" >= 5 AND "Region" = 'North' (coverage 95.0%, precision 96.3%)'."""
    return (f"rule {rule['rule_no']} of {of}: {rule['condition_sql']} "
            f"(coverage {_pct(rule['coverage'])}, precision {_pct(rule['precision'])})")


def segment_rule_lines(rr: RunRules | None, segment_id: int, indent: str = "  ") -> list[str]:
    """The rules of one segment, one line each; a line saying none when the tree gives it none."""
    if rr is None or rr.tree is None:
        return []
    mine = rr.of_segment(segment_id)
    if not mine:
        return [f"{indent}no rule: the tree never predicts this segment"]
    return [indent + rule_line(r, len(mine)) for r in mine]


def fidelity_sentence(rr: RunRules) -> str:
    """'a decision tree of depth 3 on 150 rows gives 3 rules; fidelity 94.2% (...)'."""
    t = rr.tree
    return (f"a decision tree of depth {t['max_depth']} on {t['sample_rows']} rows gives {t['leaves']} "
            f"rules; fidelity {_pct(t['fidelity'])} (rows whose rule names their own segment)")


def summary_lines(rr: RunRules | None, segments: list[dict]) -> list[str]:
    """For `segdb show`: the fidelity, then each segment's rules."""
    if rr is None:
        return []
    if rr.tree is None:
        return ["", "rules: none stored for this run (rules_depth 0, or written before segdb stored rules)"]
    lines = ["", f"rules: {fidelity_sentence(rr)}; `segdb rules {rr.definition.name}` prints them as "
                 "one SQL CASE"]
    for s in segments:
        lines.append(f"segment {s['segment_id']}:")
        lines += segment_rule_lines(rr, s["segment_id"])
    return lines
