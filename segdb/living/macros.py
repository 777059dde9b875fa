"""The scoring macros of a segmentation's current run: ``<name>_assign``, ``<name>_distance`` and
``<name>_distances``.

    SELECT id, insurance_assign("Premium savings very important", "Agent not important") AS segment_id,
           insurance_distance("Premium savings very important", "Agent not important") AS distance
    FROM new_responses

Both take one argument per feature, positionally, in the definition's order (their parameter names
are x1, x2, ...: a macro's parameters must be plain identifiers, feature names need not be).
``_assign`` returns the id of the nearest centroid of the current run, ``_distance`` the Euclidean
distance to it in the run's scaled units (as the ``distance`` column of ``<name>_segments``).
On a tie the lowest segment id wins. ``_distances`` returns the Euclidean distance to every
segment of the run, as a list ordered by ascending segment id (the order of ``<name>_centroids``):
a DuckDB ``DOUBLE[]``, a PostgreSQL ``double precision[]``, a Spark ``array<double>``; a NULL
argument gives a list of NULLs. Every refresh and rollback re-creates them all, in the transaction that switches the current run. Spark
has no transactions: there, before the commit record, both are replaced by functions that score with
whichever of the current and the new run is current (:func:`stage_macros`, a CASE on the commit
record), and after it by the new run's alone; a kill at any moment leaves functions that score with
the run that is current.
DuckDB's ``_assign`` calls the shared helper ``segdb.nearest_of_<k>`` (created with it), so its
body lists each distance once.

``<name>_rule_segment`` takes the same arguments and returns the segment whose readable rule
(segdb.quality.rules, stored in ``segdb.segment_rules``) the row satisfies: a CASE of the run's
rules, NULL when none holds. It follows the current run with the other two; a run without rules
(``rules_depth`` 0, or written before rules existed) drops it.
"""

from __future__ import annotations

import dataclasses

from . import runmodel, scoring
from ..define import rulesql
from ..store.sqlfiles import load_sql
from ..engines.quoting import quote_identifier as q
from ..engines.base import Engine


def macro_names(name: str) -> tuple[str, str, str]:
    return f"{name}_assign", f"{name}_distance", f"{name}_distances"


def rule_function_name(name: str) -> str:
    return f"{name}_rule_segment"


def rule_body(con: Engine, run_id: int, parameters) -> str | None:
    """The CASE of run ``run_id``'s rules over ``parameters`` (one per declared feature), or None
    for a run without rules."""
    rows = con.execute(load_sql("run_segment_rules"), [run_id]).fetchall()
    if not rows:
        return None
    return rulesql.case_sql([(r[0], rulesql.load_terms(r[3])) for r in rows], list(parameters))


def _typed(model: runmodel.RunModel) -> list[tuple[str, str]]:
    params = list(model.macro_parameters)
    kinds = [f.kind for f in model.declared_features] if model.declared_features else ["number"] * len(params)
    return [(p, "text" if kind == "category" else "double") for p, kind in zip(params, kinds)]


def _drop_rule_function(con: Engine, name: str, dialect: str, typed) -> None:
    function = rule_function_name(name)
    if dialect == "duckdb":
        con.execute(f"DROP MACRO IF EXISTS {q(function)}")
    elif dialect == "postgresql":  # a function is named by its signature there
        types = ", ".join("text" if t == "text" else "double precision" for _, t in typed)
        con.native(f"DROP FUNCTION IF EXISTS {q(function, dialect)}({types})")
    else:
        con.native(f"DROP FUNCTION IF EXISTS {q(function, dialect)}")


_UNREAD = object()  # a rule body not read yet (None is a run without rules)


def create_rule_function(con: Engine, model: runmodel.RunModel, dialect: str, body=_UNREAD) -> None:
    """(Re)create ``<name>_rule_segment`` for the run ``model``, or drop it when the run has no rules
    (``body``: the run's :func:`rule_body`, when the caller has read it already)."""
    name = model.definition.name
    typed = _typed(model)
    if body is _UNREAD:
        body = rule_body(con, model.run_id, model.macro_parameters)
    if body is None:
        _drop_rule_function(con, name, dialect, typed)
    elif dialect == "duckdb":
        con.execute(f"CREATE OR REPLACE MACRO {q(rule_function_name(name))}"
                    f"({', '.join(model.macro_parameters)}) AS {body}")
    else:
        from ..engines.dialects import scalar_function
        con.native(scalar_function(dialect, rule_function_name(name), typed, "integer", body))


def nearest_helper_name(k: int) -> str:
    return f"segdb.nearest_of_{int(k)}"


def nearest_helper_statement(k: int) -> str:
    """DuckDB: the shared helper ``segdb.nearest_of_<k>`` the assign macros of k segments call (see
    :func:`segdb.living.scoring.macro_bodies`); the same text for every segmentation with k segments."""
    params, body = scoring.nearest_helper_body(k)
    return f"CREATE OR REPLACE MACRO {nearest_helper_name(k)}({', '.join(params)}) AS {body}"


