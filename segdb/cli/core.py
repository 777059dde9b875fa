"""The core commands of `segdb`: schema, data, segmentations (init ... demo).

The library does the work; this module parses options and prints. The group, its settings and the
error handling are in :mod:`segdb.cli.group`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..define import demo as demo_mod
from ..define.definitions import DEFAULT_K_RANGE
from ..engines import kind_of_target
from ..errors import DefinitionError, NotFoundError, SegdbError
from ..present.textformat import cell, table, to_csv, to_json
from ..store.runs import run_label
from . import features as cli_features  # print_feature_extras, after `segdb show`
from .group import AUTO_OR_INT, Settings, api_trigger, cli, examples, pass_settings


# -- schema -------------------------------------------------------------------------------------

@cli.command(epilog=examples("segdb --db segdb-demo.duckdb init"))
@pass_settings
def init(settings: Settings):
    """Create or upgrade segdb's own schema.

    Applies the pending files of migrations/ in order."""
    db = settings.open_without_schema()
    with db:
        applied = db.init()
        states = db.migration_status()
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    version = max((s.version for s in states if s.applied), default=0)
    click.echo(f"segdb schema at version {version} in {db.path}")


@cli.command(epilog=examples("segdb --db segdb-demo.duckdb migrate --list"))
@click.option("--list", "list_only", is_flag=True, help="Show applied and pending migrations; write nothing.")
@pass_settings
def migrate(settings: Settings, list_only: bool):
    """Apply pending migrations, or list them with --list."""
    if not list_only:
        return click.get_current_context().invoke(init)
    with settings.open_without_schema(read_only=True, create=False) as db:
        from ..store import migrations
        migrations.check(db.con)  # refuse edited or newer migrations here too
        rows = [(f"{s.version:04d}", s.name, "applied" if s.applied else "pending", s.applied_at)
                for s in db.migration_status()]
    click.echo(table(["version", "name", "status", "applied_at"], rows))


# -- data ---------------------------------------------------------------------------------------

@cli.command("import", epilog=examples(
    "segdb --db segdb-demo.duckdb import examples/survey_sample.csv --table survey --replace"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--table", "table_name", required=True, help="Table to create.")
@click.option("--replace", is_flag=True, help="Overwrite the table if it exists.")
@click.option("--encoding", type=click.Choice(["utf-8", "latin-1", "utf-16"]), default="utf-8",
              show_default=True, help="The encoding of a delimited text file.")
@pass_settings
def import_(settings: Settings, file: str, table_name: str, replace: bool, encoding: str):
    """Load a CSV, TSV, Parquet or JSON file into a table.

    The format follows the file name: .csv, .csv.gz or .txt (delimiter: the first of , ; tab |
    in the header line), .tsv (tab), .parquet or .pq, .json, .jsonl or .ndjson. DuckDB's own
    readers; delimited text is checked strictly (a malformed line is an error that names it)."""
    with settings.open_without_schema() as db:
        rows = db.import_file(file, table_name, replace=replace, encoding=encoding)
    click.echo(f"imported {rows} rows into {table_name}")


@cli.command(epilog=examples(
    'segdb --db segdb-demo.duckdb sql "SELECT customer_id, segment_id, runner_up_id, confidence '
    'FROM insurance_segments ORDER BY confidence LIMIT 5"',
    'segdb --db segdb-demo.duckdb sql --format csv "SELECT * FROM insurance_centroids"'))
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@pass_settings
def sql(settings: Settings, query: str, fmt: str):
    """Run SQL against the database and print the result."""
    path = settings.db
    local = kind_of_target(path) == "duckdb"
    # like the duckdb shell: a new file is created (and removed again if the statement fails)
    read_only = local and path != ":memory:" and Path(path).exists() and not os.access(path, os.W_OK)
    with settings.open_without_schema(read_only=read_only) as db:
        result = db.sql(query)
    headers = result.column_names
    # by position: a join's result may name two columns alike (SELECT a.*, b.* ... USING (id))
    rows = list(zip(*[column.to_pylist() for column in result.columns])) if headers else []
    if not headers:
        return
    if fmt == "csv":
        click.echo(to_csv(headers, rows))
    elif fmt == "json":
        click.echo(to_json(headers, rows))
    else:
        click.echo(table(headers, rows))


# -- segmentations ------------------------------------------------------------------------------

@cli.command(epilog=examples(
    'segdb --db segdb-demo.duckdb create insurance3 --source survey_responses --key customer_id '
    '--feature "Premium savings very important" --feature "Agent not important" --k 3',
    'segdb --db segdb-demo.duckdb create insurance_auto --source survey_responses --key customer_id '
    '--feature "Premium savings very important" --feature "Agent not important" --k auto --k-range 2..5'))
@click.argument("name")
@click.option("--source", required=True, help="A table name or one SELECT statement.")
@click.option("--key", required=True, help="The column identifying a customer.")
@click.option("--feature", "features", multiple=True,
              help="A numeric column to segment on; repeat for each feature.")
@click.option("--category", "category_features", multiple=True,
              help="A nominal column to segment on (one-hot encoded); repeat for each.")
@click.option("--weight", default=None, metavar="COLUMN", help="A survey-weight column.")
@click.option("--k", default="3", show_default=True, metavar="N|auto", help="Number of segments, or 'auto'.")
@click.option("--k-range", default=None, metavar="LO..HI",
              help="With --k auto: the range each refresh scans "
                   "[default: {}..{}].".format(*DEFAULT_K_RANGE))
@click.option("--scale", type=click.Choice(["zscore", "minmax", "none"]), default="zscore",
              show_default=True,
              help="Put the features on one scale before the fit: zscore (x - mean) / sd; minmax "
                   "(x - min) / (max - min), 0..1; none: the values as they are (same units already).")
@click.option("--nulls", type=click.Choice(["skip", "error", "mean"]), default="skip", show_default=True,
              help="Rows with a NULL feature: leave out and count, fail, or use the feature's mean.")
@click.option("--seed", type=int, default=0, show_default=True, metavar="N",
              help="Random seed of the fit (>= 0); the same seed and data give the same segments.")
@click.option("--n-init", type=int, default=10, show_default=True, metavar="N",
              help="k-means restarts (>= 1); the best is kept.")
@click.option("--max-fit-rows", type=AUTO_OR_INT, default=None, metavar="N|auto",
              help="Fit on a seeded sample of at most N rows (>= 2) and label every row in SQL; auto: "
                   "640 MiB of matrix, 10,485,760 rows at 8 features [default: auto].")
@click.option("--rules-depth", type=int, default=None, metavar="N",
              help="Depth of the decision tree the segments' readable rules come from (0: no rules) "
                   "[default: 3].")
@click.option("--replace", is_flag=True, help="Store a new version of an existing definition.")
@click.option("--external-access", is_flag=True,
              help="Let the source read files, URLs and DuckDB extensions (refused by default).")
@click.option("--warm-start", is_flag=True,
              help="Start every refresh from the current run's centroids instead of k-means++ "
                   "restarts (a cold start when k, the features or the scaling changed).")
@pass_settings
def create(settings: Settings, name, source, key, features, category_features, weight, k, scale,
           nulls, seed, n_init, max_fit_rows, rules_depth, replace, k_range, external_access,
           warm_start):
    """Define a segmentation, checked against the source now.

    The definition is stored in the database; `segdb refresh NAME` segments it."""
    features = list(features) + [{"name": c, "kind": "category"} for c in category_features]
    with settings.connect(create=True) as db:
        d = db.create(name, source=source, key=key, features=features, k=k, scale=scale,
                      nulls=nulls, seed=seed, n_init=n_init, max_fit_rows=max_fit_rows,
                      replace=replace, weight=weight, k_range=k_range,
                      external_access=external_access, warm_start=warm_start,
                      rules_depth=rules_depth)
    n = len(d.features)
    k_text = d.k if d.k is not None else f"auto ({d.k_min}..{d.k_max})"
    click.echo(f"defined {d.name} (version {d.version}): {n} feature{'s' if n != 1 else ''}, k={k_text}, "
               f"key {d.key}, source {d.source}")


def _progress_reporter(settings: Settings):
    if settings.quiet or not sys.stderr.isatty():
        return None
    from ..refresh.progress import stage_bars
    return stage_bars()


@cli.command(epilog=examples(
    "segdb --db segdb-demo.duckdb refresh insurance",
    "segdb --db segdb-demo.duckdb refresh --all --warm-start"))
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Refresh every segmentation.")
@click.option("--scan", is_flag=True, help="Also scan k (stored in segdb.k_scan) for a fixed k.")
@click.option("--warm-start/--cold-start", "warm_start", default=None,
              help="Start k-means from the current run's centroids (falls back to cold, and says "
                   "so, when k, the features or the scaling changed), or from k-means++ restarts "
                   "[default: as the definition says; cold].")
@pass_settings
def refresh(settings: Settings, names, all_, scan, warm_start):
    """Re-segment from the current data, atomically.

    The new run becomes current only when it is fully written."""
    if not names and not all_:
        raise DefinitionError("name a segmentation to refresh, or pass --all")
    with settings.connect() as db:
        targets = db.names() if all_ else list(names)
        if all_ and not targets:
            raise NotFoundError("there is no segmentation to refresh; define one with `segdb create`")
        failed: list[tuple[str, SegdbError]] = []
        for name in targets:
            # Each refresh is atomic and independent of the others: one that fails does not keep
            # the rest stale (like `make -k`); every failure is named at the end, and the exit is 1.
            try:
                result = db.refresh(name, triggered_by=api_trigger(),
                                    progress=_progress_reporter(settings), scan=scan,
                                    warm_start=warm_start)
            except SegdbError as exc:
                if len(targets) == 1:
                    raise
                failed.append((name, exc))
                continue
            seconds = sum(result.stage_seconds.values())
            click.echo(f"{name}: {run_label(result.run_id, result.ordinal)}, k={result.k}, "
                       f"{result.rows_used} rows used, {result.rows_skipped} skipped, inertia "
                       f"{cell(result.inertia)} ({seconds:.2f}s)")
            if result.k_edge:
                click.echo(f"{name}: {result.k_edge}")
            if result.fit_start_note:
                click.echo(f"{name}: {result.fit_start} start ({result.fit_start_note})")
        if failed:
            done = len(targets) - len(failed)
            reasons = "; ".join(f"{name!r}: {exc.message}" for name, exc in failed)
            raise SegdbError(f"{len(failed)} of {len(targets)} segmentations failed to refresh "
                             f"({done} refreshed, nothing written for the failed ones): {reasons}")


def print_summary(summary) -> None:
    d, run = summary.definition, summary.run
    click.echo(f"{d.name}: {run_label(run['run_id'], run.get('ordinal'))}, definition version "
               f"{d.version}, refreshed {cell(run['finished_at'])} ({run['triggered_by']})")
    source = " ".join(d.source.split())  # a multi-line SELECT on one line
    click.echo(f"source {source}, key {d.key}, k={run['k']}, scale {d.scale}, nulls {d.nulls}, "
               f"seed {run['seed']}, n_init {run['n_init']}")
    if run.get("fit_start_note"):
        iterations = f"{run['n_iter']} Lloyd iteration{'s' if run['n_iter'] != 1 else ''}"
        click.echo(f"fit: {run['fit_start']} start ({run['fit_start_note']}), {iterations}")
    per = run["inertia"] / run["rows_used"] if run["rows_used"] else float("nan")
    click.echo(f"rows used {run['rows_used']}, skipped {run['rows_skipped']}; inertia "
               f"{cell(run['inertia'])} (z-units; {cell(per)} per customer)")
    if summary.transitions is not None:
        click.echo(summary.transitions.sentence())
    click.echo("")
    named = any(s.get("name") for s in summary.segments)
    click.echo(table(["segment", "size", "share", "description"] + (["name"] if named else []),
                     [(s["segment_id"], s["size"], f"{100 * s['share']:.1f}%", s["description"])
                      + ((s["name"] or "",) if named else ()) for s in summary.segments]))
    from ..present.quality_text import borderline_lines, summary_lines
    from ..present import rules_text
    for line in (borderline_lines(summary) + summary_lines(summary)
                 + rules_text.summary_lines(summary.rules, summary.segments)):
        click.echo(line)
    from ..refresh.prepare import column_labels  # a category feature has one column per level
    labels = column_labels(d, [s["feature"] for s in summary.feature_stats])
    for title, column in (("centroids in source units", "value_raw"),
                          ("centroids in scaled units", "value_scaled")):
        click.echo("")
        click.echo(title)
        matrix = summary.displayed_centroids(column)  # floating-point noise printed as 0
        click.echo(table(["segment"] + labels, [[sid] + vals for sid, vals in matrix.items()], digits=3))


@cli.command(epilog=examples(
    "segdb --db segdb-demo.duckdb show insurance",
    "segdb --db segdb-demo.duckdb show insurance --run 1"))
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="Show this run instead of the current one.")
@pass_settings
def show(settings: Settings, name, run_id):
    """The current run: sizes, shares, centroids, inertia.

    Also rows used and skipped, quality and (for typed features) weighted sizes and category shares."""
    with settings.connect(read_only=True) as db:
        print_summary(db.show(name, run_id))
        cli_features.print_feature_extras(db, name, run_id)  # weighted sizes, category shares


@cli.command(epilog=examples("segdb --db segdb-demo.duckdb runs insurance"))
@click.argument("name")
@pass_settings
def runs(settings: Settings, name):
    """Run history of a segmentation, newest first.

    Column n numbers the segmentation's own runs (1 = its first); run ids are shared by all."""
    with settings.connect(read_only=True) as db:
        rows = db.runs(name)
    headers = ["run_id", "n", "current", "status", "def_version", "finished_at", "k", "rows_used",
               "rows_skipped", "inertia", "start", "triggered_by"]
    click.echo(table(headers, [(r["run_id"], r["ordinal"], "*" if r["is_current"] else "",
                                r["status"] + (" (pruned)" if r.get("pruned_at") else ""),
                                r["definition_version"], r["finished_at"], r["k"], r["rows_used"],
                                r["rows_skipped"], r["inertia"], r.get("fit_start") or "",
                                r["triggered_by"]) for r in rows]))


