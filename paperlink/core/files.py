"""A file as a record names it: its path (with the bytes of a name that is not UTF-8 kept), kind, size and
digests; and names that fit every file system and archive."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from paperlink.core.model import model


@model
class FileDigest:
    """A file a run read or wrote, with its content digests (absent when it could not be read).

    ``path`` is always valid UTF-8 text. A file name that is not (Linux allows any bytes) is shown there
    with each undecodable byte as ``\\xNN``, and ``path_base64`` holds the exact bytes of the path:
    :attr:`fs_path` is what to open. Use :meth:`at` to build one from a path as the OS gives it.
    """

    path: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    # file | symlink | missing | unreadable, or an entry that is never opened: fifo | socket |
    # char-device | block-device | other
    kind: str = "file"
    target: str | None = None  # where a symlink points
    error: str | None = None  # why it could not be read
    role: str | None = None  # e.g. "parameters" for a parameter file
    path_base64: str | None = None  # the path's bytes, only when they are not UTF-8

    @classmethod
    def at(cls, path: str, **fields: Any) -> FileDigest:
        """A digest entry for ``path`` as ``os`` functions give it (undecodable bytes as surrogates)."""
        shown, raw = encode_path(path)
        return cls(path=shown, path_base64=raw, **fields)

    @property
    def fs_path(self) -> str:
        """The path to give the OS: ``path``, or the exact bytes when the name is not UTF-8."""
        if self.path_base64 is None:
            return self.path
        import base64

        return os.fsdecode(base64.b64decode(self.path_base64))

    @property
    def sha256_ref(self) -> str | None:
        return f"sha256:{self.sha256}" if self.sha256 else None


MAX_NAME_BYTES = 255  # a file name's limit on nearly every file system (and in tar and zip tools)


def fit_file_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` when its UTF-8 is at most ``limit`` bytes; else a shortened name that keeps its start and
    its extension and ends the stem with ``~`` and 12 hex digits of the full name's sha256, so different
    long names stay different."""
    raw = name.encode("utf-8")
    if len(raw) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f"{dot}{ext}" if stem and len(ext.encode("utf-8")) <= 16 else ""
    tag = "~" + hashlib.sha256(raw).hexdigest()[:12]
    room = limit - len(tag) - len(suffix.encode("utf-8"))
    # Cut on a character boundary: half a UTF-8 sequence would make the name invalid.
    kept = name[: len(name) - len(suffix)].encode("utf-8")[:room].decode("utf-8", "ignore")
    return f"{kept}{tag}{suffix}"


def encode_path(path: str) -> tuple[str, str | None]:
    """``(text, base64)`` for a path from the OS: UTF-8 text as it is and no base64, or, for a name with
    bytes that are not UTF-8 (surrogate-escaped by Python), the text with ``\\xNN`` for each such byte
    and the base64 of the exact bytes."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        import base64

        return raw.decode("utf-8", "backslashreplace"), base64.b64encode(raw).decode("ascii")
    return path, None
