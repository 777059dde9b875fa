"""Borderline customers: per segment of a run, how many of its customers are almost as near to
another segment (confidence below :data:`segdb.define.definitions.BORDERLINE_CONFIDENCE`) and which
segments those would otherwise join, read from the run's labels (`show`, `profile`, the report).
"""

from __future__ import annotations

import dataclasses

from ..define.definitions import BORDERLINE_CONFIDENCE, Definition, missing_label_columns
from ..engines.base import Engine


@dataclasses.dataclass(frozen=True)
class Borderline:
    segment_id: int
    customers: int                 # the segment's labelled customers (assigned ones included)
    borderline: int                # of them, those with confidence < BORDERLINE_CONFIDENCE
    runner_ups: dict[int, int]     # the borderline ones per runner-up segment id

    @property
    def share(self) -> float:
        return self.borderline / self.customers if self.customers else 0.0

    @property
    def main_runner_up(self) -> int | None:
        """The segment most of the borderline customers would otherwise join (lowest id on a tie)."""
        if not self.runner_ups:
            return None
        return min(self.runner_ups, key=lambda sid: (-self.runner_ups[sid], sid))


def borderline(con: Engine, d: Definition, run_id: int) -> list[Borderline] | None:
    """Per segment of run ``run_id`` (ascending ids); None when the run stored no places (runs
    written before them, or one segment), or the labels table predates the columns."""
    if missing_label_columns(con, d):
        return None
    rows = con.execute(
        f"SELECT segment_id, runner_up_id, count(*), count(confidence), "
        f"sum(CASE WHEN confidence < ? THEN 1 ELSE 0 END) FROM {d.labels_table} "
        "WHERE run_id = ? GROUP BY segment_id, runner_up_id", [BORDERLINE_CONFIDENCE, run_id]).fetchall()
    if not any(placed for _, _, _, placed, _ in rows):
        return None
    totals: dict[int, int] = {}
    counts: dict[int, dict[int, int]] = {}
    for segment_id, runner_up, customers, _placed, near in rows:
        sid = int(segment_id)
        totals[sid] = totals.get(sid, 0) + int(customers)
        if near and runner_up is not None:
            counts.setdefault(sid, {})[int(runner_up)] = int(near)
    return [Borderline(sid, totals[sid], sum(counts.get(sid, {}).values()), counts.get(sid, {}))
            for sid in sorted(totals)]
