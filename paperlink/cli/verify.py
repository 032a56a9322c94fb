"""paperlink verify: figures and values against their records, archive and re-execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import store as _store


# -- verify --
@click.command()
@click.argument("source", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--doi",
    metavar="DOI|URL",
    help="Verify a published archive from its DOI or record URL alone, without the project "
    "(a DOI is looked up at $PAPERLINK_DOI_RESOLVER, default https://doi.org, unless it names Zenodo "
    "or --zenodo-url is given).",
)
@click.option(
    "--zenodo",
    "check_archive",
    is_flag=True,
    help="Also check each figure in its published archive.",
)
@click.option("--download", is_flag=True, help="With --zenodo: download each file and re-hash it.")
@click.option(
    "--zenodo-url",
    metavar="URL",
    envvar="PAPERLINK_ZENODO_URL",
    help="API base of the archive server (default: the one each record was published to).",
)
@click.option(
    "--rerun",
    "rerun",
    is_flag=True,
    help="Also re-execute each record and compare its figures byte for byte and its values; a "
    "re-execution that fails is FAILED. Its records are tagged verify-rerun. With --doi: from the "
    "archive's code and image, which runs the archive's code on this machine.",
)
@click.option(
    "--image-archive",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Archive of a record's image (paperlink image save), for records whose image is not in the "
    "engine (with --doi: for --rerun, when the archive holds no image).",
)
@click.option(
    "--max-retry-time",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up on an unreachable archive after retrying this long.",
)
@click.option(
    "--rehash",
    is_flag=True,
    help="Read every file again instead of trusting the digest cache.",
)
@click.option(
    "--environment",
    "environment",
    is_flag=True,
    help="Also scan this machine's environment again for each record, as 'paperlink run' would for "
    "its command (conda, dpkg, pip, R, Julia, lock files), and report what differs from the recorded "
    "one, by manager, as DRIFT (exit 3).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def verify(
    ctx: click.Context,
    source: str | None,
    doi: str | None,
    check_archive: bool,
    download: bool,
    zenodo_url: str | None,
    rerun: bool,
    image_archive: Path | None,
    max_retry_time: float,
    rehash: bool,
    environment: bool,
    as_json: bool,
) -> None:
    """Check every figure and value SOURCE uses against its record: SOURCE is the .tex manuscript or the
    compiled PDF (its embedded manifest); --doi checks a published archive without the project.

    Each figure's record's environment must be in the store with the content its digest names (and,
    with --zenodo, in the archive); --environment also compares it with this machine's.

    Exits 0 when everything checked passes, 3 when something does not match, 1 on other errors.

    \b
    Example: paperlink verify paper/main.pdf --zenodo --download
    """
    import os

    from paperlink.cli.views import verify_table

    if download and not check_archive:
        raise click.UsageError("--download goes with --zenodo")
    if doi is not None:
        from paperlink.verify.review import verify_archive

        if source is not None:
            raise click.UsageError("give either a manuscript or --doi, not both")
        if environment:
            raise click.UsageError(
                "--environment compares this machine with the project's records; with --doi the "
                "archive's environments are checked against its records without it"
            )
        if image_archive is not None and not rerun:
            raise click.UsageError(
                "--image-archive with --doi is the image to re-execute in (--rerun) when the archive "
                "holds none; --doi alone checks the archive's files and does not use it: add --rerun "
                "or leave --image-archive out"
            )
        token = os.environ.get("ZENODO_TOKEN")
        report = verify_archive(
            doi,
            zenodo_url=zenodo_url,
            token=token,
            max_retry_seconds=max_retry_time,
            rerun=rerun,
            image_archive=image_archive,
        )
    else:
        if source is None:
            raise click.UsageError("name the manuscript (e.g. paper/main.tex) or give --doi DOI")
        report = _verify_project(
            ctx,
            source,
            check_archive,
            download,
            zenodo_url,
            rerun,
            image_archive,
            max_retry_time,
            rehash,
            environment,
        )
    if as_json:
        _echo_json(report.to_dict())  # the warnings are in it
    else:
        click.echo(verify_table(report))
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
    ctx.exit(report.exit_code)


def _verify_project(
    ctx: click.Context,
    source: str,
    check_archive: bool,
    download: bool,
    zenodo_url: str | None,
    rerun: bool,
    image_archive: Path | None,
    max_retry_time: float,
    rehash: bool,
    environment: bool,
) -> Any:
    import os

    from paperlink.verify.envcheck import EnvironmentDrift, StoredEnvironment
    from paperlink.verify.environment import ImageChecker, RerunChecker
    from paperlink.verify.manuscript import ExtraCheck, ValueCheck, verify_manuscript

    project, store = _store(ctx)
    extra: list[ExtraCheck] = [
        ImageChecker(project, image_archive=image_archive),
        StoredEnvironment(store),
    ]
    drift = EnvironmentDrift(project, store) if environment else None
    if drift is not None:
        extra.append(drift)
    value_checks: list[ValueCheck] = []
    if rerun:
        rerunner = RerunChecker(project, store, image_archive=image_archive)
        extra.append(rerunner)
        value_checks.append(rerunner.check_value)
    if check_archive:
        from paperlink.verify.archive import ArchiveChecker

        checker = ArchiveChecker(
            zenodo_url=zenodo_url,
            token=os.environ.get("ZENODO_TOKEN"),
            download=download,
            max_retry_seconds=max_retry_time,
            store=store,
        )
        ctx.call_on_close(checker.close)
        extra += [checker, checker.check_environment]
    report = verify_manuscript(
        project, store, source, extra_checks=extra, value_checks=value_checks, rehash=rehash
    )
    if drift is not None:
        report.notes.extend(drift.notes)
    return report
