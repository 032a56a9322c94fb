"""The record of one run: what ran, on what, what came out, where, when, why and how it ended.

Records are plain dataclasses that serialise to canonical JSON (sorted keys, fixed separators, UTC
timestamps), so a record's own digest is reproducible. The JSON follows ``paperlink/core/schema/record-v1.json``;
``schema_version`` says which. Sections that later features fill (``container``, ``publication``) are present
from the first version so that old records stay readable by new code and the other way round.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import field
from datetime import datetime, timedelta, timezone
from typing import Any

from paperlink.core.files import FileDigest
from paperlink.core.model import model
from paperlink.core.patterns import LazyPattern
from paperlink.core.runcontext import ContainerRef, MpiRun, SlurmJob
from paperlink.core.serialize import canonical_json, from_dict, plain
from paperlink.errors import UsageError

RECORD_SCHEMA_VERSION = 1
# The schema ships in the package (paperlink/core/schema/record-v1.json); a URN names it without pretending
# to be an address. Records written before name an https address that never existed; the schema accepts
# both, and reading ignores the field.
RECORD_SCHEMA_ID = "urn:paperlink:schema:record-v1"

STATUS_RUNNING = "running"
STATUS_FINISHED = "finished"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUS_KILLED = "killed"
STATUS_INCOMPLETE = "incomplete"
FINAL_STATUSES = (STATUS_FINISHED, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_KILLED)

_LABEL_RE = LazyPattern(r"^[^\s:?]{1,200}$")


def check_label(label: str) -> str:
    """Return ``label`` when it is a valid record label, else raise :class:`UsageError`.

    Labels are free text without whitespace, ``:`` or ``?``, which separate a label from a path in
    ``LABEL:PATH`` and ``LABEL?FRAGMENT`` references.
    """
    if not _LABEL_RE.re.match(label):
        raise UsageError(
            f"invalid label {label!r}: a label is 1-200 characters without spaces, ':' or '?'",
            hint="choose a label such as 'fig3-baseline' or leave --label out for a timestamp label",
        )
    return label


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """UTC, ISO 8601 with microseconds and a ``Z``: the one time format records use."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    try:
        # fromisoformat: strptime's first call imports _strptime and locale, ~10 ms of every run's start.
        return datetime.fromisoformat(text.removesuffix("Z") + "+00:00")
    except ValueError:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def time_ns(text: str) -> int:
    """A record time as nanoseconds since the epoch (exactly: no float on the way)."""
    moment = parse_time(text)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@model
class ParameterSource:
    """One place a parameter was set: a parameter file on the command line (``path``) or a ``key=value``
    argument. Sumatra's rule decides which one the program used: an argument overrides a file, and a
    later file overrides an earlier one."""

    source: str  # "file" | "argument"
    value: Any = None
    path: str | None = None  # the parameter file, relative to the project root

    def describe(self) -> str:
        return f"file {self.path}" if self.source == "file" else self.source


@model
class UntrackedFile:
    """A new file git does not ignore: named and measured; its content is in the diff only when it is
    text, small and does not look like a secret (``left_out`` says why not)."""

    path: str
    size: int | None = None
    sha256: str | None = (
        None  # None for a file left out as secret: a digest of a short secret is a guess oracle
    )
    in_diff: bool = False
    left_out: str | None = None


@model
class CodeVersion:
    """The code that ran: a git commit and, when the tree was dirty, the diff against it."""

    vcs: str | None = None  # "git", or None outside a repository
    commit: str | None = None
    commit_time: str | None = None
    branch: str | None = None
    remote: str | None = None
    dirty: bool = False
    diff_sha256: str | None = None  # the diff itself is a blob in the store
    diff_size: int = 0
    untracked: list[str] = field(default_factory=list)
    untracked_files: list[UntrackedFile] = field(default_factory=list)
    main_script: FileDigest | None = None


@model
class Executable:
    path: str | None = None
    name: str | None = None
    version: str | None = None


@model
class Platform:
    hostname: str = ""
    user: str = ""
    os: str = ""
    os_release: str = ""
    kernel: str = ""
    machine: str = ""
    cpu_model: str = ""
    cpu_cores: int = 0
    memory_bytes: int = 0
    python_version: str = ""
    python_executable: str = ""


