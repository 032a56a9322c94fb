"""The ``paperlink`` command: a thin shell over the library. Each command turns options into arguments, calls
one library function and renders its result; errors are reported in one place (:class:`PaperlinkGroup`)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from paperlink import __version__
from paperlink.errors import EXIT_CODE_HELP, ExitCode, PaperlinkError, UsageError


@dataclass
class Settings:
    store: str | None
    project_dir: str | None
    debug: bool


class PaperlinkGroup(click.Group):
    """Reports a :class:`PaperlinkError` as ``Error: …`` on stderr and exits with its code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PaperlinkError as exc:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            if settings is not None and settings.debug:
                import traceback

                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(ExitCode.INTERRUPTED)


@click.group(
    cls=PaperlinkGroup,
    epilog=EXIT_CODE_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="paperlink")
@click.option(
    "--store",
    metavar="PATH|URL",
    envvar="PAPERLINK_STORE",
    help="Record store to use instead of the project's.",
)
@click.option("-C", "--project", "project_dir", metavar="DIR", help="Run as if started in DIR.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, store: str | None, project_dir: str | None, debug: bool) -> None:
    """paperlink ties every figure in a paper to the computation that made it."""
    ctx.obj = Settings(store=store, project_dir=project_dir, debug=debug)


def _project(ctx: click.Context) -> Any:
    from paperlink.config import find_project, store_path_from_url

    settings: Settings = ctx.obj
    project = find_project(settings.project_dir)
    if settings.store:
        project.store = str(store_path_from_url(settings.store, Path.cwd()))
    return project


def _store(ctx: click.Context) -> Any:
    from paperlink.store import RecordStore

    project = _project(ctx)
    store = RecordStore(project.store_path)
    ctx.call_on_close(store.close)
    return project, store


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


@cli.command()
@click.option("--name", help="Project name (default: the folder's name).")
@click.option("--store", "store_url", metavar="PATH|URL", help="Where the record store lives.")
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="DIR",
    help="Output folder (repeatable; default: figures, results).",
)
@click.pass_context
def init(
    ctx: click.Context, name: str | None, store_url: str | None, outputs: tuple[str, ...]
) -> None:
    """Start a paperlink project in the current folder."""
    from paperlink.project import init_project

    settings: Settings = ctx.obj
    root = Path(settings.project_dir or Path.cwd()).resolve()
    project = init_project(root, name=name, store=store_url, outputs=list(outputs))
    click.echo(f"Initialised paperlink project '{project.name}' in {root}")
    click.echo(f"  records: {project.store_path}")
    click.echo(f"  outputs: {', '.join(project.output_dirs)}")
    click.echo("Record a run with: paperlink run -- python3 analysis.py")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--label", help="Record label (default: a UTC timestamp, YYYYMMDD-HHMMSS).")
