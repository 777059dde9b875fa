"""`segdb apply FILE`: create or update the segmentations declared in a TOML file."""

from __future__ import annotations

import click

from ..store.runs import run_label
from .group import Settings, cli, examples, pass_settings


@cli.command(epilog=examples(
    "segdb --db segdb-demo.duckdb import examples/survey_sample.csv --table survey --replace",
    "segdb --db segdb-demo.duckdb apply examples/survey.toml --refresh"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--refresh", "refresh_after", is_flag=True,
              help="Refresh every segmentation the file created or changed.")
@pass_settings
def apply(settings: Settings, file: str, refresh_after: bool):
    """Create or update segmentations declared in a TOML file.

    See docs/features.md for the keys of the file."""
    from ..define.config import parse
    parse(file)  # a missing or malformed file is refused before any database is opened or created
    with settings.connect(create=True) as db:
        applied = db.apply(file)
        for a in applied:
            what = {"created": "created", "updated": "updated to", "unchanged": "unchanged at"}[a.action]
            click.echo(f"{a.name}: {what} version {a.version}")
        if refresh_after:
            from .group import api_trigger
            for a in applied:
                if a.action != "unchanged":
                    run = db.refresh(a.name, triggered_by=api_trigger())
                    click.echo(f"{a.name}: {run_label(run.run_id, run.ordinal)}, k={run.k}, "
                               f"{run.rows_used} rows used")
                    if run.k_edge:
                        click.echo(f"{a.name}: {run.k_edge}")


def print_feature_extras(db, name: str, run_id: int | None) -> None:
    """After `segdb show`: weighted sizes (runs with a weight column) and category shares."""
    from ..present.textformat import table

    summary_run = run_id if run_id is not None else db.show(name).run["run_id"]
    weighted = db.con.sql("SELECT segment_id, size, weighted_size, weighted_share FROM segdb.segments "
                          "WHERE run_id = ? AND weighted_size IS NOT NULL ORDER BY segment_id",
                          params=[summary_run]).to_arrow_table().to_pylist()
    if weighted:
        click.echo("")
        click.echo("weighted sizes (survey weights)")
        click.echo(table(["segment", "size", "weighted_size", "weighted_share"],
                         [(r["segment_id"], r["size"], r["weighted_size"],
                           f"{100 * r['weighted_share']:.1f}%") for r in weighted]))
    shares = db.category_shares(name, summary_run).fetchall()
    if shares:
        click.echo("")
        click.echo("category shares per segment")
        click.echo(table(["segment", "feature", "level", "size", "share", "weighted_share"],
                         [(s, f, lv, n, f"{100 * sh:.1f}%", "" if wsh is None else f"{100 * wsh:.1f}%")
                          for s, f, lv, n, sh, _, wsh in shares]))
