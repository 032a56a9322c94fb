"""What the output folders hold before and after a run, and digests that are only computed once.

A run's outputs are the entries created or changed under the output folders, found by comparing two
snapshots of (size, mtime and change time in nanoseconds, inode, device, type). Whole-second timestamps are
not enough (two runs a few milliseconds apart must not claim each other's files), and even nanosecond times
can tie on file systems with a coarse clock: a file whose snapshot was taken within :data:`DOUBT_WINDOW_NS`
of its last change is hashed before the run, and compared by digest afterwards. Only regular files are
ever opened: a FIFO, socket or device in an output folder is recorded by its type.
"""

from __future__ import annotations

import gc
import os
import stat
import time
from collections.abc import Callable, Collection, Iterable
from itertools import compress
from operator import itemgetter, ne
from pathlib import Path

from paperlink.core.config import Project
from paperlink.core.files import encode_path
from paperlink.core.hashing import Digests, ProgressCallback, digest_file
from paperlink.core.store import RecordStore
from paperlink.errors import CaptureError, ConfigError

# File systems with a coarse clock (FAT: 2 s; some network file systems: 1 s) can give an old and a new
# version of a file the same mtime; within this window of the snapshot a file is also compared by digest.
DOUBT_WINDOW_NS = 2_000_000_000


def entry_kind(mode: int) -> str:
    """The type of a directory entry from its ``st_mode``, as records name it."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "char-device"
    if stat.S_ISBLK(mode):
        return "block-device"
    return "other"


# What an entry looked like at a snapshot: (size, mtime_ns, inode, st_mode, ctime_ns, device). A plain
# tuple: the walk makes one per file (a named tuple costs a second construction), and comparing two is one
# C-level comparison. A rewrite in place can put size and mtime back (cp -p, touch -d); the change time and
# the device show it all the same.
FileState = tuple[int, int, int, int, int, int]


def file_state(
    size: int,
    mtime_ns: int,
    inode: int,
    mode: int = stat.S_IFREG | 0o644,
    ctime_ns: int = 0,
    device: int = 0,
) -> FileState:
    return (size, mtime_ns, inode, mode, ctime_ns, device)


def state_kind(state: FileState) -> str:
    """The entry's type as a record names it: file, symlink, directory, fifo, socket, …"""
    mode = state[3]
    return "file" if stat.S_ISREG(mode) else entry_kind(mode)


_MTIME, _CTIME = itemgetter(1), itemgetter(4)  # a FileState's mtime_ns and ctime_ns, read in C


def check_output_dirs(project: Project) -> list[str]:
    """The project's output folders, each inside the project; raises :class:`ConfigError` for one that
    lies outside (``../..``, an absolute path elsewhere, a symlink to a folder above the project)."""
    root = Path(os.path.abspath(project.root))
    real_root = Path(os.path.realpath(root))
    where = project.config_path or root / "paperlink.toml"
    for folder in project.output_dirs:
        lexical = Path(os.path.normpath(root / folder))
        real = Path(os.path.realpath(lexical))
        outside = lexical != root and root not in lexical.parents
        # A folder that holds the whole project (a symlink to / or to ..) would make every file an output.
        if outside or (real in (real_root, *real_root.parents) and lexical != root):
            raise ConfigError(
                f"{where}: output folder {folder!r} is outside the project {root}",
                hint="list folders inside the project in 'outputs' (e.g. \"figures\"); name a file "
                "elsewhere with 'paperlink run --output PATH -- COMMAND'",
            )
    return list(project.output_dirs)


def store_files(store_path: Path | None, root: Path) -> set[str]:
    """The store's own files (the database, its -wal, -shm and -journal) as paths relative to ``root``:
    never outputs, even when the store lies in an output folder. None: a store on a server."""
    if store_path is None:
        return set()
    base = Path(os.path.abspath(store_path))
    names = {base, *(base.with_name(base.name + end) for end in ("-wal", "-shm", "-journal"))}
    return {name.relative_to(root).as_posix() for name in names if name.is_relative_to(root)}


def snapshot_tree(
    root: Path, folders: Iterable[str], exclude: Collection[str] = ()
) -> dict[str, FileState]:
    """States of every entry under ``root/folder`` for each folder, keyed by path relative to ``root``,
    leaving out the paths in ``exclude``.

    One ``os.scandir`` walk per folder and one ``lstat`` per entry, on plain strings: with tens of
    thousands of files in the output folders, ``pathlib`` objects per file cost ten times the system calls.
    """
    # Tens of thousands of new tuples would set off the cyclic garbage collector again and again; none
    # of them can be part of a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        states = _snapshot(root, folders)
    finally:
        if collecting:
            gc.enable()
    for path in exclude:
        states.pop(path, None)
    return states