@click.option("--reason", help="Why this run was made.")
@click.option("--tag", "tags", multiple=True, help="Tag (repeatable).")
@click.option(
    "--input", "inputs", multiple=True, type=click.Path(), help="Input file (repeatable)."
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(),
    help="Output file or folder outside the output folders (repeatable).",
)
@click.option(
    "--source-date-epoch",
    type=int,
    help="SOURCE_DATE_EPOCH for the run (default: the commit time).",
)
@click.option(
    "--image", metavar="REF", help="Run in a container from this image (default: [project] image)."
)
@click.option(
    "--dockerfile", type=click.Path(dir_okay=False), help="Build this Dockerfile and run in it."
)
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="K=V", help="Build argument (repeatable)."
)
@click.option(
    "--network", metavar="NAME", help="Container network (default: none, networking off)."
)
@click.option("--memory", metavar="SIZE", help="Container memory limit, e.g. 2g.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Kill after SECONDS.")
@click.option("--host", "on_host", is_flag=True, help="Run on the host even if an image is set.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the summary line.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context,
    label: str | None,
    reason: str | None,
    tags: tuple[str, ...],
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    source_date_epoch: int | None,
    image: str | None,
    dockerfile: str | None,
    build_args: tuple[str, ...],
    network: str | None,
    memory: str | None,
    timeout: float | None,
    on_host: bool,
    quiet: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND and record it:  paperlink run [OPTIONS] -- COMMAND [ARGS]...

    With --image or --dockerfile (or an image set in paperlink.toml) COMMAND runs in a container."""
    if image or dockerfile:
        _prefetch_container_support()
    from paperlink.progress import file_progress
    from paperlink.runs import capture_run

    project, store = _store(ctx)
    image = image or (None if dockerfile or on_host else project.default_image)
    common: dict[str, Any] = dict(
        label=label,
        reason=reason,
        tags=tags,
        inputs=inputs,
        outputs=outputs,
        source_date_epoch=source_date_epoch,
        stdout_sink=sys.stdout.buffer,
        stderr_sink=sys.stderr.buffer,
    )
    with file_progress() as progress:
        if image or dockerfile:
            from paperlink.runs import capture_container_run

            record = capture_container_run(
                project,
                store,
                list(command),
                image=image,
                dockerfile=dockerfile,
                build_args=_key_values(build_args, "--build-arg"),
                network=network,
                memory=memory,
                timeout=timeout,
                on_progress=progress,
                **common,
            )
        else:
            if build_args or network or memory or timeout:
                raise UsageError(
                    "--build-arg, --network, --memory and --timeout apply to container runs only",
                    hint="add --image REF or --dockerfile PATH",
                )
            record = capture_run(project, store, list(command), on_progress=progress, **common)
    outcome = record.outcome
    if not quiet:
        made = ", ".join(o.path for o in record.outputs[:4]) + (
            " …" if len(record.outputs) > 4 else ""
        )
        click.echo(
            f"paperlink: recorded {record.label}: {outcome.status} (exit {outcome.exit_status}), "
            f"{len(record.outputs)} output(s){': ' + made if made else ''}",
            err=True,
        )
        if outcome.error:
            click.echo(f"paperlink: {outcome.error}", err=True)
    ctx.exit(outcome.exit_status or 0)


@cli.command(name="list")
@click.option("--tag", help="Only records with this tag.")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_records(ctx: click.Context, tag: str | None, limit: int | None, as_json: bool) -> None:
    """List records, newest first."""
    from paperlink.report import list_table

    _, store = _store(ctx)
    summaries = store.summaries(tag=tag, limit=limit)
    if as_json:
        # One compact object per line: readable, and json's fast C encoder works only without indent.
        items = [
            json.dumps(s._asdict() | {"tags": list(s.tags)}, ensure_ascii=False) for s in summaries
        ]
        click.echo("[\n" + ",\n".join(items) + "\n]" if items else "[]")
    else:
        click.echo(list_table(summaries))


@cli.command()
@click.argument("label")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the record's canonical JSON (sorted keys, compact).",
)
@click.option("--code-diff", is_flag=True, help="Print the stored diff of uncommitted changes.")
@click.option("--stdout", "stream", flag_value="stdout", help="Print the stored stdout.")
@click.option("--stderr", "stream", flag_value="stderr", help="Print the stored stderr.")
@click.pass_context
def show(
    ctx: click.Context, label: str, as_json: bool, code_diff: bool, stream: str | None
) -> None:
    """Show one record."""
    from paperlink.report import show_text

    _, store = _store(ctx)
    record = store.get(label)
    if as_json:
        click.echo(record.to_json())
    elif code_diff:
        if record.code.diff_sha256:
            sys.stdout.buffer.write(store.get_blob(record.code.diff_sha256))
    elif stream:
        parts = store.get_stream(label, stream)
        sys.stdout.buffer.write(parts.get("head", b""))
        if "tail" in parts:
            sys.stdout.buffer.write(
                b"\n[... paperlink kept only the head and the tail of this stream ...]\n"
            )
            sys.stdout.buffer.write(parts["tail"])
    else:
        click.echo(show_text(record))


@cli.command()
@click.argument("left")
@click.argument("right")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(ctx: click.Context, left: str, right: str, as_json: bool) -> None:
    """Show what differs between two records."""
    from paperlink.compare import diff_records
    from paperlink.report import diff_text

    _, store = _store(ctx)
    result = diff_records(store.get(left), store.get(right))
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(diff_text(result))


@cli.command()
@click.argument("label")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove the tags instead of adding them.")
@click.pass_context
def tag(ctx: click.Context, label: str, tags: tuple[str, ...], remove: bool) -> None:
    """Add (or remove) tags on a record."""
    from paperlink.records import check_label

    _, store = _store(ctx)
    checked = [check_label(t) for t in tags]
    if remove:
        store.remove_tags(label, checked)
    else:
        store.add_tags(label, checked)
    click.echo(f"{label}: {', '.join(store.get(label).tags) or '(no tags)'}")


@cli.command()
@click.argument("label")
@click.argument("text")
@click.pass_context
def reason(ctx: click.Context, label: str, text: str) -> None:
    """Set the reason of a record."""
    _, store = _store(ctx)
    store.set_reason(label, text or None)
    click.echo(f"{label}: reason set")


# -- verify --
@cli.command()
@click.argument("source", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--doi",
    metavar="DOI|URL",
    help="Verify a published archive from its DOI or record URL alone, without the project.",
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
    "--rerun", "rerun", is_flag=True, help="Also re-execute each record and compare byte for byte."
)
@click.option(
    "--image-archive",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Archive of a record's image (paperlink image save), for records whose image is not in the engine.",
)
@click.option(
    "--max-retry-time",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up on an unreachable archive after retrying this long.",
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
    as_json: bool,
) -> None:
    """Check every figure and value SOURCE uses against its record: SOURCE is the .tex manuscript or the
    compiled PDF (its embedded manifest); --doi checks a published archive without the project.

    Exits 0 when everything checked passes, 3 when something does not match, 1 on other errors.
    """
    import os

    from paperlink.report import verify_table

    if download and not check_archive:
        raise click.UsageError("--download goes with --zenodo")
    if doi is not None:
        from paperlink.reviewer import verify_archive

        if source is not None:
            raise click.UsageError("give either a manuscript or --doi, not both")
        token = os.environ.get("ZENODO_TOKEN")
        report = verify_archive(
            doi, zenodo_url=zenodo_url, token=token, max_retry_seconds=max_retry_time
        )
    else:
        if source is None:
            raise click.UsageError("name the manuscript (e.g. paper/main.tex) or give --doi DOI")
        report = _verify_project(
            ctx, source, check_archive, download, zenodo_url, rerun, image_archive, max_retry_time
        )
    if as_json:
        _echo_json(report.to_dict())
    else:
        click.echo(verify_table(report))
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
) -> Any:
    import os

    from paperlink.envcheck import ImageChecker, RerunChecker
    from paperlink.verify import ExtraCheck, verify_manuscript

    project, store = _store(ctx)
    extra: list[ExtraCheck] = [ImageChecker(project, image_archive=image_archive)]
    if rerun:
        extra.append(RerunChecker(project, store, image_archive=image_archive))
    if check_archive:
        from paperlink.archivecheck import ArchiveChecker

        checker = ArchiveChecker(
            zenodo_url=zenodo_url,
            token=os.environ.get("ZENODO_TOKEN"),
            download=download,
            max_retry_seconds=max_retry_time,
        )
        ctx.call_on_close(checker.close)
        extra.append(checker)
    return verify_manuscript(project, store, source, extra_checks=extra)


# -- publish --
@cli.command()
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
    help="API base of a Zenodo-compatible server (default: $PAPERLINK_ZENODO_URL or zenodo.org).",
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
    Token: $ZENODO_TOKEN, or ~/.config/paperlink/zenodo-token (chmod 600).
    """
    import os

    from paperlink.progress import transfer_progress
    from paperlink.publish import (
        PRODUCTION_URL,
        SANDBOX_URL,
        PublishOptions,
        find_token,
        publish_records,
    )
    from paperlink.report import publish_text

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
        include_site=not no_site,
        image_archive=image_archive,
        pdf=pdf,
        to_dir=to_dir,
        dry_run=dry_run,
        max_retry_seconds=max_retry_time,
    )
    if to_dir is None and not dry_run:
        options.token = find_token(os.environ, sandbox=url.rstrip("/") == SANDBOX_URL)
    with transfer_progress(enabled=None if not as_json else False) as progress:
        result = publish_records(project, store, options, on_progress=progress)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(publish_text(result))


