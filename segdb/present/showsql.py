"""Every statement a refresh generates for a segmentation, as a script an analyst can run by hand.

``script(con, name)`` is what `segdb show-sql NAME` prints: the statistics scan and the standardised
matrix of the next refresh, then, from the current run as stored (segdb.living.runmodel), the labelling of
every source row, the profiles, the two views and the scoring macros. A statement that takes values
is printed as ``PREPARE`` plus an ``EXECUTE`` with the current run's values, so the script runs as-is
in the DuckDB shell; without a run the matrix keeps its ``?`` and the run's sections are left out.
"""

from __future__ import annotations

import dataclasses
import types


from ..define import definitions, sqlgen
from ..living import macros, runmodel
from ..quality import profiles
from ..define.definitions import definition_for_run
from ..refresh.prepare import prepare
from ..engines import dialect_of
from ..engines.translate import translate
from ..engines.quoting import sql_literal
from ..define.definitions import check_source_unchanged
from ..define.definitions import current_run_id
from ..engines.base import Engine


@dataclasses.dataclass(frozen=True)
class Statement:
    comment: str                        # one line saying what the statement does
    sql: str                            # without the final semicolon
    params: tuple | None = None         # values for its ``?``; None when it takes none
    prepared_name: str | None = None    # the PREPARE name used when it takes values

    def text(self) -> str:
        if self.params is None:
            return f"-- {self.comment}\n{self.sql};\n"
        values = ", ".join("NULL" if v is None else sql_literal(v) for v in self.params)
        return (f"-- {self.comment}\nPREPARE {self.prepared_name} AS\n{self.sql};\n"
                f"EXECUTE {self.prepared_name}({values});\n")


def _run_stats(model: runmodel.RunModel):
    """The stored statistics of a run in the shape sqlgen/profiles take (mean, stddev, center, scale)."""
    return [types.SimpleNamespace(mean=m, stddev=s, center=c, scale=sc)
            for m, s, c, sc in zip(model.means, model.stddevs, model.centers, model.scales)]


def statements(con: Engine, name: str) -> list[Statement]:
    """The statements of a refresh of ``name``, in the order a refresh runs them."""
    d = definitions.get(con, name)
    src, where = check_source_unchanged(con, d)
    run_id = current_run_id(con, name)
    # a category feature has one matrix column per level: the current run's, else the source's now
    d = definition_for_run(con, d, run_id) if run_id else prepare(con, d, src, where).definition
    out = [Statement("statistics (one scan of the source)", sqlgen.stats_query(d, src.relation))]
    matrix = sqlgen.matrix_query(d, src.relation)
    if not run_id:
        out.append(Statement("standardised matrix: each ? is a feature's center / scale from "
                             "segdb.feature_stats (no run yet)", matrix))
        return out
    model = runmodel.load(con, name, run_id)
    stats = _run_stats(model)
    run_d = model.definition
    out += [
        Statement(f"standardised matrix, with the centers and scales of run {run_id}", matrix,
                  tuple(sqlgen.scaled_params(d, stats)), "segdb_matrix"),
        Statement(f"labelling of every source row by run {run_id}: nearest centroid, distance, runner-up "
                  "and confidence",
                  model.labelling_query(src.relation)),
        Statement(f"profiles of run {run_id} (a refresh inserts them; delete the run's rows of "
                  "segdb.profiles before running this by hand)",
                  profiles.profile_query(run_d, src.relation),
                  tuple(profiles.profile_params(run_d, stats, run_id)), "segdb_profiles"),
        # DuckDB's views name the run; the other engines' read the current run's commit record
        Statement(f"view of the labels of run {run_id}",
                  sqlgen.segments_view(run_d, run_id, pointer=dialect_of(con) != "duckdb")),
        Statement(f"view of the centroids of run {run_id}",
                  sqlgen.centroids_view(run_d, run_id, pointer=dialect_of(con) != "duckdb")),
    ]
    *helper, assign, distance, distances = macros.macro_statements(model, dialect_of(con))
    out += [Statement(f"macro: the helper the assign macro calls (shared by every {len(model.segment_ids)}-segment "
                      "segmentation)", h) for h in helper]
    out += [Statement(f"macro: the nearest segment of run {run_id} for one row of feature values", assign),
            Statement(f"macro: the distance to that segment, in run {run_id}'s scaled units", distance),
            Statement(f"macro: the distances to every segment of run {run_id}, by ascending segment id",
                      distances)]
    return out


def script(con: Engine, name: str) -> str:
    """All of :func:`statements` as one SQL script (comments, semicolons, PREPARE/EXECUTE).

    On PostgreSQL and Spark the script is in the engine's own dialect, as segdb runs it: values are
    written in (sql_literal) rather than prepared, and each statement is translated
    (segdb.engines.translate); the scoring functions are already the engine's own."""
    dialect = dialect_of(con)
    if dialect == "duckdb":
        return "\n".join(s.text() for s in statements(con, name))
    out = []
    for st in statements(con, name):
        if st.comment.startswith("macro:"):
            out.append(f"-- {st.comment.replace('macro:', 'function:', 1)}\n{st.sql};\n")
            continue
        text = _inline(st.sql, st.params) if st.params else st.sql
        translated = ";\n".join(translate(text, dialect, False))
        out.append(f"-- {st.comment}\n{translated};\n")
    return "\n".join(out)


def _inline(sql: str, params) -> str:
    """``sql`` with each ``?`` (outside quotes) replaced by its value as a literal."""
    values = iter(params)
    parts, quote = [], None
    for ch in sql:
        if quote:
            quote = None if ch == quote else quote
            parts.append(ch)
        elif ch in ("'", '"'):
            quote = ch
            parts.append(ch)
        elif ch == "?":
            v = next(values)
            parts.append("NULL" if v is None else sql_literal(v))
        else:
            parts.append(ch)
    return "".join(parts)
