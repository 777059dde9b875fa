"""One run with everything known about it: summary, quality, profiles, source relation.

Used by ``segdb profile`` / ``plot`` / ``report`` and the matching :class:`segdb.api.Database`
methods (``quality``, ``profiles``, ``plot``, ``report``).
"""

from __future__ import annotations

import dataclasses


from ..quality import profiles as profiles_mod, store as quality_store
from . import results
from ..define.definitions import Definition
from ..engines.base import Engine


@dataclasses.dataclass
class RunView:
    summary: results.RunSummary
    quality: quality_store.QualityRecord | None   # None for runs written before migration 0002
    profiles: list[dict]

    @property
    def definition(self) -> Definition:
        return self.summary.definition

    @property
    def run_id(self) -> int:
        return int(self.summary.run["run_id"])

    @property
    def k(self) -> int:
        return int(self.summary.run["k"])

    @property
    def relation(self) -> str:
        return self._relation

    def bind(self, con: Engine) -> "RunView":
        self._relation = self.definition.resolve(con).relation
        return self


def load_run(con: Engine, name: str, run_id: int | None = None) -> RunView:
    """The current (or given) run of ``name``; raises NotFoundError for an unknown name or run."""
    summary = results.run_summary(con, name, run_id)
    rid = int(summary.run["run_id"])
    return RunView(summary, quality_store.load(con, rid), profiles_mod.read_profiles(con, rid)).bind(con)


def join_sql(d: Definition, run_id: int | None = None) -> str:
    """SQL that attaches each customer's segment to a customer table: the source table, or a
    placeholder ``customers`` for a SELECT source."""
    from ..engines.quoting import quote_identifier as q
    table = d.source if d.source_kind == "table" else "customers"
    key = q(d.key)
    if run_id is None:
        return (f"-- the current run's segment of every customer\n"
                f"SELECT c.*, s.segment_id, s.distance\nFROM {table} AS c\n"
                f"JOIN {d.segments_view} AS s ON s.{key} = c.{key};")
    return (f"-- the segments of run {run_id} (any run stays queryable)\n"
            f"SELECT c.*, l.segment_id, l.distance\nFROM {table} AS c\n"
            f"JOIN {d.labels_table} AS l ON l.segdb_key = c.{key} AND l.run_id = {int(run_id)};")
