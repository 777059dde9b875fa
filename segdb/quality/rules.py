"""A readable rule for each segment: a shallow decision tree on the features in source units.

A refresh fits scikit-learn's ``DecisionTreeClassifier`` (depth ``rules_depth``, default 3, on a
seeded sample of at most :data:`RULES_MAX_ROWS` rows of the fitted matrix turned back into source
units; leaves hold at least :data:`MIN_LEAF_SHARE` of the sample) to predict each row's segment.
Each leaf is a conjunction of thresholds; sibling leaves predicting the same segment are merged, so
a segment's rules are the remaining leaves predicting it. Bounds on one feature merge into one
term (``x >= 3 AND x >= 5`` -> ``x >= 5``); a category's indicator reads ``"Region" = 'North'`` or
``"Region" <> 'North'``; a reversed likert item reads in the values of its source column.

Thresholds are chosen so that the rules agree with the tree's own ``predict`` on every row of the
source: the tree compares a feature's value, cast to float32, with its threshold; one aggregate
query over the rows used finds, for each split, the largest source value going one way and the
smallest going the other, and the rule's bound is the shortest number between them (the two values
themselves when both are integers: ``<= 4`` / ``>= 5``, never ``<= 4.5``). Under nulls=mean a NULL
(or a code) takes the feature's mean, as in the fit, and the term says whether NULL satisfies it.

Coverage (the share of a segment's sample rows its rule catches), precision (the share of the rows
the rule catches that are in the segment) and the fidelity (the share of the sample whose rule names
their own segment) are measured on the tree's sample.
"""

from __future__ import annotations

import dataclasses
import decimal
import time

import numpy as np

from ..define import rulesql
from ..define.features import base_sql, feature_sql
from ..define.sqlgen import used_condition
from ..engines import dialect_of
from ..engines.dialects import expression
from ..store.database import insert_rows
from ..store.sqlfiles import load_sql

RULES_MAX_ROWS = 20_000  # enough for a depth-3 tree; the fit took 0.3 s at 20k rows, 3 s at 100k (d=8, loaded 2 cores)
MIN_LEAF_SHARE = 0.01
# the definition's option (checked where definitions are: segdb.define.rulesql)
DEFAULT_DEPTH, MAX_DEPTH, OPTION, rules_depth = (rulesql.DEFAULT_DEPTH, rulesql.MAX_DEPTH, rulesql.OPTION,
                                                 rulesql.rules_depth)


def fit_tree(R: np.ndarray, y: np.ndarray, depth: int, seed: int):
    """The decision tree the rules are read from (its parameters are part of what a run stores)."""
    from sklearn.tree import DecisionTreeClassifier  # here: `segdb --help` stays light
    min_leaf = max(1, int(MIN_LEAF_SHARE * R.shape[0]))
    return DecisionTreeClassifier(max_depth=depth, min_samples_leaf=min_leaf,
                                  random_state=int(seed) % (2 ** 32)).fit(R, y)


FLOAT32_SAFE = 2.0 ** 120  # well inside float32's range (3.4e38 = 2^128): a column's largest |value| is brought below it


def float32_units(R: np.ndarray) -> np.ndarray:
    """Per column, the power of two the tree's input is divided by: 1 for every column within
    float32's range (the usual case: nothing changes), else 2^e bringing its largest |value| below
    FLOAT32_SAFE. A tree compares float32 copies of its input, and scikit-learn refuses the
    infinities a value beyond 3.4e38 would become; dividing doubles by a power of two is exact,
    so the thresholds, multiplied back, split the source values as the tree split the scaled ones."""
    largest = np.max(np.abs(R), axis=0, initial=0.0)
    exponents = np.where(largest > FLOAT32_SAFE, np.frexp(largest)[1] - 120, 0)
    return np.ldexp(1.0, exponents)


def float32_boundary(t: float) -> float:
    """The largest double ``b`` with ``x <= b`` exactly when ``float32(x) <= t``: how a tree, which
    compares its float32 input with ``t``, splits doubles."""
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    g = np.nextafter(f, np.float32(np.inf))
    if not np.isfinite(g):
        return float(np.finfo(np.float64).max)
    mid = (float(f) + float(g)) / 2.0  # exact: a float32 midpoint fits a double
    return mid if float(np.float32(mid)) <= t else float(np.nextafter(mid, -np.inf))


