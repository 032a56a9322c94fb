"""paperlink publish: archive records to Zenodo or a folder."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import store as _store
from paperlink.core.store import RecordStore


# -- publish --
@click.command()
@click.option(
    "--record", "labels", multiple=True, metavar="LABEL", help="Record to archive (repeatable)."
)
@click.option("--all", "all_records", is_flag=True, help="Archive every finished record.")
@click.option(
    "--tex",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archive the records this manuscript uses.",
)
@click.option("--new-version", is_flag=True, help="Publish a new version of the earlier archive.")
@click.option("--draft", is_flag=True, help="Upload everything but stop before publishing.")
@click.option("--sandbox", is_flag=True, help="Use the Zenodo sandbox (ZENODO_SANDBOX_TOKEN).")
@click.option(
    "--zenodo-url",
    metavar="URL",
    help="API base of Zenodo or of any compatible server, such as an institutional InvenioRDM "
    "(e.g. https://data.example.edu/api; default: $PAPERLINK_ZENODO_URL or zenodo.org).",
)
@click.option(
    "--api",
    type=click.Choice(["auto", "deposit", "records"]),
    default="auto",
    show_default=True,
    envvar="PAPERLINK_ZENODO_API",
    help="Zenodo's deposit API or InvenioRDM's records API; auto: the deposit API on Zenodo, "
    "elsewhere whichever the server offers. A resumed publication keeps the one it started with.",
)
@click.option("--no-image", is_flag=True, help="Leave container images out.")
@click.option("--no-site", is_flag=True, help="Leave the static provenance site out.")
@click.option(
    "--image-archive",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Image archive (docker save) for runs whose record names none.",
)
@click.option(
    "--pdf", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Add the paper."
)
@click.option(
    "--to",
    "to_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the archive into this new folder instead of uploading it.",
)
@click.option(
    "--dry-run", is_flag=True, help="Show the plan (files, sizes, metadata); send nothing."
)
@click.option(
    "--max-retry-time",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up on a failing request after retrying this long.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_context
def publish(
    ctx: click.Context,
    labels: tuple[str, ...],
    all_records: bool,
    tex: Path | None,
    new_version: bool,
    draft: bool,
    sandbox: bool,
    zenodo_url: str | None,
    api: str,
    no_image: bool,
    no_site: bool,
    image_archive: Path | None,
    pdf: Path | None,
    to_dir: Path | None,
    dry_run: bool,
    max_retry_time: float,
    as_json: bool,
) -> None:
    """Archive records, their code and images to Zenodo (or a folder) and link them to the DOI.

    Resumable: run the same command again after an interruption to continue the same deposition.
    Token: $ZENODO_TOKEN, or ~/.config/paperlink/zenodo-token (chmod 600). Every file is scanned for the
    token and the values of secret-looking environment variables first; a finding stops the command
    (exit 10) with the file and line, and nothing is uploaded or written.

    \b
    Example: paperlink publish --tex paper/main.tex --draft
    """
    import contextlib
    import os

    from paperlink.cli.progress import transfer_progress
    from paperlink.cli.views import publish_text
    from paperlink.errors import ConfigError
    from paperlink.publish.api import PRODUCTION_URL, SANDBOX_URL
    from paperlink.publish.flow import publish_records
    from paperlink.publish.options import PublishOptions
    from paperlink.publish.tokens import find_token

    project, store = _store(ctx)
    url = zenodo_url or (SANDBOX_URL if sandbox else None)
    url = url or os.environ.get("PAPERLINK_ZENODO_URL") or PRODUCTION_URL
    options = PublishOptions(
        labels=list(labels),
        all_records=all_records,
        tex=tex,
        server_url=url,
        new_version=new_version,
        draft=draft,
        include_image=not no_image,
        site_writer=None if no_site else _write_site,
        image_archive=image_archive,
        pdf=pdf,
        to_dir=to_dir,
        dry_run=dry_run,
        max_retry_seconds=max_retry_time,
        api=api,
    )
    sandbox = url.rstrip("/") == SANDBOX_URL
    if to_dir is None and not dry_run:
        options.token = find_token(os.environ, sandbox=sandbox)
    else:
        # Not needed to write a folder, but a token that exists must not be in it either.
        with contextlib.suppress(ConfigError):
            options.secrets.append(find_token(os.environ, sandbox=sandbox))
    with transfer_progress(enabled=None if not as_json else False) as progress:
        result = publish_records(project, store, options, on_progress=progress)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(publish_text(result))


def _write_site(store: RecordStore, root: Path, target: Path, tex: Path | None) -> None:
    """The archive's provenance site: the viewer's static site, handed to the archive from here so that
    ``publish`` does not depend on ``web``."""
    from paperlink.web.site import write_site

    write_site(store, root, target, tex=tex)
