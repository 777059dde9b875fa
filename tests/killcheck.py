"""The invariants a segmentation must hold after any kill, on any engine (issue 15's kill loop).

    report = check(db, "shop", names={1: {"Big"}})   # db = segdb.connect(url)
    assert report.problems == [], report.problems

reads only through segdb's public relations and API, with plain SQL on ``db.con`` (so the same check runs on
DuckDB, PostgreSQL and Spark, and keeps working when the tables behind them change):

* the current run (``db.runs(name)``: the one ``is_current``) is a succeeded, unpruned run, and the
  ``<name>_segments`` view, the ``<name>_centroids`` view, the scoring functions ``<name>_assign`` /
  ``<name>_distance`` and its rows in segdb.runs and segdb.segments are that ONE run: the view's
  run_id is the run, its row count and per-segment counts are the run's stored sizes (and
  rows_used), the centroids view's segments, sizes and values are the run's, and the functions give
  every labelled customer of the source the view's segment_id and distance;
* every committed run (succeeded, not pruned) is intact: its labels number its stored sizes' sum,
  its segments, centroids and feature statistics are there (``db.show(name, run_id)``);
* segment names (``db.segment_ids``) are those expected, and the views show them.

Features must be plain source columns (the kill loop's definitions are); a run's definition gives
the columns the scoring functions take, in order.
"""

from __future__ import annotations

import dataclasses
import math

from segdb.engines import dialect_of
from segdb.engines.quoting import quote_identifier as q

REL = 1e-7  # floats across paths (Python fit vs SQL functions)


@dataclasses.dataclass
class Report:
    problems: list[str]
    exists: bool = False                  # the segmentation is defined
    current: int | None = None            # the current run id
    committed: list[int] = dataclasses.field(default_factory=list)  # succeeded, not pruned
    names: dict[int, str | None] = dataclasses.field(default_factory=dict)
    definition_version: int | None = None  # the segmentation's newest definition version
    segments: list[int] = dataclasses.field(default_factory=list)  # the current run's segment ids
    shown_names: list = dataclasses.field(default_factory=list)    # (segment, name) the views show

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        data = {k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}}
        data["names"] = {int(k): v for k, v in data.get("names", {}).items()}
        return cls(**data)


def _close(a, b) -> bool:
    return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=REL, abs_tol=1e-9)


def _rows(db, sql: str, params=()) -> list[dict]:
    """Rows of one query in segdb's (DuckDB) SQL, translated to the engine's, values bound."""
    result = db.con.execute(sql, list(params))
    columns = [c[0] for c in result.description]
    return [dict(zip(columns, row)) for row in result.fetchall()]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def check(db, name: str, *, names: dict[int, set] | None = None, defined: bool = True) -> Report:
    """Every invariant of ``name`` on the open segdb Database ``db``; ``names``: per segment id the
    names it may have (a kill during `segdb name` leaves the old or the new one); ``defined``: the
    segmentation must exist (False: it may not, e.g. after a killed first `apply`)."""
    report = Report(problems=[])
    steps = [_check_current, _check_committed, _check_names]
    try:
        report.exists = name in db.names()
    except Exception as exc:  # a damaged schema: every engine raises its own types
        report.problems.append(f"listing segmentations failed: {_first_line(exc)}")
        return report
    if not report.exists:
        if defined:
            report.problems.append(f"segmentation {name!r} is gone")
        return report
    try:
        runs = db.runs(name)
        report.definition_version = db.definition(name).version
    except Exception as exc:
        report.problems.append(f"reading the runs of {name!r} failed: {_first_line(exc)}")
        return report
    current = [r for r in runs if r["is_current"]]
    if len(current) > 1:
        report.problems.append(f"{len(current)} current runs: {[r['run_id'] for r in current]}")
    report.current = int(current[0]["run_id"]) if current else None
    report.committed = sorted(int(r["run_id"]) for r in runs
                              if r["status"] == "succeeded" and r["pruned_at"] is None)
    for step in steps:
        try:
            step(db, name, runs, report, names)
        except Exception as exc:
            report.problems.append(f"{step.__name__[1:]}: {_first_line(exc)}")
    return report


