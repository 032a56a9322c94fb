"""``paperlink run``: its options, declared once for click (which gives the help and the usage errors) and
for a small parser that starts a run without importing click, and the command's body that both call.

Every millisecond before the command starts and after it ends is capture overhead, and click with the
command table costs a Python start about 40 ms; so the entry point hands ``run`` to :func:`quick_run`
when the arguments parse plainly. Anything else (``--help``, an unknown or malformed option, no command)
goes to click, whose messages then apply: the parser never has to say why it refused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paperlink.cli.settings import Settings, key_values, open_project_store, report_error, say
from paperlink.core.model import model
from paperlink.errors import PaperlinkError, UsageError

TEXT, INT, SECONDS, FILE, PATH, FLAG, SWITCH = (
    "text",
    "int",
    "seconds",
    "file",
    "path",
    "flag",
    "switch",
)


@model(frozen=True)
class RunOption:
    """One option of ``paperlink run``. ``kind`` is how its value is read: TEXT, INT, SECONDS (a number
    above 0), PATH, FILE (a path that is not a directory), FLAG (no value) or SWITCH (``--x/--no-x``)."""

    names: tuple[str, ...]
    dest: str
    help: str
    kind: str = TEXT
    multiple: bool = False
    metavar: str | None = None


RUN_OPTIONS = (
    RunOption(("--label",), "label", "Record label (default: a UTC timestamp, YYYYMMDD-HHMMSS)."),
    RunOption(("--reason",), "reason", "Why this run was made."),
    RunOption(("--tag",), "tags", "Tag (repeatable).", multiple=True),
    RunOption(("--input",), "inputs", "Input file (repeatable).", PATH, multiple=True),
    RunOption(
        ("--output",),
        "outputs",
        "Output file or folder outside the output folders (repeatable).",
        PATH,
        multiple=True,
    ),
    RunOption(
        ("--source-date-epoch",),
        "source_date_epoch",
        "SOURCE_DATE_EPOCH for the run (default: the commit time).",
        INT,
    ),
    RunOption(
        ("--image",),
        "image",
        "Run in a container from this image (default: [project] image).",
        metavar="REF",
    ),
    RunOption(("--dockerfile",), "dockerfile", "Build this Dockerfile and run in it.", FILE),
    RunOption(
        ("--build-arg",), "build_args", "Build argument (repeatable).", multiple=True, metavar="K=V"
    ),
    RunOption(
        ("--network",),
        "network",
        "Container network (default: none, networking off).",
        metavar="NAME",
    ),
    RunOption(("--memory",), "memory", "Container memory limit, e.g. 2g.", metavar="SIZE"),
    RunOption(("--timeout",), "timeout", "Kill after SECONDS.", SECONDS),
    RunOption(("--host",), "on_host", "Run on the host even if an image is set.", FLAG),
    RunOption(
        ("--trace", "--no-trace"),
        "trace",
        "Trace the command with strace: exactly the files it read and wrote (default: [project] trace).",
        SWITCH,
    ),
    RunOption(
        ("--sif",),
        "sif",
        "Record this Apptainer/Singularity image (SIF) as the run's environment (the command runs "
        "as given; 'apptainer exec IMAGE …' commands and runs inside Apptainer are found without it).",
        FILE,
    ),
    RunOption(("-q", "--quiet"), "quiet", "Do not print the summary line.", FLAG),
)

# The group's own options, which may come before 'run' (see paperlink.cli.main).
_GROUP_VALUES = {"--store": "store", "-C": "project_dir", "--project": "project_dir"}


def defaults() -> dict[str, Any]:
    """Every option's value when it is not given."""
    return {o.dest: () if o.multiple else (False if o.kind == FLAG else None) for o in RUN_OPTIONS}


def parse_run_arguments(args: Sequence[str]) -> tuple[dict[str, Any], list[str]] | None:
    """The options and the command of ``paperlink run ARGS``, read as click reads them (options end at
    '--' or at the first argument that is not one), or None when click should read them."""
    by_name = {name: o for o in RUN_OPTIONS for name in o.names}
    values = defaults()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, inline = arg.partition("=")
        option = by_name.get(name)
        if option is None:
            return None
        if option.kind in (FLAG, SWITCH):
            if eq:
                return None
            values[option.dest] = True if option.kind == FLAG else name == option.names[0]
            i += 1
            continue
        if eq:
            raw = inline
            i += 1
        elif i + 1 < len(args):
            raw = args[i + 1]
            i += 2
        else:
            return None
        value = _convert(option, raw)
        if value is None:
            return None
        values[option.dest] = (*values[option.dest], value) if option.multiple else value
    command = list(args[i:])
    return (values, command) if command else None


def _convert(option: RunOption, raw: str) -> Any:
    if option.kind == INT:
        try:
            return int(raw)
        except ValueError:
            return None
    if option.kind == SECONDS:
        try:
            seconds = float(raw)
        except ValueError:
            return None
        return seconds if seconds > 0 else None
    if option.kind == FILE and Path(raw).is_dir():
        return None  # click says it is a directory
    return raw


