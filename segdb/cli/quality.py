"""`segdb profile`, `segdb plot`, `segdb report`: what makes each segment different, in a table,
in pictures and in one HTML file. The work is done by segdb.api.Database; this module prints."""

from __future__ import annotations

import click

from ..errors import DefinitionError, NotFoundError
from ..present.textformat import segment_label, table, to_csv, to_json
from ..store.runs import run_label
from .group import cli, examples, pass_settings, Settings

PROFILE_HEADERS = ["segment", "rank", "feature", "mean_raw", "z_diff", "effect_size"]


@cli.command("profile", epilog=examples(
    "segdb --db segdb-demo.duckdb profile insurance",
    "segdb --db segdb-demo.duckdb profile insurance --top 1 --format csv"))
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="Profile this run instead of the current one.")
@click.option("--top", type=int, default=None, help="Only each segment's N most separating features.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@pass_settings
def profile(settings: Settings, name, run_id, top, fmt):
    """What sets each segment apart, feature by feature.

    Per segment and feature: mean, difference from the population (sd), Cohen's d, rank."""
    if top is not None and top < 1:
        raise DefinitionError(f"--top={top} should be >= 1")
    with settings.connect(read_only=True) as db:
        rows = db.profiles(name, run_id)
        summary = db.show(name, run_id)
    from ..present.textformat import displayed  # displayed: floating-point noise printed as 0
    from ..present.rules_text import segment_rule_lines
    rows = displayed(rows, summary.feature_stats)
    if top is not None:
        rows = [r for r in rows if r["rank"] <= top]
    data = [(r["segment_id"], r["rank"], r["label"], r["mean_raw"], r["z_diff"], r["effect_size"]) for r in rows]
    if fmt == "csv":
        click.echo(to_csv(PROFILE_HEADERS, data))
        return
    if fmt == "json":
        click.echo(to_json(PROFILE_HEADERS, data))
        return
    run = run_label(summary.run["run_id"], summary.run["ordinal"])
    click.echo(f"{name}, {run}: z_diff = (segment mean - population mean) / population sd; "
               "effect_size = Cohen's d, segment vs rest; rank by |d|")
    from ..present.quality_text import borderline_note
    places = {b.segment_id: b for b in summary.borderline or ()}
    for s in summary.segments:
        click.echo("")
        place = f"; {borderline_note(summary, places[s['segment_id']])}" if s["segment_id"] in places else ""
        click.echo(f"segment {segment_label(s['segment_id'], s.get('name'))} ({s['size']} customers, "
                   f"{100 * s['share']:.1f}%{place}): {s['description']}")
        for line in segment_rule_lines(summary.rules, s["segment_id"]):
            click.echo(line)
        click.echo(table(PROFILE_HEADERS[1:], [d[1:] for d in data if d[0] == s["segment_id"]], digits=3))


@cli.command("plot", epilog=examples("segdb --db segdb-demo.duckdb plot insurance --out insurance-plots"))
@click.argument("name")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="Folder for the PNG files (created).")
@click.option("--run", "run_id", type=int, default=None, help="Plot this run instead of the current one.")
@pass_settings
def plot(settings: Settings, name, out_dir, run_id):
    """PNGs of a run and of its history.

    Elbow, customers by segment, profile heatmap, segment sizes; customers' moves since the
    previous run and segment sizes across runs."""
    with settings.connect(read_only=True) as db:
        paths = db.plot(name, out_dir, run_id)
    for kind, path in paths.items():
        if path is None:
            click.echo(f"{kind}: skipped ({SKIPPED.get(kind, 'nothing stored to draw')})")
        else:
            click.echo(f"{kind}: {path}")


SKIPPED = {  # why `segdb plot` drew no picture of a kind
    "elbow": "no k scan stored for this run; refresh with --scan",
    "flows": "the segmentation's first run: no previous run to compare with",
    "history": "one run so far: sizes across runs need two",
}


@cli.command("report", epilog=examples(
    "segdb --db segdb-demo.duckdb report insurance --out insurance.html"))
@click.argument("name")
@click.option("--out", "out_path", required=True, metavar="FILE", help="The HTML file to write.")
@click.option("--run", "run_id", type=int, default=None, help="Report this run instead of the current one.")
@pass_settings
def report(settings: Settings, name, out_path, run_id):
    """One self-contained HTML report of a run.

    k selection, quality, profiles, pictures and the SQL to join the segments."""
    with settings.connect(read_only=True) as db:
        path = db.report(name, out_path, run_id)
    click.echo(f"wrote {path}")


@cli.command("rules", epilog=examples(
    "segdb --db segdb-demo.duckdb rules insurance",
    "segdb --db segdb-demo.duckdb rules insurance --run 1"))
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="The rules of this run instead of the current one.")
@pass_settings
def rules(settings: Settings, name, run_id):
    """Each segment's readable rule, and all of them as one SQL CASE.

    From a shallow decision tree on the features in source units; paste the CASE into any SQL or
    BI tool, or call NAME_rule_segment(...) with the arguments of NAME_assign."""
    from ..present.rules_text import fidelity_sentence, segment_rule_lines
    with settings.connect(read_only=True) as db:
        summary = db.show(name, run_id)
    rr = summary.rules
    run = run_label(summary.run["run_id"], summary.run["ordinal"])
    if rr is None or rr.tree is None:
        raise NotFoundError(f"{name}, {run} has no rules (rules_depth 0, or written before segdb stored "
                              f"rules); refresh {name} to compute them")
    click.echo(f"{name}, {run}: {fidelity_sentence(rr)}")
    for s in summary.segments:
        click.echo("")
        click.echo(f"segment {segment_label(s['segment_id'], s.get('name'))} ({s['size']} customers): "
                   f"{s['description']}")
        for line in segment_rule_lines(rr, s["segment_id"]):
            click.echo(line)
    click.echo("")
    click.echo(f"-- the segment by its rule (NULL when none holds); {name}_rule_segment(...) computes the same")
    click.echo(rr.case_sql())
