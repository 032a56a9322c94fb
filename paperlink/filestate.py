"""What the output folders hold before and after a run, and digests that are only computed once.

A run's outputs are the files created or changed under the output folders, found by comparing two
snapshots of (size, mtime in nanoseconds, inode). Whole-second timestamps are not enough (two runs a few
milliseconds apart must not claim each other's files), and even nanosecond mtimes can tie on file systems
with a coarse clock: a file whose snapshot was taken within :data:`DOUBT_WINDOW_NS` of its last change is
hashed before the run, and compared by digest afterwards.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from paperlink.errors import CaptureError
from paperlink.hashing import Digests, ProgressCallback, digest_file
from paperlink.store import RecordStore

# File systems with a coarse clock (FAT: 2 s; some network file systems: 1 s) can give an old and a new
# version of a file the same mtime; within this window of the snapshot a file is also compared by digest.
DOUBT_WINDOW_NS = 2_000_000_000


class FileState(NamedTuple):
    """What a file looked like at a snapshot (a tuple: comparing two is one C-level comparison)."""

    size: int
    mtime_ns: int
    inode: int
    is_link: bool = False


def snapshot_tree(root: Path, folders: Iterable[str]) -> dict[str, FileState]:
    """States of every file under ``root/folder`` for each folder, keyed by path relative to ``root``.

    One ``os.scandir`` walk per folder and one ``lstat`` per file, on plain strings: with tens of thousands
    of files in the output folders, ``pathlib`` objects per file cost ten times the system calls.
    """
    states: dict[str, FileState] = {}
    top = os.fspath(root)
    for folder in folders:
        rel = os.path.normpath(folder)
        prefix = "" if rel == "." else rel + "/"
        base = os.path.join(top, rel)
        try:
            # An output folder may be a link to scratch space: follow it, as the run does.
            if stat.S_ISDIR(os.stat(base).st_mode):
                _walk(base, prefix, states)
                continue
        except OSError:
            pass
        try:
            states[rel] = _state(os.lstat(base))
        except OSError:
            continue
    return states


def _walk(folder: str, prefix: str, states: dict[str, FileState]) -> None:
    pending = [(folder, prefix)]
    while pending:
        path, rel = pending.pop()
        try:
            entries = os.scandir(path)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, rel + entry.name + "/"))
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone between listing and stat: not there after all
                states[rel + entry.name] = _state(st)


def _state(st: os.stat_result) -> FileState:
    return FileState(st.st_size, st.st_mtime_ns, st.st_ino, stat.S_ISLNK(st.st_mode))


def doubtful(states: dict[str, FileState], now_ns: int | None = None) -> list[str]:
    """Paths changed so recently that a rewrite in the same clock tick would go unseen."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return [p for p, s in states.items() if not s.is_link and now_ns - s.mtime_ns < DOUBT_WINDOW_NS]


def changed_paths(
    before: dict[str, FileState],
    after: dict[str, FileState],
    digests_before: dict[str, str],
    rehash: Callable[[str], str | None],
) -> list[str]:
    """Paths created or changed between two snapshots, sorted.

    ``digests_before`` holds sha256s taken before the run for doubtful paths; ``rehash`` computes a path's
    sha256 now (None when unreadable).
    """
    changed = []
    for path, state in after.items():
        old = before.get(path)
        if old != state or (path in digests_before and rehash(path) != digests_before[path]):
            changed.append(path)
    return sorted(changed)


class DigestCache:
    """Digests of files, remembered in the store by (path, size, mtime, inode) so unchanged files are
    not read again."""

    def __init__(
        self,
        store: RecordStore | None,
        on_progress: Callable[[str], ProgressCallback | None] | None = None,
        root: Path | None = None,
    ) -> None:
        self.store = store
        self.on_progress = on_progress
        self.root = root  # progress names files relative to it
        self._pending: list[tuple[str, int, int, int, str, str, str]] = []

    def digests(self, paths: list[Path]) -> dict[Path, Digests | CaptureError]:
        """Digests for each path, or the :class:`CaptureError` that says why it could not be read.

        Files the cache does not know are hashed several at a time (hashlib releases the GIL), which is
        what makes a cold check of many small figures run at the speed of the disk and the cores.
        """
        keys = {path: os.path.abspath(path) for path in paths}
        cached = self.store.cached_digests(keys.values()) if self.store else {}
        result: dict[Path, Digests | CaptureError] = {}
        misses: list[tuple[Path, os.stat_result]] = []
        for path, key in keys.items():
            try:
                st = os.stat(path)
            except OSError as exc:
                result[path] = CaptureError(f"cannot read {path}: {exc.strerror or exc}")
                continue
            hit = cached.get(key)
            if hit and hit[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
                result[path] = Digests(hit[0], hit[3], hit[4], hit[5])
            else:
                misses.append((path, st))
        if len(misses) > 1:
            from concurrent.futures import (
                ThreadPoolExecutor,
            )  # only here: keeps `paperlink run` lean

            workers = min(len(misses), os.cpu_count() or 1)
            with ThreadPoolExecutor(workers, thread_name_prefix="paperlink-hash") as pool:
                found = list(pool.map(lambda miss: self._hash(*miss), misses))
        else:
            found = [self._hash(*miss) for miss in misses]
        for (path, _), digests in zip(misses, found, strict=True):
            result[path] = digests
        return result

    def _hash(self, path: Path, st: os.stat_result) -> Digests | CaptureError:
        progress = self.on_progress(self._name(path)) if self.on_progress else None
        try:
            found = digest_file(path, progress)
        except CaptureError as exc:
            return exc
        # A file still being written within the clock's resolution must be hashed again next time.
        if time.time_ns() - st.st_mtime_ns >= DOUBT_WINDOW_NS:
            row = (
                os.path.abspath(path),
                st.st_size,
                st.st_mtime_ns,
                st.st_ino,
                found.sha256,
                found.md5,
                found.sha1,
            )
            self._pending.append(row)  # list.append is atomic: safe from the pool's threads
        return found

    def _name(self, path: Path) -> str:
        if self.root is not None and path.is_absolute() and path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return str(path)

    def digest(self, path: Path) -> Digests:
        found = self.digests([path])[path]
        if isinstance(found, CaptureError):
            raise found
        return found

    def flush(self) -> None:
        """Write what was learnt to the store (one transaction)."""
        if self.store and self._pending:
            self.store.remember_digests(self._pending)
        self._pending = []