def _snapshot(root: Path, folders: Iterable[str]) -> dict[str, FileState]:
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
    # The loop runs once per file, so it does as little as it can: names bound locally, the folder
    # listed by name and each entry lstat-ed relative to the folder's descriptor (no DirEntry objects,
    # no path joins), a folder told by its mode.
    lstat, is_dir = os.lstat, stat.S_ISDIR
    flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
    pending = [(folder, prefix)]
    while pending:
        path, rel = pending.pop()
        try:
            # Below the output folder (which may be a link to scratch space) a folder that became a link
            # since its lstat is not followed out of the tree.
            fd = os.open(path, flags if path == folder else flags | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            names = os.listdir(fd)  # noqa: PTH208 (a descriptor: no pathlib form)
            for name in names:
                try:
                    st = lstat(name, dir_fd=fd)
                except OSError:
                    continue  # gone between listing and stat: not there after all
                mode = st.st_mode
                if is_dir(mode):
                    pending.append((f"{path}/{name}", f"{rel}{name}/"))
                    continue
                states[rel + name] = (
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ino,
                    mode,
                    st.st_ctime_ns,
                    st.st_dev,
                )
        except OSError:
            continue  # the folder cannot be listed (no read permission): nothing under it is seen
        finally:
            os.close(fd)


def _state(st: os.stat_result) -> FileState:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, st.st_ctime_ns, st.st_dev)


def doubtful(states: dict[str, FileState], now_ns: int | None = None) -> list[str]:
    """Regular files changed so recently that a rewrite in the same clock tick would go unseen (anything
    else is never opened: reading a FIFO or a device would wait for ever)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    cutoff = now_ns - DOUBT_WINDOW_NS
    # now - max(mtime, ctime) < window, in C over every state (map, compress); few are that recent.
    values = states.values()
    changed = map(max, map(_MTIME, values), map(_CTIME, values))
    regular = stat.S_ISREG
    return [p for p in compress(states, map(cutoff.__lt__, changed)) if regular(states[p][3])]


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
    # Every path of `after` whose state differs from (or is missing in) `before`, in C (map, compress):
    # with tens of thousands of unchanged files a Python loop over them is most of the comparison's cost.
    changed = set(compress(after, map(ne, after.values(), map(before.get, after))))
    for path, digest in digests_before.items():
        if path not in changed and path in after and rehash(path) != digest:
            changed.add(path)
    return sorted(changed)


class DigestCache:
    """Digests of files, remembered in the store by (path, size, mtime, change time, inode, device) so
    unchanged files are not read again. ``rehash`` ignores what the store remembers (it still learns)."""

    def __init__(
        self,
        store: RecordStore | None,
        on_progress: Callable[[str], ProgressCallback | None] | None = None,
        root: Path | None = None,
        *,
        rehash: bool = False,
    ) -> None:
        self.store = store
        self.on_progress = on_progress
        self.root = root  # progress names files relative to it
        self.rehash = rehash
        self._pending: list[tuple[str, int, int, int, int, int, str, str, str]] = []

    def digests(self, paths: list[Path]) -> dict[Path, Digests | CaptureError]:
        """Digests for each path, or the :class:`CaptureError` that says why it could not be read.

        Files the cache does not know are hashed several at a time (hashlib releases the GIL), which is
        what makes a cold check of many small figures run at the speed of the disk and the cores.
        """
        keys = {path: _cache_key(path) for path in paths}
        use = self.store is not None and not self.rehash
        cached = self.store.cached_digests(keys.values()) if self.store and use else {}
        result: dict[Path, Digests | CaptureError] = {}
        misses: list[tuple[Path, os.stat_result]] = []
        for path, key in keys.items():
            try:
                st = os.stat(path)
            except OSError as exc:
                result[path] = CaptureError(f"cannot read {path}: {exc.strerror or exc}")
                continue
            if not stat.S_ISREG(st.st_mode):
                result[path] = CaptureError(
                    f"{path} is a {entry_kind(st.st_mode)}, not a regular file; it was not read"
                )
                continue
            hit = cached.get(key)
            if hit and hit[:5] == (
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
                st.st_ino,
                st.st_dev,
            ):
                result[path] = Digests(hit[0], hit[5], hit[6], hit[7])
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
        # A file changed within the clock's resolution must be hashed again next time: a rewrite in the
        # same tick would keep every time in the key.
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= DOUBT_WINDOW_NS:
            row = (
                _cache_key(path),
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
                st.st_ino,
                st.st_dev,
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


def _cache_key(path: Path) -> str:
    # A name that is not UTF-8 cannot be SQLite text; its \xNN form may in theory equal another file's
    # name, but the inode and device in the key keep the two apart.
    return encode_path(os.path.abspath(path))[0]
