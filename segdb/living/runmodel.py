"""A stored run as a nearest-centroid model: its statistics and centroids, read back from the tables.

Macros, assigning new customers and drift checks all score rows with the run exactly as stored
(segdb.feature_stats and segdb.centroids), through the SQL of :mod:`segdb.living.scoring`.
"""

from __future__ import annotations

import dataclasses


from ..define import definitions
from . import scoring
from ..errors import NotFoundError
from ..define.features import feature_sql
from ..define.definitions import expand_for_run, run_columns
from ..engines.quoting import quote_identifier as q
from ..engines.quoting import sql_literal
from ..store.sqlfiles import load_sql
from ..engines.base import Engine


@dataclasses.dataclass(frozen=True)
class RunModel:
    run_id: int
    definition: definitions.Definition   # the run's definition expanded: one feature per matrix column
    features: tuple[str, ...]            # matrix column names, in order
    means: tuple[float, ...]             # per feature, over the rows the run used
    stddevs: tuple[float, ...]
    centers: tuple[float, ...]           # scaled = (raw - center) / scale
    scales: tuple[float, ...]
    segment_ids: tuple[int, ...]         # ascending
    centroids: tuple[tuple[float, ...], ...]   # scaled units, one row per segment id
    macro_parameters: tuple[str, ...] = ()     # one per feature of the definition as declared
    macro_columns: tuple[str, ...] = ()        # each matrix column as SQL over those parameters
    declared_features: tuple = ()              # the definition's features as declared (one per parameter)

    def feature_sql(self, impute: bool = True) -> list[str]:
        """Each matrix column as SQL over the source (codes, reversal, indicators applied as in the
        fit); under nulls=mean a NULL takes the run's mean, as the fit did (``impute=False`` keeps
        NULLs, so they give NULL labels)."""
        cols = [feature_sql(f) for f in self.definition.features]
        if impute and self.definition.nulls == "mean":
            return [f"coalesce(CAST({c} AS DOUBLE), {sql_literal(float(m))})"
                    for c, m in zip(cols, self.means)]
        return cols

    def labelling_query(self, relation: str, where: str | None = None) -> str:
        """SELECT segdb_key, segment_id, distance for the rows of ``relation`` (see scoring.py)."""
        return scoring.labelling_query(
            q(self.definition.key), self.feature_sql(), relation, centers=self.centers,
            scales=self.scales, centroids=self.centroids, segment_ids=self.segment_ids, where=where)


def _rows(con: Engine, sql: str, params) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def load(con: Engine, name: str, run_id: int,
         definition: definitions.Definition | None = None) -> RunModel:
    """The model of run ``run_id`` of segmentation ``name`` (which must still hold its rows).

    ``definition`` is the run's definition when the run is being written (its segdb.runs row comes
    last in the write-back transaction); otherwise it is read from the run's row.
    """
    d = definition
    if d is None:
        run = _rows(con, "SELECT segmentation, definition_version FROM segdb.runs WHERE run_id = ?",
                    [run_id])
        if not run or run[0][0] != name:
            raise NotFoundError(f"segmentation {name!r} has no run {run_id}; see `segdb runs {name}`")
        d = definitions.get(con, name, run[0][1])
    declared = definitions.get(con, name, d.version)
    columns = run_columns(con, run_id)  # read once, expanded twice (Spark: a job per read)
    d = expand_for_run(declared, columns)
    # Macros take one argument per declared feature (its column's or expression's value) and apply
    # the feature's transformations to it, so the analyst passes raw answers, not matrix columns.
    parameters = tuple(f"x{i}" for i in range(1, len(declared.features) + 1))
    as_parameters = dataclasses.replace(declared, features=tuple(
        dataclasses.replace(f, expr=p) for f, p in zip(declared.features, parameters)))
    macro_columns = tuple(feature_sql(f) for f in expand_for_run(as_parameters, columns).features)
    stats = _rows(con, load_sql("run_feature_stats"), [run_id])
    cents = _rows(con, load_sql("run_centroids"), [run_id])
    if not stats or not cents:
        raise NotFoundError(f"run {run_id} of {name!r} was pruned (its statistics and centroids are "
                            f"deleted); choose a run listed by `segdb runs {name}` that is not pruned")
    by_segment: dict[int, list[float]] = {}
    for segment_id, _feature_no, _feature, _raw, scaled, _z in cents:
        by_segment.setdefault(int(segment_id), []).append(float(scaled))
    ids = tuple(sorted(by_segment))
    return RunModel(
        run_id=int(run_id), definition=d, features=tuple(r[1] for r in stats),
        means=tuple(r[4] for r in stats), stddevs=tuple(r[5] for r in stats),
        centers=tuple(float(r[8]) for r in stats), scales=tuple(float(r[9]) for r in stats),
        segment_ids=ids, centroids=tuple(tuple(by_segment[i]) for i in ids),
        macro_parameters=parameters, macro_columns=macro_columns, declared_features=declared.features)
