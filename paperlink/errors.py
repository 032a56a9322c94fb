"""The one exception hierarchy of paperlink and the exit codes it maps to.

Library code raises a subclass of :class:`PaperlinkError`; the command line catches it in one place, prints
``Error: <message>`` and exits with the class's ``exit_code``. Messages say what failed, on which object and
what to do next.
"""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    """Exit codes of the ``paperlink`` command (``paperlink run`` passes the command's own status through)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    MISMATCH = 3
    NOT_IN_PROJECT = 4
    STORE = 5
    NOT_FOUND = 6
    ENGINE_UNAVAILABLE = 7
    NETWORK = 8
    REFUSED = 9
    UNSAFE = 10
    SECRET_FOUND = 11
    NOT_EXECUTABLE = 126
    COMMAND_NOT_FOUND = 127
    INTERRUPTED = 130


EXIT_CODE_HELP = """\
Exit codes: 0 ok; 1 error; 2 usage; 3 verification found mismatches; 4 not inside a paperlink project;
5 the record store is unusable (corrupted, newer schema, locked, full, read-only); 6 unknown record,
file or image; 7 container engine not available; 8 network or archive service error; 9 the archive
server refused the metadata (its field errors are listed); 10 an archive or a record names a file
outside where it belongs (nothing was written); 11 a secret value in what publish or site would write;
130 interrupted.
`paperlink run` exits with the wrapped command's own status (126 not executable, 127 not found)."""


class PaperlinkError(Exception):
    """Base of every error paperlink reports to a user."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(PaperlinkError):
    """The arguments are wrong (a malformed label, an option that does not apply)."""

    exit_code = ExitCode.USAGE


class ConfigError(PaperlinkError):
    """``paperlink.toml`` (or ``[tool.paperlink]``) is missing a value or holds a wrong one."""


class NotInProjectError(ConfigError):
    """No paperlink project above the working directory."""

    exit_code = ExitCode.NOT_IN_PROJECT


class StoreError(PaperlinkError):
    """The record store cannot be opened, read or written."""

    exit_code = ExitCode.STORE


class ForeignStoreError(StoreError):
    """Another tool's record store (Sumatra's SQLite store or JSON export) cannot be read: it is not one,
    or its schema is newer than paperlink knows."""


class RecordNotFound(PaperlinkError):
    """No record has the label asked for."""

    exit_code = ExitCode.NOT_FOUND


class UnresolvedReference(RecordNotFound):
    """A reference that names no output, or more than one, or a ``digest=`` that does not hold."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class RecordImmutable(StoreError):
    """A finished record may only change its tags and reason."""


class StoreFull(StoreError):
    """The record store's file system is full (or a quota or file size limit stops the write)."""


class StoreReadOnly(StoreError):
    """The record store can be read but not written (a read-only mount, an immutable file)."""


class StoreConflict(StoreError):
    """Two writers to a shared store got in each other's way (PostgreSQL found a deadlock or could not
    serialise them); the transaction was rolled back whole, so running it again is safe."""


class RunNotRecorded(PaperlinkError):
    """A command ran but its record could not be stored; the exit code is the command's own, as
    ``paperlink run`` passes it through even then."""

    def __init__(self, message: str, *, exit_status: int | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_status = exit_status
        self.exit_code = ExitCode.STORE if exit_status is None else exit_status


class CaptureError(PaperlinkError):
    """A run could not be captured (unreadable output, bad input path)."""


class SifError(CaptureError):
    """A file that is not a SIF image this reader understands."""


class RerunError(CaptureError):
    """A record cannot be re-executed as it stands (no commit, a changed input, …)."""


class ContainerError(PaperlinkError):
    """The container engine refused or failed an operation."""


class EngineUnavailable(ContainerError):
    """No container engine answers (not installed, not running, or the socket is not permitted)."""

    exit_code = ExitCode.ENGINE_UNAVAILABLE


class ImageNotFound(ContainerError):
    """The container engine has no image by that reference."""

    exit_code = ExitCode.NOT_FOUND


class ImageMismatch(ContainerError):
    """An image (or an image archive) is not the one a record ran."""

    exit_code = ExitCode.MISMATCH


class ZenodoError(PaperlinkError):
    """The archive service answered with an error or could not be reached."""

    exit_code = ExitCode.NETWORK

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        body: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.url = url
        self.body = body


class ZenodoValidationError(ZenodoError):
    """The server refused the metadata or the deposition; ``errors`` lists ``(field, message)`` pairs.

    Its own exit code: the fix is in the metadata files, and retrying the same command cannot help."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, errors: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = errors


class ZenodoAuthError(ZenodoError):
    """The token was refused (401 or 403)."""


class UnsafeArchive(PaperlinkError):
    """An archive server, an archive's file or a record holds a name or data paperlink refuses to use:
    a file name that could point outside paperlink's folder (``../x``, ``/x``, ``a\\b``, NUL, a leading
    dot), a path that leaves the project, or a run record that does not parse."""

    exit_code = ExitCode.UNSAFE


class SecretFound(PaperlinkError):
    """What ``publish`` would upload (or ``site`` would write) holds the token or the value of a
    secret-looking environment variable.

    ``findings`` are (file, line, where the value comes from, e.g. ``$ZENODO_TOKEN``), never the value.
    """

    exit_code = ExitCode.SECRET_FOUND

    def __init__(
        self,
        findings: list[tuple[str, int, str]],
        *,
        refusing: str = "refusing to publish, nothing was uploaded or written",
        hint: str | None = None,
    ) -> None:
        shown = "; ".join(
            f"{name} line {line} holds the value of {what}" for name, line, what in findings[:10]
        )
        more = f"; and {len(findings) - 10} more" if len(findings) > 10 else ""
        super().__init__(f"{refusing}: {shown}{more}", hint=hint)
        self.findings = findings


class LatexError(PaperlinkError):
    """The manuscript or the generated LaTeX data could not be processed."""


class VerificationFailed(PaperlinkError):
    """Something the paper uses does not match its record."""

    exit_code = ExitCode.MISMATCH


class ViewerError(PaperlinkError):
    """The web viewer or the static site could not be started or written."""


class BundleError(PaperlinkError):
    """A file the archive needs is missing, changed since it was recorded, or cannot be made."""
