"""What the command is: the program it starts (found on PATH as the command's environment has it), whether it
is an Apptainer image run, and, in the background while the run goes on, that program's version and the
Python packages of its interpreter (cached by interpreter)."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from paperlink.core.programs import which
from paperlink.core.store import RecordStore
from paperlink.recorder.platform import (
    ToolProbe,
    is_python,
)


class ToolCache(Protocol):
    """Where answers of slow tools are kept (the record store's tool cache)."""

    def cache_get(self, key: str) -> str | None: ...

    def cache_put(self, key: str, value: str) -> None: ...


def maybe_sif(argv: list[str]) -> bool:
    """Whether the run may use an Apptainer/Singularity image: a cheap test before importing sif_environment."""
    wrapped = bool(argv) and Path(argv[0]).name in ("apptainer", "singularity")
    return wrapped or any(os.environ.get(f"{n}_CONTAINER") for n in ("APPTAINER", "SINGULARITY"))


def resolve_program(argv: list[str], environ: Mapping[str, str]) -> str | None:
    if not argv:
        return None
    if os.sep in argv[0]:
        # A path, not a name to look up: executing it reports "not executable" (126) if it is not.
        return os.path.abspath(argv[0]) if Path(argv[0]).exists() else None
    return which(argv[0], path=environ.get("PATH"))


class Probe:
    """Finds the interpreter's version and packages in a thread while the run goes on, through the cache."""

    def __init__(
        self, store: RecordStore, executable: str | None, environ: Mapping[str, str]
    ) -> None:
        self.executable = executable
        python = (
            executable
            if executable and is_python(executable)
            else which("python3", path=environ.get("PATH"))
        )
        self._version_probe = ToolProbe(executable, environ) if executable else None
        self._package_probe = ToolProbe(python or sys.executable, environ)
        self._store = store
        keys = self._version_probe.cache_keys() if self._version_probe else None
        self._version_key = keys[0] if keys else None
        # For a Python command both probes ask the same interpreter: its keys are computed once.
        same = keys is not None and python == executable
        self._packages_key = keys[1] if same and keys else self._package_probe.cache_keys()[1]
        cached = store.cache_get_many(k for k in (self._version_key, self._packages_key) if k)
        self._version = cached.get(self._version_key) if self._version_key else None
        packages = cached.get(self._packages_key)
        self._packages: dict[str, str] | None = json.loads(packages) if packages else None
        self._thread: threading.Thread | None = None
        self._found_version: str | None = None

    def start(self) -> None:
        need_version = self._version_probe is not None and self._version is None
        if need_version or self._packages is None:
            self._thread = threading.Thread(target=self._work, name="paperlink-probe", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        if self._version_probe is not None and self._version is None:
            self._found_version = self._version_probe.version() or ""
        if self._packages is None:
            self._packages = self._package_probe.packages()

    def result(self) -> tuple[str | None, dict[str, str]]:
        if self._thread is not None:
            self._thread.join()
            if self._found_version is not None:
                self._version = self._found_version
        return (self._version or None), dict(self._packages or {})

    def remember(self) -> None:
        """Cache what the thread found (in the caller's transaction)."""
        if self._thread is None:
            return
        if self._found_version is not None and self._version_key:
            self._store.cache_put(self._version_key, self._found_version)
        if self._packages is not None:
            self._store.cache_put(self._packages_key, json.dumps(self._packages))