def _check_current(db, name, runs, report: Report, names) -> None:
    if report.current is None:
        if report.committed:
            report.problems.append(f"no current run, but committed runs {report.committed}")
        return
    run = next(r for r in runs if r["run_id"] == report.current)
    if run["status"] != "succeeded" or run["pruned_at"] is not None:
        report.problems.append(f"current run {report.current} has status {run['status']}, "
                               f"pruned_at {run['pruned_at']}")
    run_id = report.current
    sizes = {r["segment_id"]: r["size"] for r in _rows(
        db, "SELECT segment_id, size FROM segdb.segments WHERE run_id = ?", [run_id])}
    report.segments = sorted(sizes)
    if not sizes:
        report.problems.append(f"current run {run_id} has no rows in segdb.segments")
    if sum(sizes.values()) != run["rows_used"]:
        report.problems.append(f"current run {run_id}: segdb.segments sizes sum {sum(sizes.values())} "
                               f"!= rows_used {run['rows_used']}")

    view = q(f"{name}_segments")
    shown = _rows(db, f"SELECT run_id, segment_id, segment_name, count(*) AS n FROM {view} "
                      "GROUP BY run_id, segment_id, segment_name")
    report.shown_names = [(r["segment_id"], r["segment_name"]) for r in shown]
    runs_shown = sorted({r["run_id"] for r in shown})
    if runs_shown != [run_id]:
        report.problems.append(f"{name}_segments shows runs {runs_shown}, the current run is {run_id}")
    counts = {}
    for r in shown:
        counts[r["segment_id"]] = counts.get(r["segment_id"], 0) + r["n"]
    if counts != sizes:
        report.problems.append(f"{name}_segments counts per segment {counts} != run {run_id}'s "
                               f"segdb.segments sizes {sizes}")

    d = db.definition(name, run["definition_version"])
    features = [f.name for f in d.features]
    centroids = {int(r["segment_id"]): r for r in _rows(db, f"SELECT * FROM {q(name + '_centroids')}")}
    report.shown_names += [(s, r["segment_name"]) for s, r in centroids.items()]
    if {s: r["size"] for s, r in centroids.items()} != sizes:
        report.problems.append(f"{name}_centroids segments/sizes "
                               f"{ {s: r['size'] for s, r in centroids.items()} } != run {run_id}'s {sizes}")
    stored = {}
    for r in _rows(db, "SELECT segment_id, feature_no, value_raw FROM segdb.centroids WHERE run_id = ?", [run_id]):
        stored[(int(r["segment_id"]), int(r["feature_no"]))] = r["value_raw"]
    off = [(s, f) for s, row in centroids.items() for i, f in enumerate(features, start=1)
           if not _close(row.get(f), stored.get((s, i)))]
    if off:
        report.problems.append(f"{name}_centroids values differ from run {run_id}'s centroids at "
                               f"(segment, feature) {off[:5]}")

    # The scoring functions over the source, against the view, for every labelled customer: in the
    # engine's own SQL (segdb's translation upper-cases a quoted function name, see the report)
    dialect = dialect_of(db.con)
    args = ", ".join(f"s.{q(f, dialect)}" for f in features)
    assign, distance = q(f"{name}_assign", dialect), q(f"{name}_distance", dialect)
    source = q(d.source, dialect) if d.source_kind == "table" else f"({d.source})"
    query = (f"SELECT count(*) AS n, "
             f"sum(CASE WHEN {assign}({args}) = v.segment_id THEN 0 ELSE 1 END) AS wrong, "
             f"max(abs({distance}({args}) - v.distance) / greatest(1.0, abs(v.distance))) AS off "
             f"FROM {source} AS s JOIN {q(name + '_segments', dialect)} AS v ON s.{q(d.key, dialect)} = v.{q(d.key, dialect)}")
    result = db.con.execute(query) if dialect == "duckdb" else db.con.native(query)
    scored = dict(zip(["n", "wrong", "off"], result.fetchall()[0]))
    if scored["n"] != sum(sizes.values()):
        report.problems.append(f"{scored['n']} source rows join {name}_segments, run {run_id} labelled "
                               f"{sum(sizes.values())}")
    if scored["wrong"]:
        report.problems.append(f"{name}_assign disagrees with {name}_segments on {scored['wrong']} of "
                               f"{scored['n']} customers (current run {run_id})")
    if scored["off"] is not None and scored["off"] > REL:
        report.problems.append(f"{name}_distance differs from {name}_segments' distance by up to "
                               f"{scored['off']:.3g} (relative; current run {run_id})")


def _check_committed(db, name, runs, report: Report, names) -> None:
    """One grouped query per relation (a query costs seconds on a busy Spark)."""
    by_id = {r["run_id"]: r for r in runs}
    ids = list(report.committed)
    if not ids:
        return
    labels_table = db.definition(name).labels_table
    where = "WHERE list_contains(?, run_id) GROUP BY run_id"
    labels = {r["run_id"]: r["n"] for r in _rows(db, f"SELECT run_id, count(*) AS n FROM {labels_table} {where}", [ids])}
    segments = {r["run_id"]: r for r in _rows(
        db, f"SELECT run_id, count(*) AS k, sum(size) AS size FROM segdb.segments {where}", [ids])}
    centroids = {r["run_id"]: r for r in _rows(
        db, f"SELECT run_id, count(*) AS n, count(DISTINCT feature_no) AS columns FROM segdb.centroids {where}", [ids])}
    stats = {r["run_id"]: r["n"] for r in _rows(
        db, f"SELECT run_id, count(*) AS n FROM segdb.feature_stats {where}", [ids])}
    for run_id in ids:
        run, seg = by_id[run_id], segments.get(run_id, {"k": 0, "size": None})
        cen = centroids.get(run_id, {"n": 0, "columns": 0})
        if not (labels.get(run_id, 0) == seg["size"] == run["rows_used"]) or not seg["size"]:
            report.problems.append(f"committed run {run_id}: {labels.get(run_id, 0)} labels, segments sizes "
                                   f"sum {seg['size']}, rows_used {run['rows_used']}")
        if seg["k"] != run["k"] or cen["n"] != run["k"] * cen["columns"] or not cen["columns"]:
            report.problems.append(f"committed run {run_id} (k={run['k']}): {seg['k']} segments, "
                                   f"{cen['n']} centroid values over {cen['columns']} columns")
        if stats.get(run_id, 0) != cen["columns"]:
            report.problems.append(f"committed run {run_id}: {stats.get(run_id, 0)} feature statistics, "
                                   f"centroids over {cen['columns']} columns")


def _check_names(db, name, runs, report: Report, names) -> None:
    report.names = {int(r["segment_id"]): r["name"] for r in db.segment_ids(name)}
    for segment, allowed in (names or {}).items():
        if report.names.get(segment) not in allowed:
            report.problems.append(f"segment {segment} is named {report.names.get(segment)!r}, "
                                   f"expected one of {sorted(allowed, key=str)}")
    wrong = sorted({(int(s), n) for s, n in report.shown_names if n != report.names.get(int(s))})
    if wrong:
        report.problems.append(f"the views show (segment, name) {wrong}, the ledger has {report.names}")
