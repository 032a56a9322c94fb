"""paperlink import sumatra: records another tool made, brought into the store."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import project as _project
from paperlink.errors import ExitCode


@click.group(name="import")
def import_group() -> None:
    """Bring records another tool made into the store (Sumatra's)."""


@import_group.command(name="sumatra")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--sumatra-project",
    metavar="NAME",
    help="Only this Sumatra project's records (the name a JSON export needs when no "
    "project_export.json lies beside it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was added as JSON.")
@click.pass_context
def sumatra(ctx: click.Context, path: Path, sumatra_project: str | None, as_json: bool) -> None:
    """Import the records of a Sumatra project: its .smt/records (the SQLite store 'smt init' makes), the
    project folder, or the JSON 'smt export' writes.

    Labels, tags, reasons, parameters, code versions and diffs, dependencies, platforms and the input and
    output data with their SHA-1 digests are kept; Sumatra's LABEL:PATH (relative to its data store) still
    names an output in the manuscript. Importing again changes nothing; a label another run holds is
    reported and that record is not imported (exit 1).

    \b
    Example: paperlink import sumatra .smt/records
    """
    from paperlink.exchange.sumatra_records import import_sumatra
    from paperlink.exchange.transfer import open_or_create

    found = _project(ctx)
    opened = open_or_create(found.store_path)
    ctx.call_on_close(opened.close)
    result = import_sumatra(opened, found, path, sumatra_project=sumatra_project)
    if as_json:
        _echo_json(
            {
                "source": result.source,
                "added": result.added,
                "present": result.present,
                "clashes": result.clashes,
                "warnings": result.warnings,
            }
        )
    else:
        click.echo(
            f"imported {len(result.added)} Sumatra record(s) from {result.source}; "
            f"{len(result.present)} already there"
        )
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        for clash in result.clashes:
            click.echo(f"not imported: {clash}", err=True)
    if result.clashes:
        ctx.exit(ExitCode.ERROR)
