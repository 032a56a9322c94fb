"""paperlink store export | import | copy | sync: records moved between stores, as files or directly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import project as _project
from paperlink.cli.common import store as _store
from paperlink.errors import ExitCode

if TYPE_CHECKING:
    from paperlink.core.store import RecordStore


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


def _open_pair(
    ctx: click.Context, source: str, target: str, *, create_source: bool
) -> tuple[RecordStore, RecordStore]:
    """The two stores named on the command line (paths relative to the current folder, or URLs)."""
    from paperlink.core.config import store_path_from_url
    from paperlink.core.store import RecordStore
    from paperlink.exchange.transfer import open_or_create

    where = [store_path_from_url(name, Path.cwd()) for name in (source, target)]
    first = open_or_create(where[0]) if create_source else RecordStore(where[0])
    ctx.call_on_close(first.close)
    second = open_or_create(where[1])
    ctx.call_on_close(second.close)
    return first, second


def _report(ctx: click.Context, results: list[Any], as_json: bool) -> None:
    if as_json:
        _echo_json({"copies": [r.summary() for r in results]})
    else:
        for r in results:
            click.echo(
                f"{r.source} -> {r.target}: {len(r.added)} added, {r.present} already there, "
                f"{len(r.updated)} given tags or annotations"
            )
    for r in results:
        for clash in r.clashes:
            click.echo(f"not copied: {clash}", err=True)
    if any(r.clashes for r in results):
        ctx.exit(ExitCode.ERROR)


@store.command(name="copy")
@click.argument("source", metavar="SRC")
@click.argument("target", metavar="DST")
@click.option("--json", "as_json", is_flag=True, help="Print what was copied as JSON.")
@click.pass_context
def copy(ctx: click.Context, source: str, target: str, as_json: bool) -> None:
    """Copy the records of store SRC that store DST lacks into DST (made if need be), keyed on run_id.

    SRC and DST are SQLite files or postgresql:// URLs. Tags, reason, annotations (publication state
    too), stored contents and streams travel with each record; copying twice changes nothing. A label
    another run holds in DST is reported and that record is not copied (exit 1).

    \b
    Example: paperlink store copy .paperlink/records.sqlite postgresql://me@db.lab/paperlink
    """
    from paperlink.cli.progress import step_progress
    from paperlink.exchange.storesync import copy_records

    first, second = _open_pair(ctx, source, target, create_source=False)
    with step_progress("copying records") as progress:
        result = copy_records(first, second, on_progress=progress)
    _report(ctx, [result], as_json)


@store.command(name="sync")
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print what was copied each way as JSON.")
@click.pass_context
def sync(ctx: click.Context, first: str, second: str, as_json: bool) -> None:
    """Copy records both ways between stores A and B (made if need be): afterwards each holds every
    record of either. As 'store copy', keyed on run_id; a label clash is reported, not overwritten.

    \b
    Example: paperlink store sync .paperlink/records.sqlite postgresql://me@db.lab/paperlink
    """
    from paperlink.cli.progress import step_progress
    from paperlink.exchange.storesync import sync_stores

    a, b = _open_pair(ctx, first, second, create_source=True)
    with step_progress("syncing records") as progress:
        there, back = sync_stores(a, b, on_progress=progress)
    _report(ctx, [there, back], as_json)
