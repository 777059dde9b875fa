"""CLI of living segments: name, ids, transitions, assign, drift, rollback, prune.

The work is done by segdb.api.Database; these commands parse and print. `segdb drift` exits 0 when no
refresh is needed, 3 when one is advisable (1 stays "error"), for cron jobs.
"""

from __future__ import annotations

import click

from ..errors import DefinitionError
from ..present.textformat import cell, table
from ..store.runs import run_label
from .group import Settings, api_trigger, cli, examples, pass_settings

DRIFT_EXIT_REFRESH_ADVISED = 3


@cli.command("name", epilog=examples(
    'segdb --db segdb-demo.duckdb name insurance 1 "Price seekers"',
    "segdb --db segdb-demo.duckdb name insurance 1 --clear"))
@click.argument("name")
@click.argument("segment_id", type=int)
@click.argument("label", required=False)
@click.option("--clear", is_flag=True, help="Remove the segment's name.")
@pass_settings
def name_cmd(settings: Settings, name, segment_id, label, clear):
    """Name a segment; the name follows its id through refreshes.

    The name is the segment_name column of the views."""
    if clear == (label is not None):
        raise DefinitionError("give either a name or --clear, e.g. "
                              f"`segdb name {name} {segment_id} \"Budget seekers\"`")
    with settings.connect() as db:
        db.name_segment(name, segment_id, None if clear else label)
    click.echo(f"{name}: segment {segment_id} " + ("is unnamed" if clear else f"is named {label!r}"))


@cli.command("ids", epilog=examples("segdb --db segdb-demo.duckdb ids insurance"))
@click.argument("name")
@pass_settings
def ids_cmd(settings: Settings, name):
    """Every segment id a segmentation ever used.

    With its name, the run that first used it and the run that retired it."""
    with settings.connect(read_only=True) as db:
        rows = db.segment_ids(name)
    click.echo(table(["segment_id", "name", "first_run", "retired_in_run"],
                     [(r["segment_id"], r["name"] or "", r["first_run_id"], r["retired_run_id"])
                      for r in rows]))


@cli.command("transitions", epilog=examples("segdb --db segdb-demo.duckdb transitions insurance"))
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="This run instead of the current one.")
@pass_settings
def transitions_cmd(settings: Settings, name, run_id):
    """Customers moved between segments since the previous run.

    An empty from_segment is a new customer, an empty to_segment a gone one."""
    with settings.connect(read_only=True) as db:
        summary = db.show(name, run_id)
        rows = db.transitions(name, run_id)
    if summary.transitions is not None:
        run = run_label(summary.run["run_id"], summary.run["ordinal"])
        click.echo(f"{run}, {summary.transitions.sentence()}")
    click.echo(table(["from_segment", "to_segment", "customers"],
                     [(r["from_segment_id"], r["to_segment_id"], r["customers"]) for r in rows]))


@cli.command("assign", epilog=examples("segdb --db segdb-demo.duckdb assign insurance"))
@click.argument("name")
@pass_settings
def assign_cmd(settings: Settings, name):
    """Label the source's new customers with the current run.

    In SQL, without refitting: customers already labelled keep their labels."""
    with settings.connect() as db:
        result = db.assign(name)
    click.echo(result.sentence(name))


def _parse_limits(items) -> dict:
    limits = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise DefinitionError(f"--limit {item!r} is not KEY=VALUE, e.g. --limit changed_share=0.1")
        limits[key.strip()] = value.strip()
    return limits


def print_drift(r) -> None:
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"
    recorded = f" (check {r.check_id})" if r.check_id is not None else " (not recorded)"
    click.echo(f"{r.segmentation}: drift of the source against run {r.run_id}{recorded}")
    click.echo(f"customers: {r.customers_now} now, {r.customers_run} in the fit; "
               f"{r.customers_new} new ({pct(r.new_share)}), {r.customers_gone} gone "
               f"({pct(r.gone_share)}); {r.customers_changed} of {r.customers_both} have another "
               f"nearest segment now ({pct(r.changed_share)})")
    ratio = "-" if r.inertia_ratio is None else f"x{r.inertia_ratio:.3f}"
    click.echo(f"inertia per customer: {cell(r.inertia_per_customer_fit)} at fit, "
               f"{cell(r.inertia_per_customer_now)} now ({ratio})")
    click.echo("")
    click.echo(table(["feature", "mean_run", "mean_now", "mean_shift_sd", "sd_run", "sd_now",
                      "sd_change"],
                     [(f.feature, f.mean_run, f.mean_now, f.mean_shift, f.sd_run, f.sd_now,
                       f.sd_change) for f in r.features], digits=3))
    click.echo("")
    if r.refresh_advised:
        click.echo("refresh advisable: " + "; ".join(r.reasons))
    else:
        click.echo("no refresh needed: every figure is within its limit")


