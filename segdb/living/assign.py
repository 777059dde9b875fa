"""Label the source's new customers with the current run, in SQL, without refitting.

"New" means: a row of the source whose key the current run has not labelled. Each gets the nearest
centroid of the current run (the SQL of :mod:`segdb.living.scoring`, fed with the run's stored statistics
and centroids) and is added to the run's labels with ``fitted = FALSE``, so ``<name>_segments``
shows it, and says it was assigned rather than fitted. The run's segment sizes and inertia stay those
of the fit. Rows that cannot be labelled stay unlabelled and are counted: a NULL feature (unless
nulls=mean, where the run's mean stands in, as in the fit) or a NaN/infinite one.
"""

from __future__ import annotations

import dataclasses


from . import runmodel, scoring
from ..store.database import transaction, translate
from ..errors import DataError, NotFoundError
from ..engines.quoting import quote_identifier as q
from ..define.definitions import check_source_unchanged, ensure_label_columns
from ..engines.base import ENGINE_ERRORS, Engine


@dataclasses.dataclass(frozen=True)
class AssignResult:
    run_id: int
    candidates: int     # source rows with a key the run has not labelled
    assigned: int       # of those, labelled now
    unlabelled: int     # of those, left out: a NULL (nulls=skip/error) or non-finite feature

    def sentence(self, name: str) -> str:
        return (f"{name}: assigned {self.assigned} new customers to run {self.run_id}"
                + (f"; {self.unlabelled} left unlabelled (NULL or non-finite features)"
                   if self.unlabelled else ""))


def current_model(con: Engine, name: str) -> runmodel.RunModel:
    from ..define.definitions import current_run_id
    run_id = current_run_id(con, name)
    if run_id is None:
        raise NotFoundError(f"segmentation {name!r} has no run yet; run `segdb refresh {name}`")
    return runmodel.load(con, name, run_id)


def new_rows_condition(model: runmodel.RunModel, run_param: str = "?") -> str:
    """Rows of the source (aliased segdb_source) whose key the run has no label for."""
    d = model.definition
    return (f"{q(d.key)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {d.labels_table} AS segdb_l "
            f"WHERE segdb_l.run_id = {run_param} AND segdb_l.segdb_key = segdb_source.{q(d.key)})")


def finite_condition(model: runmodel.RunModel) -> str:
    """Every feature present (unless nulls=mean) and finite: rows that get a label (never filter on
    the scored label itself; see drift.customers_query)."""
    parts = []
    for expr in model.feature_sql(impute=False):
        x = f"CAST({expr} AS DOUBLE)"
        parts.append(f"({expr} IS NULL OR isfinite({x}))" if model.definition.nulls == "mean"
                     else f"isfinite({x})")
    return " AND ".join(parts)


def assign_new(con: Engine, name: str) -> AssignResult:
    model = current_model(con, name)
    d = model.definition
    src, where = check_source_unchanged(con, d)
    new_rows = new_rows_condition(model)
    count_sql = (f"SELECT count(*), count(DISTINCT {q(d.key)}) FROM {src.relation} AS segdb_source "
                 f"WHERE {new_rows}")
    labelling = model.labelling_query(src.relation, where=f"{new_rows} AND {finite_condition(model)}")
    places = ", ".join(scoring.PLACE_COLUMNS)
    insert_sql = (f"INSERT INTO {d.labels_table} (run_id, segdb_key, segment_id, distance, fitted, {places})\n"
                  f"SELECT ?, segdb_key, segment_id, distance, FALSE, {places} FROM ({labelling}) AS segdb_new")
    with transaction(con, f"assigning new customers of {where}"):
        try:
            candidates, distinct = con.execute(count_sql, [model.run_id]).fetchall()[0]
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"reading the new customers of {where}") from exc
        if distinct < candidates:
            raise DataError(f"key {d.key!r} is not unique among the new rows of {where}: "
                            f"{candidates - distinct} duplicate rows; deduplicate the source")
        ensure_label_columns(con, d)  # a labels table created before the runner-up columns
        # counted in the table, not from the INSERT's result: Spark reports no row count
        count_labels = f"SELECT count(*) FROM {d.labels_table} WHERE run_id = ?"
        before = con.execute(count_labels, [model.run_id]).fetchall()[0][0]
        con.execute(insert_sql, [model.run_id, model.run_id]).fetchall()
        assigned = con.execute(count_labels, [model.run_id]).fetchall()[0][0] - before
    return AssignResult(model.run_id, int(candidates), int(assigned), int(candidates - assigned))
