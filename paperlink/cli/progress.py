"""Progress bars for long work, shown on a terminal only (quiet in pipes and logs), always on stderr.

rich is imported only when a bar is actually shown, to keep the start-up of every command lean. Bars go to
stderr because stdout belongs to the command being run, or to ``--json`` output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from paperlink.core.hashing import ProgressCallback

# Files smaller than this hash in well under a second: no bar.
MIN_BYTES_FOR_BAR = 64 << 20
# Small files go up in a blink; bars for them would only bury the big ones.
MIN_BYTES_FOR_TRANSFER_BAR = 1 << 20


def _shown(enabled: bool | None) -> bool:
    return sys.stderr.isatty() if enabled is None else enabled


def _progress(*columns: str, transient: bool = True) -> Any:
    from rich import progress as rp
    from rich.console import Console

    made = {
        "bar": rp.BarColumn,
        "bytes": rp.DownloadColumn,
        "speed": rp.TransferSpeedColumn,
        "eta": rp.TimeRemainingColumn,
        "count": rp.MofNCompleteColumn,
    }
    return rp.Progress(
        "[progress.description]{task.description}",
        *(made[name]() for name in columns),
        console=Console(stderr=True),
        transient=transient,
    )


@contextmanager
def file_progress(
    enabled: bool | None = None,
) -> Iterator[Callable[[str], ProgressCallback | None]]:
    """Yields a factory: given a file name, a callback ``(done, total)`` drawing its bar, or None."""
    if not _shown(enabled):
        yield lambda name: None
        return
    progress = _progress("bar", "bytes", "speed")
    with progress:

        def factory(name: str) -> ProgressCallback | None:
            task: list[Any] = []

            def update(done: int, total: int) -> None:
                if total < MIN_BYTES_FOR_BAR:
                    return
                if not task:
                    task.append(progress.add_task(f"hashing {name}", total=total))
                progress.update(task[0], completed=done)

            return update

        yield factory


@contextmanager
def transfer_progress(
    enabled: bool | None = None,
) -> Iterator[Callable[[str, int, int], None] | None]:
    """Yields a callback ``(name, done, total)`` drawing one bar per file with bytes/s and ETA, or None
    when not on a terminal."""
    if not _shown(enabled):
        yield None
        return
    progress = _progress("bar", "bytes", "speed", "eta", transient=False)
    tasks: dict[str, Any] = {}
    with progress:

        def update(name: str, done: int, total: int) -> None:
            if total < MIN_BYTES_FOR_TRANSFER_BAR:
                return
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done)
            if done >= total and name.startswith("checking "):
                progress.remove_task(tasks.pop(name))  # checked: make room for the upload bars

        yield update


@contextmanager
def step_progress(
    description: str, enabled: bool | None = None
) -> Iterator[Callable[[int, int], None] | None]:
    """Yields a ``(done, total)`` callback drawing a bar of steps (pages, files), or None off a terminal."""
    if not _shown(enabled):
        yield None
        return
    progress = _progress("bar", "count")
    with progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
