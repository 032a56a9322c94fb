"""Progress bars for long work, shown on a terminal only (quiet in pipes and logs).

rich is imported only when a bar is actually shown, to keep the start-up of every command lean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from paperlink.hashing import ProgressCallback

# Files smaller than this hash in well under a second: no bar.
MIN_BYTES_FOR_BAR = 64 << 20


@contextmanager
def file_progress(
    enabled: bool | None = None,
) -> Iterator[Callable[[str], ProgressCallback | None]]:
    """Yields a factory: given a file name, a callback ``(done, total)`` drawing its bar, or None."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    progress: Any = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),  # stdout belongs to the command being run
        transient=True,
    )
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
def step_progress(
    description: str, enabled: bool | None = None
) -> Iterator[Callable[[int, int], None] | None]:
    """Yields a ``(done, total)`` callback drawing a bar of steps (pages, files), or None off a terminal."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    progress: Any = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
