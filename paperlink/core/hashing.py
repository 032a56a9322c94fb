"""Streaming file digests: sha256 (the identity), md5 (Zenodo's and TeX's) and sha1 (Sumatra's) in one pass.

The file is read once, in fixed-size chunks, so memory stays constant whatever its size. md5 has no CPU
extension and is the slowest of the three; the reading thread feeds it while a second thread feeds sha256 and
sha1 (hashlib releases the GIL on large updates), so the three together run at about the speed of md5 alone.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable

from paperlink.core.model import model
from paperlink.errors import CaptureError

CHUNK_SIZE = 1 << 20
# Files smaller than this are hashed in the calling thread: a thread costs more than it saves.
PARALLEL_THRESHOLD = 4 << 20
# Chunks in flight to the sha thread; bounds memory at about (QUEUE_DEPTH + 2) * CHUNK_SIZE.
QUEUE_DEPTH = 8

ProgressCallback = Callable[[int, int], None]


@model(frozen=True)
class Digests:
    """Size and the three digests of one file's content, as lowercase hex."""

    size: int
    sha256: str
    md5: str
    sha1: str

    def as_dict(self) -> dict[str, str | int]:
        return {"size": self.size, "sha256": self.sha256, "md5": self.md5, "sha1": self.sha1}

    def matches(self, hex_digest: str) -> bool:
        """Whether ``hex_digest`` (sha256, sha1 or md5, told apart by length) is this content's."""
        value = strip_algorithm(hex_digest).lower()
        return value in (self.sha256, self.sha1, self.md5)


def strip_algorithm(digest: str) -> str:
    """``"sha256:ab12…"`` → ``"ab12…"``; a bare hex digest is returned as it is."""
    return digest.split(":", 1)[1] if ":" in digest else digest


def algorithm_of(hex_digest: str) -> str:
    """The algorithm a bare hex digest belongs to, from its length."""
    value = strip_algorithm(hex_digest)
    try:
        int(value, 16)
    except ValueError:
        raise CaptureError(f"'{hex_digest}' is not a hexadecimal digest") from None
    by_length = {64: "sha256", 40: "sha1", 32: "md5"}
    if len(value) not in by_length:
        raise CaptureError(
            f"'{hex_digest}' has {len(value)} hex digits; expected 64 (sha256), 40 (sha1) or 32 (md5)"
        )
    return by_length[len(value)]


def digest_bytes(data: bytes) -> Digests:
    """The digests of an in-memory byte string."""
    return Digests(
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    )


def digest_file(
    path: str | os.PathLike[str], on_progress: ProgressCallback | None = None
) -> Digests:
    """Compute size, sha256, md5 and sha1 of ``path`` in one streaming pass.

    Raises :class:`CaptureError` when the file cannot be read, naming the file and the reason.
    """
    try:
        # O_NONBLOCK: a FIFO put where a file was expected must not make the open wait for a writer;
        # anything but a regular file is refused before a byte is read (a device could be endless).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb", buffering=0) as stream:
            st = os.fstat(stream.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(st.st_mode):
                raise CaptureError(f"{path} is not a regular file; it was not read")
            total = st.st_size
            if total < PARALLEL_THRESHOLD:
                return _digest_serial(stream, total, on_progress)
            return _digest_parallel(stream, total, on_progress)
    except IsADirectoryError:
        raise CaptureError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise CaptureError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check that the file exists and that you may read it",
        ) from exc


def _digest_serial(stream: object, total: int, on_progress: ProgressCallback | None) -> Digests:
    read = stream.read  # type: ignore[attr-defined]
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    sha1 = hashlib.sha1(usedforsecurity=False)
    size = 0
    while chunk := read(CHUNK_SIZE):
        sha256.update(chunk)
        md5.update(chunk)
        sha1.update(chunk)
        size += len(chunk)
        if on_progress:
            on_progress(size, total)
    return Digests(size, sha256.hexdigest(), md5.hexdigest(), sha1.hexdigest())


def _digest_parallel(stream: object, total: int, on_progress: ProgressCallback | None) -> Digests:
    read = stream.read  # type: ignore[attr-defined]
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(usedforsecurity=False)
    md5 = hashlib.md5(usedforsecurity=False)
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH)

    def feed_sha() -> None:
        while (chunk := chunks.get()) is not None:
            sha256.update(chunk)
            sha1.update(chunk)

    worker = threading.Thread(target=feed_sha, name="paperlink-sha", daemon=True)
    worker.start()
    size = 0
    try:
        while chunk := read(CHUNK_SIZE):
            chunks.put(chunk)
            md5.update(chunk)
            size += len(chunk)
            if on_progress:
                on_progress(size, total)
    finally:
        chunks.put(None)
        worker.join()
    return Digests(size, sha256.hexdigest(), md5.hexdigest(), sha1.hexdigest())