def quick_run(argv: Sequence[str]) -> int | None:
    """``paperlink [GROUP OPTIONS] run …`` without click: the exit status, or None when ``argv`` is not a
    plain run (then click takes it)."""
    settings = Settings(
        store=os.environ.get("PAPERLINK_STORE") or None, project_dir=None, debug=False
    )
    i = 0
    while i < len(argv) and argv[i] != "run":
        name, eq, inline = argv[i].partition("=")
        if name == "--debug" and not eq:
            settings.debug = True
            i += 1
        elif name in _GROUP_VALUES and (eq or i + 1 < len(argv)):
            setattr(settings, _GROUP_VALUES[name], inline if eq else argv[i + 1])
            i += 1 if eq else 2
        else:
            return None
    if i == len(argv):
        return None
    parsed = parse_run_arguments(argv[i + 1 :])
    if parsed is None:
        return None
    values, command = parsed
    try:
        return run_command(settings, values, command)
    except (PaperlinkError, KeyboardInterrupt) as exc:
        return report_error(exc, debug=settings.debug)


def run_command(settings: Settings, values: dict[str, Any], command: list[str]) -> int:
    """Run ``command`` as ``paperlink run`` with these option values; the exit status to end with (the
    command's own). Raises :class:`PaperlinkError` for what the user must change."""
    image, dockerfile, sif = values["image"], values["dockerfile"], values["sif"]
    if sif and (image or dockerfile):
        raise UsageError(
            "--sif names an Apptainer image; --image and --dockerfile run in a Docker one",
            hint="give one of them",
        )
    if image or dockerfile:
        prefetch_container_support()
    project, store = open_project_store(settings)
    try:
        image = image or (None if dockerfile or values["on_host"] or sif else project.default_image)
        container = bool(image or dockerfile)
        if values["trace"] and container:
            raise UsageError(
                "--trace traces a command on the host, not in a container",
                hint="add --host to run it on the host, or leave out --trace",
            )
        extras = values["build_args"] or values["network"] or values["memory"] or values["timeout"]
        if not container and extras:
            raise UsageError(
                "--build-arg, --network, --memory and --timeout apply to container runs only",
                hint="add --image REF or --dockerfile PATH",
            )
        record = _capture(project, store, values, command, image)
    finally:
        store.close()
    outcome = record.outcome
    if not values["quiet"]:
        made = ", ".join(o.path for o in record.outputs[:4]) + (
            " …" if len(record.outputs) > 4 else ""
        )
        say(
            f"paperlink: recorded {record.label}: {outcome.status} (exit {outcome.exit_status}), "
            f"{len(record.outputs)} output(s){': ' + made if made else ''}"
        )
        if outcome.error:
            say(f"paperlink: {outcome.error}")
    from paperlink.recorder.run import run_warnings

    for warning in run_warnings(record):
        say(f"paperlink: warning: {warning}")
    return int(outcome.exit_status or 0)


def _capture(
    project: Any, store: Any, values: dict[str, Any], command: list[str], image: str | None
) -> Any:
    from paperlink.cli.progress import file_progress
    from paperlink.recorder.options import RunOptions

    def warn_untracked(record: Any) -> None:
        from paperlink.core.project import untracked_warning

        message = untracked_warning(project, record)
        if message:
            say(f"paperlink: warning: {message}")

    with file_progress() as progress:
        options = RunOptions(
            label=values["label"],
            reason=values["reason"],
            tags=values["tags"],
            inputs=values["inputs"],
            outputs=values["outputs"],
            source_date_epoch=values["source_date_epoch"],
            stdout_sink=sys.stdout.buffer,
            stderr_sink=sys.stderr.buffer,
            on_progress=progress,
            on_start=warn_untracked,
            sif=values["sif"],
        )
        if image or values["dockerfile"]:
            return _capture_in_container(project, store, values, command, image, options)
        from paperlink.recorder.host_run import capture_run

        options.trace = project.trace if values["trace"] is None else values["trace"]
        return capture_run(project, store, command, options)


def _capture_in_container(
    project: Any,
    store: Any,
    values: dict[str, Any],
    command: list[str],
    image: str | None,
    options: Any,
) -> Any:
    from paperlink.recorder.container_run import capture_container_run
    from paperlink.recorder.options import ContainerOptions

    container = ContainerOptions(
        image=image,
        dockerfile=values["dockerfile"],
        build_args=key_values(values["build_args"], "--build-arg"),
        network=values["network"],
        memory=values["memory"],
        timeout=values["timeout"],
    )
    return capture_container_run(project, store, command, container, options)


def prefetch_container_support() -> None:
    """Import the docker SDK in a thread while the project and store load: it is the slowest import of
    a container run, and part of its work (reading files) overlaps."""
    import importlib
    import threading

    threading.Thread(
        target=importlib.import_module, args=("paperlink.containers.engine",), daemon=True
    ).start()


def click_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates the click command ``run`` with every option of :data:`RUN_OPTIONS`."""
    import click

    kinds: dict[str, dict[str, Any]] = {
        TEXT: {},
        INT: {"type": int},
        SECONDS: {"type": click.FloatRange(min=0, min_open=True)},
        PATH: {"type": click.Path()},
        FILE: {"type": click.Path(dir_okay=False)},
        FLAG: {"is_flag": True},
        SWITCH: {"default": None},
    }
    for option in reversed(RUN_OPTIONS):
        names = ("/".join(option.names),) if option.kind == SWITCH else option.names
        extra: dict[str, Any] = {"multiple": True} if option.multiple else {}
        if option.metavar:
            extra["metavar"] = option.metavar
        command = click.option(
            *names, option.dest, help=option.help, **kinds[option.kind], **extra
        )(command)
    return command