@cli.command("list", epilog=examples("segdb --db segdb-demo.duckdb list"))
@pass_settings
def list_(settings: Settings):
    """Every segmentation with its current run."""
    with settings.connect(read_only=True) as db:
        rows = db.list()
    headers = ["name", "version", "source", "key", "features", "k", "current_run", "refreshed_at",
               "rows_used"]
    click.echo(table(headers, [(r["name"], r["definition_version"], r["source"], r["key_column"],
                                r["n_features"], r["k"], r["current_run_id"], r["refreshed_at"],
                                r["rows_used"]) for r in rows]))


@cli.command("show-sql", epilog=examples("segdb --db segdb-demo.duckdb show-sql insurance"))
@click.argument("name")
@pass_settings
def show_sql(settings: Settings, name):
    """Print every statement a refresh runs, to run by hand.

    Statistics, matrix, labelling, profiles, views and macros, with the current run's values."""
    with settings.connect(read_only=True) as db:
        click.echo(db.show_sql(name), nl=False)


@cli.command("demo", epilog=examples("segdb demo", "segdb --db segdb-demo.duckdb show insurance"))
@pass_settings
def demo_cmd(settings: Settings):
    """Build a demo database: an insurance survey, segmented.

    Writes segdb-demo.duckdb in the current folder (or the file of --db): 150 survey responses in
    table survey_responses, segmentation insurance (k=2, key customer_id), refreshed. Running it
    again replaces the table and refreshes the segmentation."""
    path = settings.db_given or "segdb-demo.duckdb"
    with settings.connect(path=path, create=True) as db:
        rows = demo_mod.load_survey(db.con)
        click.echo(f"loaded {rows} survey responses into {demo_mod.TABLE} ({db.path})")
        d = db.create(demo_mod.SEGMENTATION, source=demo_mod.TABLE, key="customer_id",
                      features=list(demo_mod.FEATURES), k=2, replace=True)
        click.echo(f"defined {d.name} (version {d.version}): k={d.k}, features "
                   + ", ".join(repr(f.name) for f in d.features))
        result = db.refresh(d.name, triggered_by=api_trigger(), progress=_progress_reporter(settings))
        click.echo(f"refreshed {d.name}: {run_label(result.run_id, result.ordinal)}")
        click.echo("")
        print_summary(db.show(d.name))
        click.echo("")
        click.echo("the 3 customers nearest another segment (runner_up_id: the segment they would "
                   "otherwise join; confidence = 1 - distance / runner-up's distance)")
        near = db.con.execute(f"SELECT customer_id, segment_id, distance, runner_up_id, confidence FROM "
                              f"{d.segments_view} ORDER BY confidence, customer_id LIMIT 3")
        click.echo(table([c[0] for c in near.description], near.fetchall()))
    click.echo("")
    click.echo(f"try: segdb --db {db.path} sql \"SELECT segment_id, count(*) FROM insurance_segments "
               "GROUP BY segment_id ORDER BY 1\"")
