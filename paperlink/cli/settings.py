"""What every command shares and that needs no click: the group's settings, finding the project, opening its
store, and reporting a :class:`PaperlinkError` (``paperlink run`` starts without click, see
:mod:`paperlink.cli.run_command`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from paperlink.core.model import model
from paperlink.errors import ExitCode, PaperlinkError, UsageError

if TYPE_CHECKING:
    from paperlink.core.config import Project
    from paperlink.core.store import RecordStore


@model
class Settings:
    """The options given before the command: ``--store``, ``-C/--project`` and ``--debug``."""

    store: str | None
    project_dir: str | None
    debug: bool


def find_settings_project(settings: Settings) -> Project:
    """The project the command works in, with the store ``--store`` names, if any."""
    from paperlink.core.config import find_project, store_path_from_url

    project = find_project(settings.project_dir)
    if settings.store:
        project.store = str(store_path_from_url(settings.store, Path.cwd()))
    return project


def open_project_store(settings: Settings) -> tuple[Project, RecordStore]:
    """The project and its store, opened (the caller closes it)."""
    from paperlink.core.store import RecordStore

    project = find_settings_project(settings)
    return project, RecordStore(project.store_path)


def say(message: str) -> None:
    """A line for the user on stderr (stdout belongs to the command being run, or to --json)."""
    print(message, file=sys.stderr, flush=True)


def report_error(exc: BaseException, *, debug: bool) -> int:
    """Say what went wrong (``Error: …``, with the traceback under --debug) and return the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        say("Interrupted.")
        return int(ExitCode.INTERRUPTED)
    if debug:
        import traceback

        traceback.print_exception(exc)
    say(f"Error: {exc}")
    return exc.exit_code if isinstance(exc, PaperlinkError) else int(ExitCode.ERROR)


def key_values(items: tuple[str, ...], option: str) -> dict[str, str]:
    """``("K=V", …)`` from a repeatable option → a dict; anything else is a usage error."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"{option} {item!r} is not KEY=VALUE", hint=f"e.g. {option} VERSION=1.2"
            )
        pairs[key] = value
    return pairs
