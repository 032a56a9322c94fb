"""The state one run's capture keeps between ``begin`` and ``finish``, as the parts of
:class:`paperlink.recorder.run.RunCapture` (inputs, outputs, finishing) read it. ``RunCapture`` sets it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paperlink.core.hashing import Digests

if TYPE_CHECKING:
    from pathlib import Path

    from paperlink.core.config import Project
    from paperlink.core.filestate import DigestCache, FileState
    from paperlink.core.redaction import Redactor
    from paperlink.core.store import RecordStore
    from paperlink.recorder.probe import Probe
    from paperlink.recorder.tracing import Tracer


class RunState:
    project: Project
    store: RecordStore
    argv: list[str]
    environ: dict[str, str]
    redactor: Redactor
    cache: DigestCache
    tracer: Tracer | None
    _before: dict[str, FileState]
    _skip: set[str]
    _doubt: dict[str, str]
    _probe: Probe | None
    _running_at_start: set[str]
    _rows_at_start: set[str]
    # Tool-cache entries learnt during the run, written in its last transaction.
    _cache_rows: list[tuple[str, str]]

    def _sha256(self, path: Path) -> str | None:
        found = self.cache.digests([path])[path]
        return found.sha256 if isinstance(found, Digests) else None

    def _absolute(self, rel: str) -> str:
        return rel if rel.startswith("/") else f"{self.project.root}/{rel}"
