"""The Python API: record work done inside a Python process, with the same records as ``paperlink run``.

``with paperlink.record(...) as rec:`` records the block; ``@paperlink.capture(...)`` records each call of
a function, with its arguments as parameters. Files created under the output folders are found as for a
command; ``rec.add_output`` and ``rec.add_input`` name others.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.records import STATUS_FAILED, STATUS_FINISHED, STATUS_INTERRUPTED, Record
from paperlink.core.store import RecordStore
from paperlink.errors import CaptureError
from paperlink.recorder.options import RunOptions
from paperlink.recorder.run import RunCapture

F = TypeVar("F", bound=Callable[..., Any])


class RunHandle:
    """What the ``with paperlink.record()`` block gets: add files and parameters, read the label."""

    def __init__(self, run: RunCapture, record: Record) -> None:
        self._run = run
        self.record = record
        self._outputs: list[Path] = []

    @property
    def label(self) -> str:
        return self.record.label

    def add_output(self, path: str | os.PathLike[str]) -> None:
        """Count ``path`` (a file or a folder of files) as an output even outside the output folders."""
        self._outputs.append(Path(path))

    def add_input(self, path: str | os.PathLike[str]) -> None:
        """Record ``path`` as an input, with its digests as they are now."""
        item = self._run._file_digest(Path(path))
        if item.kind == "unreadable":
            raise CaptureError(item.error or f"cannot read {path}")
        self.record.inputs.append(item)

    def set_parameter(self, name: str, value: Any) -> None:
        """Record a parameter; a secret-looking name or value is redacted as for ``paperlink run``."""
        self.record.parameters[name] = self._run.redactor.value(name, value)

    def add_parameters(self, values: dict[str, Any]) -> None:
        self.record.parameters.update(self._run.redactor.mapping(values))

    @property
    def outputs(self) -> list[FileDigest]:
        return self.record.outputs


@contextlib.contextmanager
def record(
    *,
    reason: str | None = None,
    label: str | None = None,
    tags: Iterable[str] = (),
    inputs: Iterable[str | os.PathLike[str]] = (),
    outputs: Iterable[str | os.PathLike[str]] = (),
    project_dir: str | os.PathLike[str] | None = None,
) -> Iterator[RunHandle]:
    """Record the enclosed block as one run of the project found above ``project_dir`` (default: here).

    An exception in the block marks the record failed (``KeyboardInterrupt``: interrupted) and propagates.
    """
    project = find_project(project_dir)
    with RecordStore(project.store_path) as store:
        options = RunOptions(
            label=label,
            reason=reason,
            tags=list(tags),
            inputs=list(inputs),
            outputs=list(outputs),
            kind="python",
        )
        run = RunCapture(
            project, store, [sys.executable, *sys.argv], options, executable=sys.executable
        )
        rec = run.begin()
        handle = RunHandle(run, rec)
        try:
            yield handle
        except KeyboardInterrupt:
            run.finish(exit_status=130, status=STATUS_INTERRUPTED, extra_outputs=handle._outputs)
            raise
        except BaseException as exc:
            run.finish(
                exit_status=1,
                status=STATUS_FAILED,
                error=f"{type(exc).__name__}: {exc}",
                extra_outputs=handle._outputs,
            )
            raise
        handle.record = run.finish(
            exit_status=0, status=STATUS_FINISHED, extra_outputs=handle._outputs
        )


def capture(
    func: F | None = None,
    *,
    reason: str | None = None,
    tags: Iterable[str] = (),
    project_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """Decorator: each call of the function is recorded, its bound arguments stored as parameters.

    Usable bare (``@paperlink.capture``) or with options (``@paperlink.capture(reason=…)``).
    """

    def decorate(target: F) -> F:
        signature = inspect.signature(target)

        @functools.wraps(target)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with record(reason=reason, tags=tags, project_dir=project_dir) as rec:
                rec.set_parameter("function", f"{target.__module__}.{target.__qualname__}")
                for name, value in bound.arguments.items():
                    rec.set_parameter(name, _jsonable(value))
                return target(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)