def nicest_between(lo: float, hi: float) -> float:
    """The number with the fewest significant digits in ``(lo, hi]`` (``hi`` when none is shorter)."""
    hi_d = decimal.Decimal(repr(float(hi)))
    exponent = hi_d.adjusted()
    for digits in range(1, 16):
        quantum = decimal.Decimal(1).scaleb(exponent - digits + 1)
        candidate = float(hi_d.quantize(quantum, rounding=decimal.ROUND_FLOOR))
        if lo < candidate <= hi:
            return candidate
    return float(hi)


@dataclasses.dataclass(frozen=True)
class Rule:
    segment_id: int
    rule_no: int
    terms: tuple
    condition_sql: str
    n_rows: int
    n_segment: int
    coverage: float | None
    precision: float | None


@dataclasses.dataclass(frozen=True)
class RuleSet:
    max_depth: int
    leaves: int
    sample_rows: int
    fidelity: float | None
    seconds: float
    rules: tuple[Rule, ...]


@dataclasses.dataclass(frozen=True)
class _Leaf:
    segment_id: int
    path: tuple       # ((column index, threshold, goes left), ...)
    nodes: tuple      # the tree's leaf nodes merged into it


def _leaves(tree) -> list[_Leaf]:
    """The tree's leaves, sibling subtrees predicting one segment merged, left before right."""
    t = tree.tree_
    classes = tree.classes_

    def walk(node: int, path: tuple) -> list[_Leaf]:
        if t.children_left[node] == -1:
            return [_Leaf(int(classes[int(np.argmax(t.value[node]))]), path, (node,))]
        j, thr = int(t.feature[node]), float(t.threshold[node])
        left = walk(int(t.children_left[node]), path + ((j, thr, True),))
        right = walk(int(t.children_right[node]), path + ((j, thr, False),))
        both = left + right
        if len({leaf.segment_id for leaf in both}) == 1:
            return [_Leaf(both[0].segment_id, path, tuple(n for leaf in both for n in leaf.nodes))]
        return both
    return walk(0, ())