@model
class StreamInfo:
    """stdout or stderr: its full size and digest; the store keeps its head and tail."""

    size: int = 0
    sha256: str | None = None
    stored_bytes: int = 0
    truncated: bool = False


@model
class Outcome:
    status: str = STATUS_RUNNING
    exit_status: int | None = None
    signal: int | None = None
    error: str | None = None
    stdout: StreamInfo = field(default_factory=StreamInfo)
    stderr: StreamInfo = field(default_factory=StreamInfo)


@model
class PublishedFile:
    name: str
    md5: str | None = None
    size: int | None = None
    source_path: str | None = None


@model
class Publication:
    """Where the record was archived (filled by the publish feature)."""

    service: str | None = None
    server: str | None = None
    deposition_id: str | None = None
    doi: str | None = None
    url: str | None = None
    published: str | None = None
    files: list[PublishedFile] = field(default_factory=list)


@model
class ImportedFrom:
    """Where an imported record (``kind = "imported"``) came from: another tool's record store, such as
    Sumatra's. The label stays the one that tool gave; this keeps what paperlink's own fields cannot hold."""

    tool: str = ""  # "sumatra"
    source: str = ""  # the store or export file it was read from
    project: str = ""  # the tool's project name
    label: str = ""  # the label there
    timestamp: str = ""  # the tool's own start time, as it wrote it
    # The folder (relative to the project root, or absolute) that the tool's output paths are relative
    # to: Sumatra's data store root, so that its ``LABEL:PATH`` names an output as it did there.
    datastore_root: str | None = None
    input_datastore_root: str | None = None
    outcome: str | None = None  # Sumatra's free-text outcome (``smt comment``)
    user: str | None = None
    repository: str | None = (
        None  # where the code lives, as the tool recorded it (credentials removed)
    )


@model
class TraceInfo:
    """How a traced run (``paperlink run --trace``) saw its files; the record of an untraced run has none."""

    tool: str = ""  # e.g. "strace 6.1"
    error: str | None = None  # why tracing fell back to comparing the output folders
    processes: int = 0  # processes the command started, itself included
    executed: list[str] = field(default_factory=list)  # programs it executed, in order
    deleted: list[str] = field(default_factory=list)  # files it removed
    system_files: int = 0  # files it read outside the project, summarised by the next three
    debian_packages: dict[str, str] = field(default_factory=dict)  # owning package -> version
    python_modules: list[str] = field(default_factory=list)  # top-level modules from site-packages
    other_folders: dict[str, int] = field(default_factory=dict)  # folder -> files read there
    left_out: list[str] = field(default_factory=list)  # what was not recorded, and why


@model
class Ambiguity:
    """An output another run of the project may have written too: it changed while that run was running
    and neither declared it with ``--output``, or both wrote it. The record does not claim it alone."""

    path: str
    runs: list[str] = field(default_factory=list)  # labels of the other runs


