"""The refresh step between the definition and the statistics: check typed features against the
data, discover category levels, and expand the definition into one feature per matrix column.

``prepare`` runs before anything is computed or written:
* a weight column must be present, finite and >= 0 on the rows used (:mod:`segdb.define.weights`);
* a likert feature may hold only values on its scale or its declared codes (one SQL query each);
* a category feature's levels are discovered in SQL and replaced by indicator columns
  (:mod:`segdb.define.categories`).
The expanded definition is what the statistics, the matrix, the fit and the write-back see; the
mapping from matrix columns back to features is written per run to ``segdb.feature_columns``.
"""

from __future__ import annotations

import dataclasses


from ..define import categories, weights
from ..store.database import insert_rows, translate
from ..define.definitions import Definition
from ..errors import DataError
from ..define.features import expression_type, feature_sql, out_of_scale_message, scale_check_query
from ..store.sqlfiles import load_sql
from ..define.sqlgen import used_condition
from ..engines import dialect_of
from ..engines.base import ENGINE_ERRORS, Engine


@dataclasses.dataclass(frozen=True)
class MatrixColumn:
    feature_no: int          # 1-based column of the matrix, feature_stats and centroids
    name: str                # its name in feature_stats and in <name>_centroids
    source_feature_no: int   # 1-based position of the feature it comes from in the definition
    source_feature: str
    kind: str                # numeric | likert | category
    level: str | None        # the category level of an indicator column
    expression: str          # SQL over the source giving the column's (unscaled) value


@dataclasses.dataclass(frozen=True)
class Prepared:
    original: Definition
    definition: Definition               # one feature per matrix column
    columns: tuple[MatrixColumn, ...]

    def adjust_stats(self, st):
        """Replace the center/scale of category indicator columns by the category weighting."""
        feats = list(st.features)
        for no, f in enumerate(self.original.features, start=1):
            if f.kind != "category":
                continue
            idx = [c.feature_no - 1 for c in self.columns if c.source_feature_no == no]
            scaling = categories.block_scaling(self.original.scale, [feats[i].mean for i in idx], f.weight)
            for i, (center, scale) in zip(idx, scaling):
                feats[i] = categories.rescaled(feats[i], center, scale)
        return dataclasses.replace(st, features=tuple(feats))

    def writer(self, relation: str, fit, sample_weight):
        """A writer(con, run_id) for the write-back transaction: the column mapping and category
        shares of the run; it returns the weighted segment sizes as segment columns (or None)."""
        def write(con: Engine, run_id: int) -> dict | None:
            insert_rows(con, load_sql("insert_feature_column"), [
                [run_id, c.feature_no, c.name, c.source_feature_no, c.source_feature, c.kind,
                 c.level, c.expression] for c in self.columns])
            weight_expr = weights.weight_sql(self.original) if weights.weight_column(self.original) else None
            for f in self.original.features:
                if f.kind == "category":
                    con.execute(categories.shares_sql(self.original, f, relation, weight_expr),
                                [run_id, f.name, run_id])
            if sample_weight is None:
                return None
            return weights.segment_weighted_sizes(fit.labels, sample_weight, fit.centers.shape[0])
        return write


def check_scales(con, d: Definition, relation: str, where: str) -> None:
    for f in d.features:
        if f.kind != "likert":
            continue
        sql, params = scale_check_query(f, relation)
        rows = con.execute(sql, params).fetchall()
        if rows:
            raise DataError(out_of_scale_message(f, rows, where))


def prepare(con: Engine, d: Definition, src, where: str) -> Prepared:
    try:
        used = used_condition(d)
        if weights.weight_column(d) is not None:
            weights.check(con, d, src.relation, used, where)
        for f in d.features:
            if f.expr:  # the source may have changed since the expression was checked
                expression_type(con, f, src, d.key)
        check_scales(con, d, src.relation, where)
        expanded, columns = [], []
        for no, f in enumerate(d.features, start=1):
            if f.kind == "category":
                levels = categories.discover_levels(con, f, src.relation, used, d.nulls, where)
                parts = list(zip(categories.expand(f, levels), levels))
            else:
                parts = [(f, None)]
            for feat, level in parts:
                expanded.append(feat)
                columns.append(MatrixColumn(len(expanded), feat.name, no, f.name, f.kind, level,
                                            feature_sql(feat)))
    except ENGINE_ERRORS as exc:
        raise translate(exc, f"checking the features of {where}") from exc
    categories.check_unique_names([c.name for c in columns], where, dialect_of(con))
    return Prepared(d, dataclasses.replace(d, features=tuple(expanded)), tuple(columns))


def column_labels(d: Definition, column_names: list[str]) -> list[str]:
    """Display labels of a run's matrix columns: a feature's label, or '<label>=<level>'."""
    labels = {f.name: f.display for f in d.features}
    out = []
    for name in column_names:
        if name in labels:
            out.append(labels[name])
            continue
        for f in d.features:
            if f.kind == "category" and name.startswith(f.name + "="):
                out.append(f"{f.display}={name[len(f.name) + 1:]}")
                break
        else:
            out.append(name)
    return out


