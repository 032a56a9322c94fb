"""What a run starts from besides the code: its script, the parameter files and ``key=value`` arguments on
its command line (their values, with secrets redacted) and the declared inputs, with digests; a mixin of
:class:`paperlink.recorder.run.RunCapture`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from paperlink.core.files import FileDigest
from paperlink.errors import (
    CaptureError,
)
from paperlink.recorder.parameter_files import (
    MAX_PARAMETER_FILE_BYTES,
    PARAMETER_SUFFIXES,
    SCRIPT_SUFFIXES,
    typed_value,
)
from paperlink.recorder.platform import (
    is_python,
    version_flag,
)
from paperlink.recorder.runstate import RunState


class InputDetection(RunState):
    """The input side of a run's capture; :class:`RunCapture` provides the state it reads."""

    def _script_and_parameters(self) -> tuple[Path | None, list[Path], dict[str, Any]]:
        """The main script (an interpreter's first file argument, or the command itself when it is a
        script), parameter files named after it, and ``key=value`` arguments."""
        if not self.argv:
            return None, [], {}
        first = Path(self.argv[0])
        rest = self.argv[1:]
        script: Path | None = None
        if first.suffix.lower() in SCRIPT_SUFFIXES and first.is_file():
            script = first
        elif is_python(self.argv[0]) or version_flag(self.argv[0]) is not None:
            for index, arg in enumerate(rest):
                if arg == "-m" or arg == "-c":
                    break
                if not arg.startswith("-") and Path(arg).is_file():
                    script, rest = Path(arg), rest[index + 1 :]
                    break
        files: list[Path] = []
        values: dict[str, Any] = {}
        for arg in rest:
            candidate = Path(arg)
            if candidate.suffix.lower() in PARAMETER_SUFFIXES and candidate.is_file():
                if candidate.stat().st_size <= MAX_PARAMETER_FILE_BYTES:
                    files.append(candidate)
            elif "=" in arg and not arg.startswith("-"):
                key, _, value = arg.partition("=")
                if key.replace(".", "_").replace("-", "_").isidentifier():
                    values[key] = self.redactor.value(key, typed_value(value))
        return script, files, values

    def _file_digest(self, path: Path, *, role: str | None = None) -> FileDigest:
        rel = self.project.relative(path)
        if path.is_symlink() and not path.exists():
            return FileDigest.at(rel, kind="symlink", target=os.readlink(path), role=role)
        if path.is_dir():
            raise CaptureError(
                f"{rel} is a folder; name the files in it", hint="use one --input per file"
            )
        found = self.cache.digests([path])[path]
        if isinstance(found, CaptureError):
            return FileDigest.at(rel, kind="unreadable", error=found.message, role=role)
        return FileDigest.at(
            rel,
            size=found.size,
            sha256=found.sha256,
            md5=found.md5,
            sha1=found.sha1,
            role=role,
        )
