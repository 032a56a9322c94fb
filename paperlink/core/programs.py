"""Finding a program on ``PATH`` as :func:`shutil.which` does, without importing :mod:`shutil`.

Every ``paperlink run`` looks up its command, ``python3``, ``git`` and the cluster tools; ``shutil`` brings
``bz2``, ``lzma`` and their compression modules with it, a good part of the run's start-up it does not use.
"""

from __future__ import annotations

import os
import stat


def which(name: str, path: str | None = None) -> str | None:
    """The file that running ``name`` would execute: ``name`` itself when it holds a ``/``, else the first
    executable regular file of that name in the folders of ``path`` (default: ``$PATH``, else
    :data:`os.defpath`); None when there is none. Like :func:`shutil.which` on POSIX."""
    if os.sep in name:
        return name if _executable(name) else None
    folders = path if path is not None else os.environ.get("PATH", os.defpath)
    seen: set[str] = set()
    for folder in folders.split(os.pathsep):
        if folder in seen:
            continue
        seen.add(folder)
        candidate = f"{folder}/{name}" if folder else name  # an empty entry: the current folder
        if _executable(candidate):
            return candidate
    return None


def _executable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(mode) and os.access(path, os.X_OK)
