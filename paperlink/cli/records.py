"""Commands on the records themselves: init, run, list, show, diff, tag, reason."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from paperlink.cli.common import Settings, key_values
from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import store as _store
from paperlink.errors import UsageError


@click.command()
@click.option("--name", help="Project name (default: the folder's name).")
@click.option("--store", "store_url", metavar="PATH|URL", help="Where the record store lives.")
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="DIR",
    help="Output folder (repeatable; default: figures, results).",
)
@click.option("--commit", is_flag=True, help="Commit paperlink.toml to git (and nothing else).")
@click.pass_context
def init(
    ctx: click.Context,
    name: str | None,
    store_url: str | None,
    outputs: tuple[str, ...],
    commit: bool,
) -> None:
    """Start a paperlink project in the current folder.

    \b
    Example: paperlink init --name my-study --commit
    """
    from paperlink.core.project import init_project, settings_untracked

    settings: Settings = ctx.obj
    root = Path(settings.project_dir or Path.cwd()).resolve()
    project = init_project(root, name=name, store=store_url, outputs=list(outputs), commit=commit)
    click.echo(f"Initialised paperlink project '{project.name}' in {root}")
    from paperlink.core.store import display_location

    click.echo(f"  records: {display_location(project.store_path)}")
    click.echo(f"  outputs: {', '.join(project.output_dirs)}")
    if commit:
        click.echo("  committed paperlink.toml")
    elif settings_untracked(project):
        click.echo(
            "Commit paperlink.toml before the first run: while git does not track it, every record "
            "is marked dirty and keeps its diff.\n"
            "  git add paperlink.toml && git commit -m 'add paperlink.toml'   "
            "(or next time: paperlink init --commit)"
        )
    click.echo("Record a run with: paperlink run -- python3 analysis.py")


# Options before the command are paperlink's own (an unknown one is a usage error, so that a typo such as
# --lable is not run as the command); the command starts at '--' or at the first non-option argument.
@click.command(context_settings={"allow_interspersed_args": False})
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
@click.option(
    "--trace/--no-trace",
    default=None,
    help="Trace the command with strace: exactly the files it read and wrote (default: [project] trace).",
)
@click.option(
    "--sif",
    type=click.Path(dir_okay=False),
    help="Record this Apptainer/Singularity image (SIF) as the run's environment (the command runs "
    "as given; 'apptainer exec IMAGE …' commands and runs inside Apptainer are found without it).",
)
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
    trace: bool | None,
    sif: str | None,
    quiet: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND and record it:  paperlink run [OPTIONS] -- COMMAND [ARGS]...

    OPTIONS are paperlink's; COMMAND starts after '--' (or at the first argument that is not an option).
    With --image or --dockerfile (or an image set in paperlink.toml) COMMAND runs in a container.

    \b
    Example: paperlink run --label fig3 --reason 'final parameters' -- python3 plot.py params.json
    """
    if image or dockerfile:
        from paperlink.cli.containers import prefetch_container_support

        prefetch_container_support()
    from paperlink.cli.progress import file_progress
    from paperlink.recorder.host_run import capture_run
    from paperlink.recorder.options import ContainerOptions, RunOptions

    project, store = _store(ctx)
    if sif and (image or dockerfile):
        raise UsageError(
            "--sif names an Apptainer image; --image and --dockerfile run in a Docker one",
            hint="give one of them",
        )
    image = image or (None if dockerfile or on_host or sif else project.default_image)

    def warn_untracked(record: Any) -> None:
        from paperlink.core.project import untracked_warning

        message = untracked_warning(project, record)
        if message:
            click.echo(f"paperlink: warning: {message}", err=True)

    if trace and (image or dockerfile):
        raise UsageError(
            "--trace traces a command on the host, not in a container",
            hint="add --host to run it on the host, or leave out --trace",
        )
    if not (image or dockerfile) and (build_args or network or memory or timeout):
        raise UsageError(
            "--build-arg, --network, --memory and --timeout apply to container runs only",
            hint="add --image REF or --dockerfile PATH",
        )
    with file_progress() as progress:
        options = RunOptions(
            label=label,
            reason=reason,
            tags=tags,
            inputs=inputs,
            outputs=outputs,
            source_date_epoch=source_date_epoch,
            stdout_sink=sys.stdout.buffer,
            stderr_sink=sys.stderr.buffer,
            on_progress=progress,
            on_start=warn_untracked,
            sif=sif,
        )
        if image or dockerfile:
            from paperlink.recorder.container_run import capture_container_run

            container = ContainerOptions(
                image=image,
                dockerfile=dockerfile,
                build_args=key_values(build_args, "--build-arg"),
                network=network,
                memory=memory,
                timeout=timeout,
            )
            record = capture_container_run(project, store, list(command), container, options)
        else:
            options.trace = project.trace if trace is None else trace
            record = capture_run(project, store, list(command), options)
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
    from paperlink.recorder.run import run_warnings

    for warning in run_warnings(record):
        click.echo(f"paperlink: warning: {warning}", err=True)
    ctx.exit(outcome.exit_status or 0)


