"""PostgreSQL: one partition per run of a segmentation's labels.

A labels table created on PostgreSQL is ``PARTITION BY LIST (run_id)``; each run's rows are the
table ``segdb."labels_run_<run id>"`` (run ids are unique across segmentations, so the name is
too, and it cannot be a segmentation's labels table, whose name ends in ``_labels``).

Why: in one heap table every read of one run (the transitions' join of two runs, a profile, the
current-run views) scans every kept run's rows; at 10M customers with 6-9 runs kept the
transitions alone took 8-22 s of a refresh. With a partition per run a read of one run reads that
run, and ``prune`` drops a run's table instead of deleting its rows.

The run's partition is made in the write-back's transaction: created empty and attached before
the labels fitted in Python are copied in (:func:`add`), or made by ``CREATE TABLE ... AS`` of the
labelling query and then attached (:func:`fill`). ``ATTACH PARTITION`` takes only a SHARE UPDATE EXCLUSIVE lock on the
labels table, which readers (ACCESS SHARE) and ``assign`` (ROW EXCLUSIVE) do not wait for;
``CREATE TABLE ... PARTITION OF`` would take an ACCESS EXCLUSIVE one and block every reader of the
views until the commit. Other sessions see the partition at COMMIT, with the run; a killed
refresh leaves neither. No DEFAULT partition: attaching beside one locks it exclusively, which
would block readers too.

Labels tables made before partitions (one heap table) stay as they are and are written and
pruned as before: :func:`partitioned` tells them apart.

PostgreSQL only, so in its own dialect (``con.native``). DDL takes no bound parameters: the run
id (an integer from segdb's sequence, passed through ``int``) is the one value written into these
statements.
"""

from __future__ import annotations

import re

from ..engines import dialect_of
from ..engines.base import Engine
from ..engines.quoting import quote_identifier as q
from ..engines.translate import translate
from .sqlfiles import load_sql

PARTITION_CLAUSE = " PARTITION BY LIST (run_id)"  # after a PostgreSQL labels table's columns
_NAME = re.compile(r"^labels_run_[0-9]+$")


def create_partitioned(con: Engine, create: str) -> None:
    """Run ``create`` (a labels table's ``CREATE TABLE``, in segdb's DuckDB dialect) partitioned by
    run: translated to PostgreSQL's, the partitioning clause added to what the translation gives
    (the translator knows no ``PARTITION BY LIST``)."""
    (statement,) = translate(create, "postgresql", False)
    con.native(statement + PARTITION_CLAUSE)


def partition_name(run_id: int) -> str:
    return f"labels_run_{int(run_id)}"


def is_partition_name(name: str) -> bool:
    """A run's labels partition (segdb's catalog listings leave them out: they are the labels)."""
    return _NAME.match(name) is not None


def partitioned(con: Engine, labels_name: str) -> bool:
    """``segdb.<labels_name>`` is partitioned by run (PostgreSQL tables made since partitions)."""
    if dialect_of(con) != "postgresql":
        return False
    rows = con.native(load_sql("postgres_table_partitioned"), [labels_name]).fetchall()
    return bool(rows and rows[0][0])


def add(con: Engine, labels_name: str, run_id: int) -> str:
    """Create run ``run_id``'s empty partition of ``segdb.<labels_name>`` and attach it, inside the
    caller's transaction; returns its quoted name (rows may be written to it or to the parent)."""
    table = f"segdb.{q(partition_name(run_id))}"
    # LIKE copies the columns with their NOT NULL and defaults, as ATTACH requires
    con.native(f"CREATE TABLE {table} (LIKE segdb.{q(labels_name)} INCLUDING DEFAULTS)")
    con.native(f"ALTER TABLE segdb.{q(labels_name)} ATTACH PARTITION {table} "
                f"FOR VALUES IN ({int(run_id)})")
    return table


def fill(con: Engine, labels_name: str, run_id: int, select: str, params: list) -> str:
    """Make run ``run_id``'s partition of ``segdb.<labels_name>`` from ``select`` (segdb's DuckDB
    dialect, ``?`` placeholders; its columns named as the labels table's) and attach it, inside the
    caller's transaction; returns the partition's quoted name.

    ``CREATE TABLE ... AS`` runs its query in parallel where ``INSERT ... SELECT`` never does
    (42.4 s against 21.5 s for 10M rows scored, docs/performance.md); the planner only picks a
    parallel plan for this projection with ``parallel_tuple_cost`` lowered, for this statement.
    The columns are cast to the labels table's types, and one ``ALTER TABLE`` (one scan) adds
    its NOT NULLs and a ``CHECK (run_id = N)`` that spares ``ATTACH`` its own validating scan."""
    table = f"segdb.{q(partition_name(run_id))}"
    columns = con.native(load_sql("postgres_table_columns"), [labels_name]).fetchall()
    (query,) = translate(select, "postgresql", bool(params))
    previous = con.native("SELECT current_setting('parallel_tuple_cost')").fetchall()[0][0]
    con.native("SELECT set_config('parallel_tuple_cost', '0', true)")
    con.native(f"CREATE TABLE {table} AS SELECT "
               + ", ".join(f"CAST(segdb_rows.{q(name)} AS {kind}) AS {q(name)}" for name, kind, _ in columns)
               + f" FROM ({query}) AS segdb_rows", params)
    con.native("SELECT set_config('parallel_tuple_cost', %s, true)", [previous])
    checks = [f"ALTER COLUMN {q(name)} SET NOT NULL" for name, _, not_null in columns if not_null]
    con.native(f"ALTER TABLE {table} " + ", ".join(
        checks + [f"ADD CONSTRAINT {q(partition_name(run_id) + '_run_id')} CHECK (run_id = {int(run_id)})"]))
    con.native(f"ALTER TABLE segdb.{q(labels_name)} ATTACH PARTITION {table} "
               f"FOR VALUES IN ({int(run_id)})")
    return table


def drop(con: Engine, labels_name: str, run_ids, *, count: bool = False) -> int:
    """Drop the partitions of ``run_ids`` that ``segdb.<labels_name>`` has (inside the caller's
    transaction); returns how many rows they held when ``count`` (else 0). Dropping a partition
    locks the labels table exclusively until the commit: prune does it last."""
    present = {r[0] for r in con.native(load_sql("postgres_run_partitions"), [labels_name]).fetchall()}
    rows = 0
    for run_id in sorted({int(r) for r in run_ids}):
        name = partition_name(run_id)
        if name not in present:
            continue
        table = f"segdb.{q(name)}"
        if count:
            rows += int(con.native(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        con.native(f"DROP TABLE {table}")
    return rows
