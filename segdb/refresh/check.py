"""The first two stages of a refresh, before any row is fetched: "check" (the definition against
its source, segdb.refresh.prepare) and "stats" (the standardisation statistics in SQL,
segdb.refresh.stats)."""

from __future__ import annotations

import dataclasses

from ..engines.base import Engine
from ..define import definitions
from ..define.definitions import Definition
from ..define.source import Source, key_declared_unique, table_rows_estimate
from . import stats as stats_mod
from .prepare import Prepared, prepare


@dataclasses.dataclass(frozen=True)
class Checked:
    """A definition checked against its source, its features expanded (segdb.refresh.prepare)."""
    prepared: Prepared
    source: Source     # resolved now: its relation is what SQL reads
    where: str         # "the source of <name> (...)", for messages

    @property
    def definition(self) -> Definition:
        """The definition with one feature per matrix column."""
        return self.prepared.definition


def check(con: Engine, name: str, definition: Definition | None = None) -> Checked:
    """``definition``: the current version of ``name``, when the caller has just read it (a
    second read is a Spark job of seconds)."""
    d = definitions.get(con, name) if definition is None else definition
    definitions.check_names_free_before_first_run(con, name)
    src, where = definitions.check_source_unchanged(con, d)
    return Checked(prepare(con, d, src, where), src, where)  # typed features: checks, category levels


def statistics(con: Engine, checked: Checked) -> stats_mod.SourceStats:
    """The rows' counts and fingerprint and each matrix column's center and scale."""
    d, src = checked.definition, checked.source
    return checked.prepared.adjust_stats(stats_mod.compute(
        con, d if d.k else dataclasses.replace(d, k=d.k_min), src.relation, checked.where,
        key_declared_unique=key_declared_unique(con, src, d.key),
        rows_estimate=table_rows_estimate(con, src)))