@click.command(name="list")
@click.option("--tag", help="Only records with this tag.")
@click.option(
    "--job",
    metavar="ID",
    help="Only records made in this Slurm job (ID, an array task ID_TASK or a step ID.STEP).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many (newest first).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "latex", "shell"]),
    default="table",
    show_default=True,
    help="table, json, csv, latex (a longtable) or shell (the 'paperlink rerun' commands).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as --format json).")
@click.pass_context
def list_records(
    ctx: click.Context,
    tag: str | None,
    job: str | None,
    limit: int | None,
    fmt: str,
    as_json: bool,
) -> None:
    """List records, newest first.

    \b
    Example: paperlink list --tag accepted --format csv
    """
    from paperlink.cli.listing import render_list

    project, store = _store(ctx)
    summaries = store.summaries(tag=tag, limit=limit, job=job)
    click.echo(render_list(summaries, "json" if as_json else fmt, root=project.root))


@click.command()
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
@click.option("--packages", is_flag=True, help="List every package of the environment, by manager.")
@click.pass_context
def show(
    ctx: click.Context,
    label: str,
    as_json: bool,
    code_diff: bool,
    stream: str | None,
    packages: bool,
) -> None:
    """Show one record.

    \b
    Example: paperlink show fig3 --json
    """
    from paperlink.cli.views import show_text
    from paperlink.core.envrecipes import environment_of

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
        click.echo(show_text(record, environment_of(store, record), packages=packages))


@click.command()
@click.argument("left")
@click.argument("right")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(ctx: click.Context, left: str, right: str, as_json: bool) -> None:
    """Show what differs between two records.

    \b
    Example: paperlink diff fig3 fig3-2
    """
    from paperlink.cli.views import diff_text
    from paperlink.core.compare import diff_records
    from paperlink.core.envrecipes import environment_of

    _, store = _store(ctx)
    a, b = store.get(left), store.get(right)
    result = diff_records(a, b, environment_of(store, a), environment_of(store, b))
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(diff_text(result))


@click.command()
@click.argument("label")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove the tags instead of adding them.")
@click.pass_context
def tag(ctx: click.Context, label: str, tags: tuple[str, ...], remove: bool) -> None:
    """Add (or remove) tags on a record.

    \b
    Example: paperlink tag fig3 accepted
    """
    import os

    from paperlink.core.records import check_label
    from paperlink.core.redaction import Redactor

    _, store = _store(ctx)
    redactor = Redactor.from_environ(os.environ)
    checked = [check_label(redactor.text(t)) for t in tags]
    if remove:
        store.remove_tags(label, checked)
    else:
        store.add_tags(label, checked)
    click.echo(f"{label}: {', '.join(store.get(label).tags) or '(no tags)'}")


@click.command()
@click.argument("label")
@click.argument("text")
@click.pass_context
def reason(ctx: click.Context, label: str, text: str) -> None:
    """Set the reason of a record.

    \b
    Example: paperlink reason fig3 'the version in the paper'
    """
    import os

    from paperlink.core.redaction import Redactor

    _, store = _store(ctx)
    store.set_reason(label, Redactor.from_environ(os.environ).text(text) or None)
    click.echo(f"{label}: reason set")
