"""paperlink image push|save|load and paperlink rerun, and what container runs need."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import store as _store
from paperlink.errors import ExitCode


# -- containers --
def _engine(ctx: click.Context, project: Any) -> Any:
    from paperlink.containers.engine import connect_engine, engine_url

    engine = connect_engine(engine_url(project.settings) if project is not None else None)
    ctx.call_on_close(engine.close)
    return engine


@click.group()
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
    """Push the image record LABEL ran in and record its repo digest.

    \b
    Example: paperlink image push fig3 --registry registry.example.org
    """
    from paperlink.containers.image_archive import push_record_image

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
    """Save an image (gzip-compressed 'docker save') and record the archive's sha256.

    \b
    Example: paperlink image save fig3 -o environment.tar.gz
    """
    from paperlink.containers.image_archive import save_record_image

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
    """Load an image archive, checking its image ID against a record.

    \b
    Example: paperlink image load environment.tar.gz --label fig3
    """
    from paperlink.containers.image_archive import load_record_image

    project, store = _store(ctx) if label else (None, None)
    result = load_record_image(_engine(ctx, project), store, Path(archive), label=label)
    if as_json:
        _echo_json(result.to_dict())
    else:
        checked = f" (matches record {label})" if label else ""
        click.echo(f"loaded {', '.join(result.loaded)}{checked}")


@image.command(name="inspect")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def image_inspect(file: Path, as_json: bool) -> None:
    """Show what identifies an Apptainer/Singularity image FILE (.sif), without Apptainer.

    \b
    Example: paperlink image inspect env.sif --json
    """
    from paperlink.cli.progress import file_progress
    from paperlink.containers.sif import read_sif

    with file_progress() as progress:
        found = read_sif(file, on_progress=progress(file.name))
    if as_json:
        _echo_json(found.to_dict())
        return
    click.echo(f"{found.path}: SIF {found.version}, {found.arch}, id {found.id}")
    click.echo(f"  sha256:{found.sha256}  {found.size} bytes, created {found.created or 'unknown'}")
    click.echo(f"  signed: {'yes' if found.signed else 'no'}")
    for obj in found.objects:
        extra = ", ".join(
            str(v)
            for v in (obj.partition_fs, obj.partition_type, obj.partition_arch, obj.signature_hash)
            if v
        )
        click.echo(
            f"  {obj.id:>3} group {obj.group} {obj.type:<14} {obj.size:>12} bytes  "
            f"sha256:{obj.sha256}"
            + (f"  ({extra})" if extra else "")
            + (f"  {obj.name}" if obj.name else "")
        )
    if found.labels:
        for key, value in sorted(found.labels.items()):
            click.echo(f"  label {key} = {value}")
    if found.deffile:
        click.echo("  definition file:")
        for line in found.deffile.splitlines():
            click.echo(f"    {line}")


@click.command()
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
    """Re-execute record LABEL on a scratch copy and compare its outputs byte for byte and its values.

    Exits 0 only when the re-execution ends as the original did and every recorded output and value is
    identical (3 otherwise: different, missing, or the re-execution failed). For a run in an Apptainer
    image (SIF) it prints the 'apptainer exec' command that re-executes it in that image instead.

    \b
    Example: paperlink rerun fig3 --keep
    """
    from paperlink.cli.progress import file_progress
    from paperlink.recorder.rerun import rerun_record

    project, store = _store(ctx)
    recorded = store.get(label)
    if recorded.container is not None and recorded.container.sif is not None:
        # Apptainer is the user's to start (it is not on every machine, nor here): say how.
        from paperlink.recorder.sif_environment import rerun_command, rerun_text

        if as_json:
            sif = recorded.container.sif
            _echo_json({"command": rerun_command(recorded, project.root), "sif": sif.path,
                        "sha256": sif.sha256_ref})  # fmt: skip
        else:
            click.echo(rerun_text(recorded, project.root), nl=False)
        return
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
        for value in result.values:
            shown = {"different": f"{value.recorded} -> {value.rerun}", "missing": value.recorded}
            click.echo(f"{value.status:<10} {value.name} = {shown.get(value.status, value.rerun)}")
        outcome = result.record.outcome
        if result.failed:
            click.echo(result.failure())
        else:
            verdict = "all outputs identical" if result.identical else "outputs differ"
            click.echo(
                f"rerun {result.record.label} of {label}: {outcome.status} (exit "
                f"{outcome.exit_status}); {verdict}"
            )
        if result.scratch:
            click.echo(f"scratch copy kept in {result.scratch}")
    ctx.exit(ExitCode.OK if result.identical else ExitCode.MISMATCH)