def macro_statements(model: runmodel.RunModel, dialect: str = "duckdb") -> list[str]:
    """The statements (re)creating both scoring functions of the run ``model``: DuckDB macros (after
    the helper they call, :func:`nearest_helper_statement`), PostgreSQL ``LANGUAGE sql IMMUTABLE
    PARALLEL SAFE`` functions, or Spark SQL functions. For the other engines they are in the
    engine's own dialect (run with ``con.native``). The last three are the assign, distance and
    distances ones."""
    params = list(model.macro_parameters)
    k = len(model.segment_ids)
    assign_body, distance_body = scoring.macro_bodies(
        list(model.macro_columns), centers=model.centers, scales=model.scales, centroids=model.centroids,
        segment_ids=model.segment_ids, nearest_helper=nearest_helper_name(k) if dialect == "duckdb" else None)
    distances_body = scoring.distances_body(list(model.macro_columns), centers=model.centers,
                                            scales=model.scales, centroids=model.centroids)
    assign, distance, distances = macro_names(model.definition.name)
    if dialect == "duckdb":
        args = ", ".join(params)
        return [nearest_helper_statement(k),
                f"CREATE OR REPLACE MACRO {q(assign)}({args}) AS {assign_body}",
                f"CREATE OR REPLACE MACRO {q(distance)}({args}) AS {distance_body}",
                f"CREATE OR REPLACE MACRO {q(distances)}({args}) AS {distances_body}"]
    from ..engines.dialects import scalar_function
    typed = _typed(model)
    return [scalar_function(dialect, assign, typed, "integer", assign_body),
            scalar_function(dialect, distance, typed, "double", distance_body),
            scalar_function(dialect, distances, typed, "doubles", distances_body)]


@dataclasses.dataclass(frozen=True)
class Staged:
    """What :func:`stage_macros` read of the new run (its model and rules), for :func:`create_macros`
    after the commit record: a run's stored rows do not change once written, so reading them
    again would give the same functions (on Spark each read is a job: seconds per refresh)."""
    model: runmodel.RunModel
    rule_body: str | None


def create_macros(con: Engine, name: str, run_id: int, definition=None, staged: Staged | None = None) -> None:
    """(Re)create both macros for run ``run_id`` (call inside the transaction that makes it current;
    ``definition``: the run's definition while the run's own row is not written yet; ``staged``:
    the run as :func:`stage_macros` read it)."""
    from ..engines import dialect_of
    dialect = dialect_of(con)
    usable = staged is not None and staged.model.run_id == int(run_id)
    model = staged.model if usable else runmodel.load(con, name, run_id, definition)
    for statement in macro_statements(model, dialect):
        if dialect == "duckdb":
            con.execute(statement)
        else:
            con.native(statement)
    create_rule_function(con, model, dialect, *((staged.rule_body,) if usable else ()))


def _functions(model: runmodel.RunModel, dialect: str) -> tuple[list[tuple[str, str]], str, str, str]:
    """(typed parameters, assign body, distance body, distances body) of the run ``model``, in
    DuckDB SQL."""
    typed = _typed(model)
    assign, distance = scoring.macro_bodies(
        list(model.macro_columns), centers=model.centers, scales=model.scales, centroids=model.centroids,
        segment_ids=model.segment_ids)
    distances = scoring.distances_body(list(model.macro_columns), centers=model.centers,
                                       scales=model.scales, centroids=model.centroids)
    return typed, assign, distance, distances


def stage_macros(con: Engine, name: str, run_id: int, definition, current_run_id: int | None) -> Staged:
    """Spark, before the commit record that makes ``run_id`` current: functions scoring with the run
    that is current when they are called, ``current_run_id`` or ``run_id`` (a CASE on the commit
    record; NULL while neither is). When the two runs take different arguments, no function can
    serve both: both are dropped until :func:`create_macros` writes the new run's after the commit.
    Returns what it read of the new run, for that :func:`create_macros`."""
    from ..engines.dialects import scalar_function
    from ..define.sqlgen import current_run_sql
    dialect = "spark"
    models = [runmodel.load(con, name, run_id, definition)]
    if current_run_id is not None:
        models.insert(0, runmodel.load(con, name, current_run_id))
    shapes = [_functions(m, dialect) for m in models]
    assign, distance, distances = macro_names(name)
    if any(shape[0] != shapes[-1][0] for shape in shapes):
        for function in (assign, distance, distances, rule_function_name(name)):
            con.native(f"DROP FUNCTION IF EXISTS {q(function, dialect)}")
        return Staged(models[-1], rule_body(con, run_id, models[-1].macro_parameters))
    pointer = current_run_sql(name)
    rule_bodies = [rule_body(con, m.run_id, m.macro_parameters) for m in models]
    staged = Staged(models[-1], rule_bodies[-1])

    def by_run(i: int) -> str:
        return f"CASE {pointer} " + " ".join(
            f"WHEN {int(m.run_id)} THEN {shape[i]}" for m, shape in zip(models, shapes)) + " END"
    typed = shapes[-1][0]
    con.native(scalar_function(dialect, assign, typed, "integer", by_run(1)))
    con.native(scalar_function(dialect, distance, typed, "double", by_run(2)))
    con.native(scalar_function(dialect, distances, typed, "doubles", by_run(3)))
    if all(body is None for body in rule_bodies):
        con.native(f"DROP FUNCTION IF EXISTS {q(rule_function_name(name), dialect)}")
        return staged
    rule_case = f"CASE {pointer} " + " ".join(
        f"WHEN {int(m.run_id)} THEN {body}" for m, body in zip(models, rule_bodies) if body is not None) + " END"
    con.native(scalar_function(dialect, rule_function_name(name), typed, "integer", rule_case))
    return staged
