"""One step of the Spark kill test (tests/test_spark_kill.py), as a process of its own: Spark's
local metastore admits one process at a time, and a step is killed.

    python tests/spark_kill_step.py URL CHECK_JSON [segdb arguments ... | setup]

checks that the segmentation ``ws`` shows one consistent committed run (see :func:`check`) and
writes the findings to CHECK_JSON, then runs the real `segdb` command line with the segdb
arguments (if any), paused where tests/paused_segdb.py's environment says, to be killed there.
``setup`` instead loads the source table and writes two runs (:func:`setup`) before the check.
"""

from __future__ import annotations

import json
import os
import sys

import segdb
from paused_segdb import pause
from segdb.cli import main
from segdb.refresh.stages import listening

FEATURES = ("Fresh", "Milk", "Grocery")


def rows(db, sql):
    table = db.sql(sql)
    return [tuple(r) for r in zip(*(c.to_pylist() for c in table.columns))]


def check(db, name: str = "ws") -> dict:
    """What a reader sees of ``name``: the current run (its newest commit record), every committed
    run's labels against its stored size, both views, the scoring function, the run row."""
    current = rows(db, f"SELECT run_id FROM segdb.current_runs WHERE segmentation = '{name}'")
    out: dict = {"current": current[0][0] if current else None, "problems": []}
    problems = out["problems"]
    if out["current"] is None:
        return out
    run = int(out["current"])
    out["statuses"] = {str(r["run_id"]): r["status"] for r in db.runs(name)}  # as `segdb runs` lists them
    committed = [r[0] for r in rows(db, f"SELECT DISTINCT c.run_id FROM segdb.run_commits AS c "
                                        f"JOIN segdb.runs AS r ON r.run_id = c.run_id "
                                        f"WHERE c.segmentation = '{name}' AND r.run_id NOT IN "
                                        "(SELECT run_id FROM segdb.run_prunes)")]
    out["committed"] = sorted(committed)
    # which runs have rows at all: a killed refresh's leftovers stay until a prune removes them
    out["label_runs"] = sorted(r[0] for r in rows(db, f"SELECT DISTINCT run_id FROM segdb.{name}_labels"))
    out["segment_runs"] = sorted(r[0] for r in rows(db, "SELECT DISTINCT run_id FROM segdb.segments"))
    for r in committed:
        stored = rows(db, f"SELECT status, rows_used FROM segdb.runs WHERE run_id = {int(r)}")
        labels = rows(db, f"SELECT count(*) FROM segdb.{name}_labels WHERE run_id = {int(r)} AND fitted")
        sizes = rows(db, f"SELECT sum(size) FROM segdb.segments WHERE run_id = {int(r)}")
        if not stored or stored[0][0] != "succeeded":
            problems.append(f"committed run {r} has no succeeded run row: {stored}")
        elif labels[0][0] != stored[0][1] or sizes[0][0] != stored[0][1]:
            problems.append(f"committed run {r}: {labels[0][0]} labels, segments sum {sizes[0][0]}, "
                            f"stored {stored[0][1]}")
    # the segment-id ledger as readers see it: the current run's ids in use, every other retired;
    # names as the views show them
    ledger = db.segment_ids(name)
    in_run = {r[0] for r in rows(db, f"SELECT segment_id FROM segdb.segments WHERE run_id = {run}")}
    out["names"] = {str(r["segment_id"]): r["name"] for r in ledger}
    out["retired"] = {str(r["segment_id"]): r["retired_run_id"] for r in ledger}
    out["version"] = db.definition(name).version
    wrong = [r["segment_id"] for r in ledger if (r["retired_run_id"] is None) != (r["segment_id"] in in_run)]
    if wrong or not in_run <= {r["segment_id"] for r in ledger}:
        problems.append(f"the ledger's ids in use {sorted(r['segment_id'] for r in ledger if r['retired_run_id'] is None)} "
                        f"are not run {run}'s {sorted(in_run)}")
    shown = dict(rows(db, f"SELECT DISTINCT segment_id, segment_name FROM {name}_segments"))
    if any(shown[s] != out["names"][str(s)] for s in shown):
        problems.append(f"{name}_segments shows names {shown}, the ledger {out['names']}")
    # a copy-and-swap renames tables through these names; segdb should not start one at all
    folder = os.path.join(os.environ["SEGDB_SPARK_WAREHOUSE"], "segdb.db")
    out["swap_names"] = sorted(d for d in os.listdir(folder) if "__segdb_" in d)
    view_runs = rows(db, f"SELECT DISTINCT run_id FROM {name}_segments")
    if view_runs != [(run,)]:
        problems.append(f"{name}_segments shows runs {view_runs}, current is {run}")
    centroids = rows(db, f"SELECT segment_id, size FROM {name}_centroids ORDER BY segment_id")
    segments = rows(db, f"SELECT segment_id, size FROM segdb.segments WHERE run_id = {run} ORDER BY segment_id")
    if centroids != segments:
        problems.append(f"{name}_centroids shows {centroids}, run {run} has {segments}")
    args = ", ".join(f"w.`{f}`" for f in FEATURES)
    disagree = rows(db, f"SELECT count(*), count(ws_assign({args})) FROM {name}_segments AS s "
                        f"JOIN wholesale AS w ON w.customer_id = s.customer_id "
                        f"WHERE s.fitted AND coalesce(ws_assign({args}) <> s.segment_id, TRUE)")
    if disagree[0][0]:
        problems.append(f"{name}_assign disagrees with run {run} on {disagree[0][0]} customers")
    return out


def setup(db, url: str) -> None:
    """The customers 1..400 of tests/data as the user's table ``wholesale``, and two runs of ``ws``."""
    from engines import spark_database, wholesale_table
    session = db.con.session
    table = f"`{spark_database(url)}`.wholesale"
    session.createDataFrame(wholesale_table().slice(0, 400).to_pandas()).write.saveAsTable(table)
    db.create("ws", source="wholesale", key="customer_id", features=list(FEATURES), k=3)
    db.refresh("ws")
    db.refresh("ws")


if __name__ == "__main__":
    url, report, *command = sys.argv[1:]
    if command[:1] == ["init"]:
        found = {"current": None, "problems": [], "skipped": "init: no schema to check yet"}
    else:
        with segdb.connect(url) as db:
            if command[:1] == ["setup"]:
                setup(db, url)
                command = []
            found = check(db)
    with open(report, "w", encoding="utf-8") as fh:
        json.dump(found, fh)
    if command:
        sys.argv = ["segdb", "--db", url, *command]
        with listening(pause):
            main()