@model
class Record:
    """One run. ``label`` names it; everything but ``tags`` and ``reason`` is fixed once it is finished."""

    label: str
    project: str
    run_id: str  # a UUID: unique across machines even where labels collide
    kind: str = "command"  # command | python | rerun | imported
    argv: list[str] = field(default_factory=list)
    working_directory: str = ""  # relative to the project root
    executable: Executable = field(default_factory=Executable)
    code: CodeVersion = field(default_factory=CodeVersion)
    parameters: dict[str, Any] = field(default_factory=dict)  # the effective values
    # Where each parameter in ``parameters`` was set, in the order applied: the last one is effective.
    parameter_sources: dict[str, list[ParameterSource]] = field(default_factory=dict)
    inputs: list[FileDigest] = field(default_factory=list)
    outputs: list[FileDigest] = field(default_factory=list)
    declared_outputs: list[str] = field(default_factory=list)  # --output, as recorded paths
    ambiguous: list[Ambiguity] = field(default_factory=list)  # outputs another run may have written
    trace: TraceInfo | None = None  # set when the run was traced (--trace)
    # Where the command ran: the host, or for a container run the image's own OS, architecture and
    # interpreter; ``host`` is then the machine the container ran on (None: the same as ``platform``).
    platform: Platform = field(default_factory=Platform)
    host: Platform | None = None
    packages: dict[str, str] = field(default_factory=dict)
    # The run's packages beyond its interpreter (conda, dpkg, R…) and lock files: an Environment kept once
    # in the store under this digest (``paperlink env LABEL``), shared by every run made in it.
    environment_digest: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    start_time: str = ""
    end_time: str | None = None
    duration_seconds: float | None = None
    outcome: Outcome = field(default_factory=Outcome)
    reason: str | None = None
    tags: list[str] = field(default_factory=list)
    source_date_epoch: int | None = None
    container: ContainerRef | None = None
    job: SlurmJob | None = None  # the Slurm job it ran in
    mpi: MpiRun | None = None  # the MPI launch it made, or the rank it was
    publication: Publication | None = None
    links: dict[str, str] = field(default_factory=dict)  # e.g. {"rerun_of": "LABEL"}
    imported_from: ImportedFrom | None = None  # set on records another tool made (kind "imported")
    paperlink_version: str = ""
    schema_version: int = RECORD_SCHEMA_VERSION

    # -- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(self)
        data["$schema"] = RECORD_SCHEMA_ID
        # path_base64 appears only where a name is not UTF-8: every other record keeps the JSON (and
        # the digest) it had before the field existed.
        code, container = data["code"], data["container"] or {}
        for item in (
            *data["inputs"],
            *data["outputs"],
            code["main_script"],
            container.get("archive"),
        ):
            if item is not None and item.get("path_base64", "") is None:
                del item["path_base64"]
        # Left out when empty: a record made outside a cluster serialises (and digests) as before.
        for optional in ("job", "mpi", "host", "environment_digest", "trace"):
            if data[optional] is None:
                del data[optional]
        # Likewise an untraced run that no other run overlapped, and one that declared no outputs.
        for optional in ("ambiguous", "declared_outputs"):
            if not data[optional]:
                del data[optional]
        if data["container"] is not None and data["container"]["sif"] is None:
            del data["container"]["sif"]
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        return canonical_json(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        return from_dict(cls, {k: v for k, v in data.items() if k != "$schema"})

    @classmethod
    def from_json(cls, text: str) -> Record:
        return cls.from_dict(json.loads(text))

    def digest(self) -> str:
        """``sha256:`` of the canonical JSON without the mutable fields (tags, reason, publication)."""
        data = self.to_dict()
        for mutable in ("tags", "reason", "publication"):
            data.pop(mutable, None)
        return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()

    # -- queries ----------------------------------------------------------------------------------
    @property
    def command(self) -> str:
        return " ".join(self.argv)

    def parameter_source(self, key: str) -> str | None:
        """Where the effective value of parameter ``key`` came from, and what it overrode, e.g.
        ``argument (overrides file p2.json: 0.5)``; None when the record does not say."""
        sources = self.parameter_sources.get(key)
        if not sources:
            return None
        effective, *overridden = reversed(sources)
        text = effective.describe()
        if overridden:
            text += (
                " (overrides "
                + ", ".join(f"{s.describe()}: {canonical_json(s.value)}" for s in overridden)
                + ")"
            )
        return text

    def datastore_path(self, path: str) -> str | None:
        """An output's ``path`` as the tool that made an imported record named it: relative to its data
        store root (Sumatra's ``LABEL:PATH``); None for paperlink's own records and paths outside it."""
        root = self.imported_from.datastore_root if self.imported_from else None
        if root is None:
            return None
        prefix = root.rstrip("/") + "/"
        if root in ("", ".") or prefix == "/":
            return path
        return path[len(prefix) :] if path.startswith(prefix) else None

    def ambiguity(self, path: str) -> Ambiguity | None:
        """Why output ``path`` is not this record's alone (None when it is)."""
        for item in self.ambiguous:
            if item.path == path:
                return item
        return None

    def output(self, path: str) -> FileDigest | None:
        for item in self.outputs:
            if item.path == path:
                return item
        return None
