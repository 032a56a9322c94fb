"""Temporary files that become a result by a rename, and the cleaning of those a killed process left.

A file paperlink writes (a LaTeX data file, an image archive, the project settings) is first written beside
its target as ``.NAME.paperlink-tmp-HOST-PID`` and renamed over ``NAME`` when complete, so nobody sees half
a file. A ``kill -9`` (or a power cut) leaves that temporary file behind, and image archives are large; the
next write to the same folder removes those whose process is gone. The host is in the name because a
project folder may be shared between machines (NFS, a cluster), where another machine's PID says nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import socket
from pathlib import Path

MARK = ".paperlink-tmp-"
_NAME = re.compile(r"^\.(?P<target>.+)\.paperlink-tmp-(?P<host>[\w.]*)-(?P<pid>\d+)(?:\.\d+)?$")
_counter = itertools.count(1)


def _host() -> str:
    # The name must stay one path component whatever the host is called.
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"  # no "-": it ends the host


def create_temp(path: Path, *, mode: int = 0o666) -> tuple[int, Path]:
    """Create (exclusively; ``mode`` less the umask) the temporary file for ``path``; returns its open
    descriptor and its path. Stale ones for any target in the folder are removed first."""
    remove_stale(path.parent)
    base = path.with_name(f".{path.name}{MARK}{_host()}-{os.getpid()}")
    candidate = base
    while True:
        try:
            return os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), candidate
        except FileExistsError:
            # Another thread of this process writes the same target: take the next free name.
            candidate = base.with_name(f"{base.name}.{next(_counter)}")


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` left by paperlink processes of this host that are gone;
    returns what was removed. Files of live processes, and of other hosts, are kept."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        if MARK not in entry.name:
            continue
        match = _NAME.match(entry.name)
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):  # another process cleaned it first
            stale = Path(entry.path)
            stale.unlink()
            removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
