"""paperlink serve and paperlink site: the viewer and its static copy."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import project as _project
from paperlink.cli.common import store as _store


# -- viewer and static site --
@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8008,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback lets other machines read every record.",
)
@click.option(
    "--tex",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manuscript's main .tex file: adds a page for each figure it uses.",
)
@click.pass_context
def serve(ctx: click.Context, port: int, host: str, tex: Path | None) -> None:
    """Browse records, figures and their provenance in a web browser (read-only).

    \b
    Example: paperlink serve --tex paper/main.tex
    """
    from paperlink.web.app import ViewerApp, exposure_warning, serve_app

    project = _project(ctx)
    warning = exposure_warning(host)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    app = ViewerApp(project.store_path, project.root, tex)

    def ready(url: str) -> None:
        click.echo(f"paperlink: serving {project.name} at {url}  (Ctrl-C to stop)")

    try:
        serve_app(app, host, port, on_ready=ready)
    except KeyboardInterrupt:
        click.echo("paperlink: viewer stopped", err=True)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--tex",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manuscript's main .tex file: adds a page for each figure it uses.",
)
@click.option(
    "--max-file-size",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    metavar="MiB",
    help="Copy output files up to this size into the site.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_context
def site(
    ctx: click.Context, folder: Path, tex: Path | None, max_file_size: int, as_json: bool
) -> None:
    """Write the viewer's pages to FOLDER as a static site that opens from disk.

    Nothing is written when a page or a copied output holds the value of a secret-looking environment
    variable (exit 10, with the file and line).

    \b
    Example: paperlink site provenance-site --tex paper/main.tex
    """
    import os

    from paperlink.cli.progress import step_progress
    from paperlink.web.site import write_site

    project, store = _store(ctx)
    with step_progress("writing the site") as progress:
        summary = write_site(
            store,
            project.root,
            folder,
            tex=tex,
            max_file_bytes=max_file_size << 20,
            on_progress=progress,
            environ=os.environ,
        )
    if as_json:
        _echo_json(
            {
                "folder": str(summary.folder),
                "pages": summary.pages,
                "records": summary.records,
                "files": summary.files,
                "skipped_files": summary.skipped_files,
            }
        )
        return
    click.echo(
        f"Wrote {summary.pages} pages for {summary.records} record(s) and {summary.files} file(s) "
        f"to {summary.folder}; open {summary.folder / 'index.html'} in a browser"
    )
    for skipped in summary.skipped_files:
        click.echo(f"  not copied: {skipped}")
