"""Commands on the records themselves: init, run, list, show, diff, tag, reason."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from paperlink.cli.common import Settings
from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import store as _store
from paperlink.cli.run_command import click_options, run_command


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
# A plain `paperlink run` does not come here: cli.entry hands it to run_command.quick_run, without click.
@click.command(context_settings={"allow_interspersed_args": False})
@click_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, /, command: tuple[str, ...], **values: Any) -> None:
    """Run COMMAND and record it:  paperlink run [OPTIONS] -- COMMAND [ARGS]...

    OPTIONS are paperlink's; COMMAND starts after '--' (or at the first argument that is not an option).
    With --image or --dockerfile (or an image set in paperlink.toml) COMMAND runs in a container.

    \b
    Example: paperlink run --label fig3 --reason 'final parameters' -- python3 plot.py params.json
    """
    ctx.exit(run_command(ctx.obj, values, list(command)))


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
