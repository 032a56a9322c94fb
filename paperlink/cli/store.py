"""paperlink store export | import: records moved between stores as files."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import project as _project
from paperlink.cli.common import store as _store
from paperlink.errors import ExitCode


@click.group()
def store() -> None:
    """Move records between stores as files (a folder to commit with a paper, or JSON Lines)."""


@store.command(name="export")
@click.argument("target", type=click.Path(path_type=Path))
@click.option(
    "--record", "labels", multiple=True, metavar="LABEL", help="Only this record (repeatable)."
)
@click.option(
    "--tex",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Only the records this manuscript uses.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
@click.pass_context
def export(
    ctx: click.Context, target: Path, labels: tuple[str, ...], tex: Path | None, as_json: bool
) -> None:
    """Write records to TARGET: a folder (one LABEL.json each, to commit) or a FILE.jsonl.

    \b
    Example: paperlink store export paperlink-records --tex paper/main.tex
    """
    from paperlink.exchange.transfer import export_records

    _, opened = _store(ctx)
    if labels or tex is not None:
        from paperlink.publish.options import PublishOptions
        from paperlink.publish.selection import choose_records

        chosen = [r.label for r in choose_records(opened, PublishOptions(list(labels), tex=tex))]
    else:
        chosen = opened.labels()
    written = export_records(opened, chosen, target)
    if as_json:
        _echo_json({"records": chosen, "files": [str(p) for p in written]})
    else:
        click.echo(f"exported {len(chosen)} record(s) to {target}")


@store.command(name="import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what was added as JSON.")
@click.pass_context
def import_(ctx: click.Context, source: Path, as_json: bool) -> None:
    """Add the records of an export (a folder or a .jsonl file) to the store, creating it if needed.

    Records already there (the same run_id) are left as they are, so importing twice changes nothing; a
    label another run holds is reported and that record is not imported (exit 1).

    \b
    Example: paperlink store import paperlink-records
    """
    from paperlink.exchange.transfer import import_records, open_or_create

    found = _project(ctx)
    opened = open_or_create(found.store_path)
    ctx.call_on_close(opened.close)
    result = import_records(opened, source)
    if as_json:
        _echo_json({"added": result.added, "present": result.present, "clashes": result.clashes})
    else:
        click.echo(f"imported {len(result.added)} record(s); {len(result.present)} already there")
        for clash in result.clashes:
            click.echo(f"not imported: {clash}", err=True)
    if result.clashes:
        ctx.exit(ExitCode.ERROR)