# -- viewer and static site --
@cli.command()
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
    """Browse records, figures and their provenance in a web browser (read-only)."""
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


@cli.command()
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
    """Write the viewer's pages to FOLDER as a static site that opens from disk."""
    from paperlink.progress import step_progress
    from paperlink.site import write_site

    project, store = _store(ctx)
    with step_progress("writing the site") as progress:
        summary = write_site(
            store,
            project.root,
            folder,
            tex=tex,
            max_file_bytes=max_file_size << 20,
            on_progress=progress,
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


# -- containers --
def _prefetch_container_support() -> None:
    """Import the docker SDK in a thread while the project and store load: it is the slowest import of
    a container run, and part of its work (reading files) overlaps."""
    import importlib
    import threading

    threading.Thread(
        target=importlib.import_module, args=("paperlink.containers",), daemon=True
    ).start()


def _key_values(items: tuple[str, ...], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"{option} {item!r} is not KEY=VALUE", hint=f"e.g. {option} VERSION=1.2"
            )
        pairs[key] = value
    return pairs


def _engine(ctx: click.Context, project: Any) -> Any:
    from paperlink.containers import connect_engine, engine_url

    engine = connect_engine(engine_url(project.settings) if project is not None else None)
    ctx.call_on_close(engine.close)
    return engine


@cli.group()
def image() -> None:
    """Push, save and load the container image a record ran in."""


@image.command(name="push")
@click.argument("label")
@click.option("--registry", required=True, metavar="HOST[:PORT]", help="Registry to push to.")
@click.option("--repository", metavar="NAME", help="Repository (default: paperlink/<project>).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def image_push(
    ctx: click.Context, label: str, registry: str, repository: str | None, as_json: bool
) -> None:
    """Push the image record LABEL ran in and record its repo digest."""
    from paperlink.imagearchive import push_record_image

    project, store = _store(ctx)
    result = push_record_image(_engine(ctx, project), store, label, registry, repository=repository)
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(f"{label}: pushed {result.image_id} as {result.repo_digest}")


@image.command(name="save")
@click.argument("target", metavar="LABEL|IMAGE")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Archive to write."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def image_save(ctx: click.Context, target: str, output: str, as_json: bool) -> None:
    """Save an image (gzip-compressed 'docker save') and record the archive's sha256."""
    from paperlink.imagearchive import save_record_image

    project, store = _store(ctx)
    result = save_record_image(_engine(ctx, project), store, target, Path(output))
    if as_json:
        _echo_json(result.to_dict())
    else:
        assert result.archive is not None
        click.echo(
            f"saved {result.image_id} to {result.archive.path} "
            f"({result.archive.size} bytes, sha256:{result.archive.sha256})"
        )


@image.command(name="load")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--label", help="Check that the archive holds the image this record ran.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def image_load(ctx: click.Context, archive: str, label: str | None, as_json: bool) -> None:
    """Load an image archive, checking its image ID against a record."""
    from paperlink.imagearchive import load_record_image

    project, store = _store(ctx) if label else (None, None)
    result = load_record_image(_engine(ctx, project), store, Path(archive), label=label)
    if as_json:
        _echo_json(result.to_dict())
    else:
        checked = f" (matches record {label})" if label else ""
        click.echo(f"loaded {', '.join(result.loaded)}{checked}")


@cli.command()
@click.argument("label")
@click.option(
    "--image-archive",
    type=click.Path(dir_okay=False, exists=True),
    help="Load the recorded image from this archive when the engine lacks it.",
)
@click.option("--label", "new_label", help="Label of the new record (default: a timestamp).")
@click.option("--keep", is_flag=True, help="Keep the scratch copy and print where it is.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rerun(
    ctx: click.Context,
    label: str,
    image_archive: str | None,
    new_label: str | None,
    keep: bool,
    as_json: bool,
) -> None:
    """Re-execute record LABEL on a scratch copy and compare its outputs byte for byte.

    Exits 0 only when every recorded output is identical (3 otherwise)."""
    from paperlink.progress import file_progress
    from paperlink.rerun import rerun_record

    project, store = _store(ctx)
    with file_progress() as progress:
        result = rerun_record(
            project,
            store,
            label,
            image_archive=Path(image_archive) if image_archive else None,
            new_label=new_label,
            keep=keep,
            stdout_sink=None if as_json else sys.stdout.buffer,
            stderr_sink=sys.stderr.buffer,
            on_progress=progress,
        )
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        _echo_json(result.to_dict())
    else:
        for item in result.outputs:
            click.echo(f"{item.status:<10} {item.path}")
        outcome = result.record.outcome
        verdict = "all outputs identical" if result.identical else "outputs differ"
        click.echo(
            f"rerun {result.record.label} of {label}: {outcome.status} (exit "
            f"{outcome.exit_status}); {verdict}"
        )
        if result.scratch:
            click.echo(f"scratch copy kept in {result.scratch}")
    ctx.exit(ExitCode.OK if result.identical else ExitCode.MISMATCH)


# -- latex --
@cli.command()
@click.option(
    "--tex",
    "tex",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manuscript: declare only what it uses and check every use.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the generated files (default: the manuscript's folder).",
)
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also gather everything the manuscript needs into DIR and DIR.tar.gz (needs --tex).",
)
@click.option("--base-url", help="Link figures under this URL until published ([latex] base_url).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures and values used as JSON.")
@click.pass_context
def latex(
    ctx: click.Context,
    tex: Path | None,
    out: Path | None,
    bundle: Path | None,
    base_url: str | None,
    as_json: bool,
) -> None:
    """Write paperlink.sty, paperlink-data.tex, paperlink.bib and sumatra.sty next to the manuscript."""
    from paperlink.errors import LatexError, UsageError
    from paperlink.latex import write_latex

    if bundle is not None and tex is None:
        raise UsageError("--bundle needs --tex MANUSCRIPT.tex", hint="name the main .tex file")
    project, store = _store(ctx)
    result = write_latex(project, store, tex=tex, out=out, base=base_url)
    if as_json:
        _echo_json(
            {"figures": result.figures_used(), "problems": [str(p) for p in result.problems]}
        )
    else:
        for path in result.written:
            click.echo(f"wrote {path}")
        click.echo(
            f"{len(result.data.figures)} output(s) and {len(result.data.values)} value(s) declared"
            + (f"; the manuscript uses {len(result.resolved)}" if tex else "")
        )
    if result.problems:
        raise LatexError(
            f"{len(result.problems)} problem(s) in {tex}:\n  "
            + "\n  ".join(map(str, result.problems)),
            hint="fix the references (or re-run the figures), then run 'paperlink latex' again",
        )
    if bundle is not None and tex is not None:
        from paperlink.texbundle import bundle_manuscript

        made = bundle_manuscript(tex, bundle, result)
        if not as_json:
            click.echo(f"bundled {len(made.files)} file(s) into {made.folder} and {made.archive}")


@cli.command()
@click.argument("name")
@click.argument("value")
@click.pass_context
def value(ctx: click.Context, name: str, value: str) -> None:
    """Record a named value of the running run, for \\plvalue{LABEL:NAME} (use inside 'paperlink run')."""
    from paperlink.values import set_value

    project, store = _store(ctx)
    label, path = set_value(project, store, name, value)
    click.echo(f"{label}: {name} = {value} ({project.relative(path)})", err=True)


def main() -> None:
    cli(prog_name="paperlink")