class RulesJob:
    """The rules of a run: the sample and the tree now (the caller may free the matrix when the
    constructor returns), the thresholds and rows in :meth:`writer`, inside the run's transaction."""

    def __init__(self, X: np.ndarray, labels: np.ndarray, *, stats, columns, declared, expanded,
                 nulls: str, seed: int, depth: int, max_rows: int = RULES_MAX_ROWS):
        started = time.perf_counter()
        self.depth, self.columns, self.declared, self.expanded = depth, tuple(columns), declared, expanded
        self.nulls, self.stats = nulls, tuple(stats)
        n = X.shape[0]
        rng = np.random.default_rng(int(seed) % (2 ** 63))
        rows = np.sort(rng.choice(n, size=max_rows, replace=False)) if n > max_rows else slice(None)
        scale = np.array([s.scale for s in stats], dtype=np.float64)
        center = np.array([s.center for s in stats], dtype=np.float64)
        R = X[rows] * scale + center  # source units (NULLs imputed under nulls=mean, as fitted)
        self.units = float32_units(R)
        R /= self.units
        y = np.asarray(labels)[rows].astype(np.int64)
        self.tree = fit_tree(R, y, depth, seed)
        self.leaves = _leaves(self.tree)
        leaf_of = {node: i for i, leaf in enumerate(self.leaves) for node in leaf.nodes}
        caught = np.array([leaf_of[int(v)] for v in self.tree.apply(R)], dtype=np.int64)
        predicted = np.array([leaf.segment_id for leaf in self.leaves], dtype=np.int64)[caught]
        self.sample_rows = int(R.shape[0])
        self.n_rows = np.bincount(caught, minlength=len(self.leaves))
        self.n_segment = np.bincount(caught, weights=(predicted == y), minlength=len(self.leaves)).astype(np.int64)
        self.segment_rows = {int(s): int(c) for s, c in zip(*np.unique(y, return_counts=True))}
        self.fidelity = float(np.mean(predicted == y)) if self.sample_rows else None
        self._seconds = time.perf_counter() - started

    # -- thresholds in source values ---------------------------------------------------------------

    def _source_value_sql(self, j: int) -> str:
        """The source value of column j's feature as its rule reads it: codes read as NULL, before
        a likert item's reversal."""
        return f"CAST({feature_sql(dataclasses.replace(self._declared_of(j), reverse=False))} AS DOUBLE)"

    def _splits(self) -> list[tuple[int, float]]:
        found = {(j, thr) for leaf in self.leaves for j, thr, _ in leaf.path
                 if self.columns[j].kind != "category"}
        return sorted(found)

    def _sides(self, con, relation: str) -> dict:
        """(column, threshold) -> (largest source value below, smallest above) over the rows used,
        in the source's own order (reversal undone)."""
        splits = self._splits()
        if not splits:
            return {}
        cols, params = [], []
        for i, (j, thr) in enumerate(splits):
            v = f"CAST({feature_sql(self.expanded.features[j])} AS DOUBLE)"
            x = self._source_value_sql(j)
            b = self._boundary(j, thr)
            # the low side (smaller source values) is the tree's left, or its right for a reversed item
            low, high = ("> ?", "<= ?") if self._declared_of(j).reverse else ("<= ?", "> ?")
            cols += [f"max(CASE WHEN {v} {low} THEN {x} END) AS segdb_low{i}",
                     f"min(CASE WHEN {v} {high} THEN {x} END) AS segdb_high{i}"]
            params += [b, b]
        row = con.execute(f"SELECT {', '.join(cols)} FROM {relation} AS segdb_source "
                          f"WHERE {used_condition(self.expanded)}", params).fetchall()[0]
        return {split: tuple(None if v is None else float(v) for v in row[2 * i:2 * i + 2])
                for i, split in enumerate(splits)}

    def _boundary(self, j: int, thr: float) -> float:
        """The largest source value of column j the tree sends left at ``thr`` (in its units)."""
        return float32_boundary(thr) * float(self.units[j])

    def _declared_of(self, j: int):
        return self.declared.features[self.columns[j].source_feature_no - 1]

    def _bound(self, sides: dict, j: int, thr: float, left: bool) -> tuple[str, float, bool]:
        """("lower" | "upper", value, inclusive) of the tree's branch in source values."""
        low, high = sides[(j, thr)]
        to_low = left != self._declared_of(j).reverse
        if low is not None and high is not None and float(low).is_integer() and float(high).is_integer():
            return ("upper", low, True) if to_low else ("lower", high, True)
        if high is None:   # nothing above on any row: the low side is everything up to its maximum
            return ("upper", low, True) if to_low else ("lower", low, False)
        cut = high if low is None else nicest_between(low, high)
        return ("upper", cut, False) if to_low else ("lower", cut, True)

    def _null_goes(self, j: int, thr: float, left: bool) -> bool:
        """Whether a NULL (the imputed mean under nulls=mean) takes this branch; False for a feature
        with no NULL (nor code) in the run: the rule then needs no NULL clause to agree on every row."""
        if self.nulls != "mean" or not self.stats[j].n_null:
            return False
        mean = self.stats[j].mean
        return mean is not None and (mean <= self._boundary(j, thr)) == left

    def _terms(self, leaf: _Leaf, sides: dict) -> tuple[dict, ...]:
        by_feature: dict[int, list] = {}
        for j, thr, left in leaf.path:
            by_feature.setdefault(self.columns[j].source_feature_no, []).append((j, thr, left))
        terms = []
        for no in sorted(by_feature):
            f = self.declared.features[no - 1]
            branches = by_feature[no]
            null = all(self._null_goes(j, thr, left) for j, thr, left in branches)
            if f.kind == "category":
                equal = sorted({self.columns[j].level for j, _, left in branches if not left})
                not_in = sorted({self.columns[j].level for j, _, left in branches if left})
                term = {"feature": no, "kind": "levels", "null": null, "equal": None, "not_in": []}
                if len(equal) > 1 or (equal and equal[0] in not_in):
                    term["none"] = True
                elif equal:
                    term["equal"] = equal[0]
                else:
                    term["not_in"] = not_in
                terms.append(term)
                continue
            lower = upper = None  # (value, inclusive), the tightest of each kind
            for j, thr, left in branches:
                side, value, inclusive = self._bound(sides, j, thr, left)
                if side == "lower":
                    if lower is None or value > lower[0] or (value == lower[0] and not inclusive):
                        lower = (value, inclusive)
                elif upper is None or value < upper[0] or (value == upper[0] and not inclusive):
                    upper = (value, inclusive)
            terms.append(self._range_term(f, no, lower, upper, null))
        return tuple(terms)

    @staticmethod
    def _range_term(f, no: int, lower, upper, null: bool) -> dict:
        def inside(c: float) -> bool:
            return ((lower is None or c > lower[0] or (c == lower[0] and lower[1]))
                    and (upper is None or c < upper[0] or (c == upper[0] and upper[1])))
        if f.kind == "likert" and not null and any(inside(c) for c in f.codes):
            # codes lie outside the scale: its other end as a bound leaves them out, readably
            if lower is None:
                lower = (float(f.scale_min), True)
            if upper is None:
                upper = (float(f.scale_max), True)
        codes = [float(c) for c in f.codes]
        return {"feature": no, "kind": "range", "null": null,
                "lower": None if lower is None else lower[0],
                "lower_inclusive": True if lower is None else lower[1],
                "upper": None if upper is None else upper[0],
                "upper_inclusive": True if upper is None else upper[1],
                "exclude": [] if null else [c for c in codes if inside(c)],
                "also": [c for c in codes if not inside(c)] if null else []}

    def rule_set(self, con, relation: str) -> RuleSet:
        """The rules, their thresholds read from the rows used (one aggregate query)."""
        started = time.perf_counter()
        sides = self._sides(con, relation)
        columns = [base_sql(f) for f in self.declared.features]
        dialect = dialect_of(con)
        as_engine = (lambda text: text) if dialect != "spark" else (lambda text: expression(dialect, text))
        drafts = []
        for i, leaf in enumerate(self.leaves):
            terms = self._terms(leaf, sides)
            n_rows, n_seg = int(self.n_rows[i]), int(self.n_segment[i])
            seg_rows = self.segment_rows.get(leaf.segment_id, 0)
            drafts.append((leaf.segment_id, -n_seg, i, terms, as_engine(rulesql.condition_sql(terms, columns)), n_rows,
                           n_seg, n_seg / seg_rows if seg_rows else None, n_seg / n_rows if n_rows else None))
        drafts.sort(key=lambda r: r[:3])
        rules, numbers = [], {}
        for segment_id, _, _, terms, sql, n_rows, n_seg, coverage, precision in drafts:
            numbers[segment_id] = numbers.get(segment_id, 0) + 1
            rules.append(Rule(segment_id, numbers[segment_id], terms, sql, n_rows, n_seg, coverage, precision))
        seconds = round(self._seconds + time.perf_counter() - started, 4)
        return RuleSet(self.depth, len(rules), self.sample_rows, self.fidelity, seconds, tuple(rules))

    def writer(self, relation: str):
        """writer(con, run_id) for the write-back transaction: the run's rules and their figures."""
        def write(con, run_id: int) -> None:
            rs = self.rule_set(con, relation)
            insert_rows(con, load_sql("insert_segment_rule"), [
                [run_id, r.segment_id, r.rule_no, r.condition_sql, rulesql.dump_terms(r.terms), r.n_rows,
                 r.n_segment, r.coverage, r.precision] for r in rs.rules])
            con.execute(load_sql("insert_run_rules"),
                        [run_id, rs.max_depth, rs.leaves, rs.sample_rows, rs.fidelity, rs.seconds])
        return write


def start(X: np.ndarray, labels: np.ndarray, *, stats, columns, declared, expanded, nulls: str,
          seed: int, options: dict) -> RulesJob | None:
    """The rules job of a run, or None when the definition asks for none (``rules_depth`` 0) or
    there is only one segment."""
    depth = rules_depth(options)
    if depth == 0 or X.shape[0] == 0 or len(np.unique(labels)) < 2 or X.shape[0] != len(labels):
        return None
    return RulesJob(X, labels, stats=stats, columns=columns, declared=declared, expanded=expanded,
                    nulls=nulls, seed=seed, depth=depth)


def load(con, run_id: int) -> tuple[dict | None, list[dict]]:
    """(the run's rules row or None, its rules: segment_id, rule_no, condition_sql, terms, n_rows,
    n_segment, coverage, precision), for a run written before rules existed: (None, [])."""
    from ..store.database import dict_rows
    run = dict_rows(con, load_sql("run_rules"), [run_id])
    rules = dict_rows(con, load_sql("run_segment_rules"), [run_id])
    for r in rules:
        r["terms"] = rulesql.load_terms(r["terms"])
    return (run[0] if run else None), rules
