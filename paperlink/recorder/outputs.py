"""Which files a run made: what changed in the output folders between the snapshots (or what the trace says
the command wrote), with digests, as a mixin of :class:`paperlink.recorder.run.RunCapture`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from paperlink.core.files import FileDigest
from paperlink.core.filestate import (
    FileState,
    changed_paths,
    entry_kind,
    snapshot_tree,
)
from paperlink.core.hashing import Digests
from paperlink.core.records import Record
from paperlink.errors import (
    CaptureError,
)
from paperlink.recorder.runstate import RunState

ALWAYS_SKIPPED = (".git", ".paperlink")


class OutputDetection(RunState):
    """The output side of a run's capture; :class:`RunCapture` provides the state it reads."""

    def _changed_outputs(self) -> list[str]:
        """Files created or changed in the output folders since :meth:`begin`."""
        root = self.project.root
        after = without_skipped(
            snapshot_tree(root, self.project.output_dirs, self._skip), self.project.output_dirs
        )
        # Doubtful files that look unchanged are hashed again, all in one call to the cache.
        again = [p for p in self._doubt if self._before.get(p) == after.get(p) and p in after]
        now = self.cache.digests([root / p for p in again])

        def rehash(rel: str) -> str | None:
            found = now.get(root / rel)
            return found.sha256 if isinstance(found, Digests) else None

        return changed_paths(self._before, after, self._doubt, rehash)

    def _traced_outputs(self, record: Record) -> list[str]:
        """The files the traced command wrote (its outputs); the project files it read become inputs."""
        from paperlink.recorder.tracefiles import sort_files, summarise_system_cached, utf8_only

        assert self.tracer is not None and record.trace is not None
        info = record.trace
        trace = self.tracer.collect(str(Path.cwd()))
        if not trace.started:
            info.error = "strace recorded nothing: the command was not traced; only --output files are outputs"
            return []
        home = self.environ.get("HOME")
        caches = [self.environ.get("XDG_CACHE_HOME") or (f"{home}/.cache" if home else "")]
        files = sort_files(trace, self.project.root, skip=ALWAYS_SKIPPED,
                           cache_dirs=[c for c in caches if c])  # fmt: skip
        left_out: list[str] = []
        named = files.outputs  # a name that is not UTF-8 is kept, as FileDigest.at encodes it
        info.processes = trace.processes
        info.executed = utf8_only(list(trace.executed), left_out, "executed")
        info.deleted = [
            self.project.relative(p) for p in utf8_only(files.deleted, left_out, "deleted")
        ]
        system = utf8_only(files.system, left_out, "read outside the project")
        summary = summarise_system_cached(self.store, system, self._cache_rows)
        info.system_files = summary.files
        info.debian_packages = summary.debian_packages
        info.python_modules = summary.python_modules
        info.other_folders = summary.other_folders
        known = {item.path for item in record.inputs}
        if record.code.main_script is not None:
            known.add(record.code.main_script.path)
        reads = [Path(p) for p in files.inputs if self.project.relative(p) not in known]
        changed = set(files.changed_inputs)
        record.inputs.extend(self._read_digests(reads, changed))
        info.left_out = left_out
        return [self.project.relative(p) for p in named]

    def _read_digests(self, paths: list[Path], changed: set[str]) -> list[FileDigest]:
        found = self.cache.digests([p for p in paths if p.is_file() and str(p) not in changed])
        items = []
        for path in paths:
            rel = self.project.relative(path)
            digests = found.get(path)
            if str(path) in changed:
                items.append(FileDigest.at(rel, kind="overwritten", role="read",
                                           error="the run wrote it after reading it: what it read is gone"))  # fmt: skip
            elif digests is None:
                items.append(FileDigest.at(rel, kind="missing", role="read",
                                           error="removed after the run read it"))  # fmt: skip
            else:
                items.append(digest_item(rel, digests, role="read"))
        return items

    def _output_digests(self, rels: list[str]) -> list[FileDigest]:
        """Digests of the outputs, all files in one call to the cache (one query, hashed in parallel)."""
        items: dict[str, FileDigest] = {}
        files: dict[str, Path] = {}
        for rel in rels:
            path = self._absolute(rel)
            try:
                st = os.lstat(path)
            except OSError:
                items[rel] = FileDigest.at(
                    rel, kind="missing", error="declared output was not written"
                )
                continue
            kind = entry_kind(st.st_mode)
            if kind == "symlink":
                items[rel] = FileDigest.at(rel, kind="symlink", target=os.readlink(path))
            elif kind != "file":
                # A FIFO, socket or device is recorded by its type and never opened: reading it could
                # block for ever or never end.
                items[rel] = FileDigest.at(rel, kind=kind)
            else:
                files[rel] = Path(path)
        found = self.cache.digests(list(files.values()))
        for rel, file in files.items():
            items[rel] = digest_item(rel, found[file])
        return [items[rel] for rel in rels]


def without_skipped(states: dict[str, FileState], folders: Iterable[str]) -> dict[str, FileState]:
    """``states`` without git's and paperlink's own folders, which only an output folder ``.`` (or one
    of them) can reach: with tens of thousands of outputs the filter is not run for nothing."""
    if not any(
        (rel := os.path.normpath(f)) == "." or rel.startswith(ALWAYS_SKIPPED) for f in folders
    ):
        return states
    return {p: s for p, s in states.items() if not p.startswith(ALWAYS_SKIPPED)}


def digest_item(rel: str, found: Digests | CaptureError, role: str | None = None) -> FileDigest:
    if isinstance(found, CaptureError):
        return FileDigest.at(rel, kind="unreadable", error=found.message, role=role)
    return FileDigest.at(rel, size=found.size, sha256=found.sha256, md5=found.md5,
                         sha1=found.sha1, role=role)  # fmt: skip


def change_time(path: str) -> int:
    """When the file last changed (ctime: no program can set it back), 0 when it is not there."""
    try:
        return os.lstat(path).st_ctime_ns
    except OSError:
        return 0
