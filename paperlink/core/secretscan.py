"""The last check before anything leaves the machine: no byte ``publish`` uploads holds a secret value.

:class:`SecretScanner` looks for the archive token and the values of the secret-looking environment
variables (the values :func:`paperlink.core.redaction.hunted` accepts: at least six characters, not only digits)
in every file of a bundle, read in chunks so a multi-gigabyte output or image archive costs no memory, with
a value that spans two chunks still found. Inside the compressed files paperlink writes itself, and any
other ``.zip``, ``.tar.gz``/``.tgz`` or ``.gz``, it also reads the uncompressed members, since compressed
bytes never show a value. A finding names the file, the member and the line, never the value.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from paperlink.core.model import model
from paperlink.core.redaction import hunted, secret_names

CHUNK_SIZE = 1 << 20
Progress = Callable[[str, int, int], None]


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@model(frozen=True)
class Finding:
    file: str  # the uploaded file's name, and the member inside it when it is an archive
    line: int  # 1-based, in the file (or member) as uncompressed bytes
    what: str  # where the value comes from, e.g. "$ZENODO_TOKEN" or "the archive token"

    def as_tuple(self) -> tuple[str, int, str]:
        return (self.file, self.line, self.what)


class SecretScanner:
    """Finds secret values in bytes, files and the members of archives."""

    def __init__(self, needles: Mapping[str, str]) -> None:
        """``needles`` maps each secret value to a description of where it comes from."""
        kept = {value: what for value, what in needles.items() if hunted(value)}
        self._needles = sorted(
            ((value.encode("utf-8"), what) for value, what in kept.items()),
            key=lambda item: -len(item[0]),
        )
        self._overlap = max((len(n) for n, _ in self._needles), default=1) - 1

    @classmethod
    def for_publish(
        cls, environ: Mapping[str, str], *, token: str | None = None, extra: Iterable[str] = ()
    ) -> SecretScanner:
        """The token, any ``extra`` values and every secret-looking environment variable's value."""
        needles = secret_names(environ)
        for value in extra:
            needles.setdefault(value.strip(), "a secret value")
        if token:
            needles[token.strip()] = "the archive token"
        return cls(needles)

    @property
    def empty(self) -> bool:
        return not self._needles

    def scan_bytes(self, name: str, data: bytes) -> list[Finding]:
        import io

        return self._scan_stream(name, io.BytesIO(data))

    def scan_file(
        self, name: str, path: Path, on_progress: Progress | None = None
    ) -> list[Finding]:
        """The file's own bytes, then, for a compressed file, its uncompressed content."""
        if self.empty:
            return []
        total = path.stat().st_size
        with path.open("rb") as stream:
            findings = self._scan_stream(name, stream, total, on_progress)
        lowered = path.name.lower()
        try:
            if lowered.endswith(".zip"):
                findings += self._scan_zip(name, path)
            elif lowered.endswith((".tar.gz", ".tgz")):
                findings += self._scan_tar(name, path)
            elif lowered.endswith(".gz"):
                with gzip.open(path, "rb") as inner:
                    findings += self._scan_stream(f"{name} (uncompressed)", inner)
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
            pass  # not the archive its name says: its raw bytes were scanned above
        return findings

    def _scan_zip(self, name: str, path: Path) -> list[Finding]:
        findings: list[Finding] = []
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    with archive.open(info) as member:
                        findings += self._scan_stream(f"{name}: {info.filename}", member)
        return findings

    def _scan_tar(self, name: str, path: Path) -> list[Finding]:
        findings: list[Finding] = []
        # "r|gz": one pass over the stream, no seeking, so a large archive is read once.
        with tarfile.open(path, mode="r|gz") as archive:
            for info in archive:
                member = archive.extractfile(info) if info.isfile() else None
                if member is not None:
                    findings += self._scan_stream(f"{name}: {info.name}", member)
        return findings

    def _scan_stream(
        self,
        name: str,
        stream: _Readable,
        total: int = 0,
        on_progress: Progress | None = None,
    ) -> list[Finding]:
        """The first occurrence of each value in ``stream``, with its line number."""
        pending = list(self._needles)
        findings: list[Finding] = []
        carry = b""
        line = 1  # the line number at the start of ``carry``
        done = 0
        while pending:
            chunk = stream.read(CHUNK_SIZE)
            if not chunk:
                break
            done += len(chunk)
            window = carry + chunk
            for needle in list(pending):
                at = window.find(needle[0])
                if at >= 0:
                    findings.append(Finding(name, line + window.count(b"\n", 0, at), needle[1]))
                    pending.remove(needle)
            # Keep the last bytes: a value cut by the chunk boundary is whole in the next window.
            keep = min(self._overlap, len(window))
            carry = window[len(window) - keep :]
            line += window.count(b"\n", 0, len(window) - keep)
            if on_progress is not None and total:
                on_progress(name, min(done, total), total)
        return findings