@cli.command("drift", epilog=examples(
    "segdb --db segdb-demo.duckdb drift insurance",
    "segdb --db segdb-demo.duckdb drift insurance --limit changed_share=0.1 --no-record"))
@click.argument("name")
@click.option("--limit", "limits", multiple=True, metavar="KEY=VALUE",
              help="Override a limit of the rule (the keys are above); repeatable.")
@click.option("--no-record", is_flag=True, help="Do not store the check in segdb.drift_checks.")
@pass_settings
def drift_cmd(settings: Settings, name, limits, no_record):
    """Compare the source now with the current run. Exit 0: no refresh needed; 3: refresh advisable.

    A refresh is advisable when a figure exceeds its limit; --limit KEY=VALUE overrides one. The
    keys, their defaults and what they measure:

    \b
      max_mean_shift  0.25  a feature's mean moved, in standard deviations of the run
      max_sd_change   0.25  a feature's standard deviation changed, relative to the run's
      changed_share   0.05  share of the customers in both whose nearest segment is another now
      inertia_ratio   1.2   mean squared distance to the nearest centroid, now / at the fit
      new_share       0.1   share of today's customers that were not in the fit
      gone_share      0.1   share of the fitted customers that are gone"""
    with settings.connect(read_only=no_record) as db:
        report = db.drift(name, limits=_parse_limits(limits), record=not no_record,
                          triggered_by=api_trigger())
    print_drift(report)
    if report.refresh_advised:
        click.get_current_context().exit(DRIFT_EXIT_REFRESH_ADVISED)


@cli.command("rollback", epilog=examples(
    "segdb --db segdb-demo.duckdb refresh insurance",
    "segdb --db segdb-demo.duckdb rollback insurance"))
@click.argument("name")
@click.argument("run_id", type=int, required=False)
@pass_settings
def rollback_cmd(settings: Settings, name, run_id):
    """Make an earlier run current again (default: the previous).

    The views and macros follow the run."""
    with settings.connect() as db:
        result = db.rollback(name, run_id, triggered_by=api_trigger())
    click.echo(f"{name}: run {result.to_run_id} is current again (was run {result.from_run_id})")


@cli.command("prune", epilog=examples("segdb --db segdb-demo.duckdb prune insurance --keep 2"))
@click.argument("name")
@click.option("--keep", required=True, metavar="N", help="How many of the newest runs keep their rows.")
@pass_settings
def prune_cmd(settings: Settings, name, keep):
    """Delete old runs' rows; the current run always stays.

    Labels, centroids and statistics of the older runs go; every run's row in segdb.runs stays."""
    with settings.connect() as db:
        result = db.prune(name, keep)
    kept = _run_list(result.kept_run_ids)
    kept = f"{kept} keeps its rows" if len(result.kept_run_ids) == 1 else f"{kept} keep their rows"
    if not result.pruned_run_ids:
        click.echo(f"{name}: nothing to prune; " + (kept if result.kept_run_ids else "it has no run yet"))
        return
    click.echo(f"{name}: pruned {_run_list(result.pruned_run_ids)} ({result.labels_deleted} labels deleted); "
               f"{kept}")


@cli.command("unlock", epilog=examples("segdb --db segdb-demo.duckdb unlock insurance"))
@click.argument("name")
@pass_settings
def unlock_cmd(settings: Settings, name):
    """Remove a killed process's lock (Spark clusters).

    On Spark without a local warehouse (a cluster, Spark Connect) a command that changes NAME holds
    a lock table that outlives a killed process; run this only when that process is gone. DuckDB,
    PostgreSQL and a local Spark warehouse release their locks when a process dies."""
    with settings.connect() as db:
        holder = db.unlock(name)
    if holder is None:
        click.echo(f"{name}: no lock to remove")
    else:
        click.echo(f"{name}: removed the lock" + (f" of {holder}" if holder else ""))


def _run_list(run_ids) -> str:
    return ("run " if len(run_ids) == 1 else "runs ") + ", ".join(map(str, run_ids))
