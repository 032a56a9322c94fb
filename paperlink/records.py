"""The record of one run: what ran, on what, what came out, where, when, why and how it ended.

Records are plain dataclasses that serialise to canonical JSON (sorted keys, fixed separators, UTC
timestamps), so a record's own digest is reproducible. The JSON follows ``paperlink/schema/record-v1.json``;
``schema_version`` says which. Sections that later features fill (``container``, ``publication``) are present
from the first version so that old records stay readable by new code and the other way round.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from paperlink.errors import UsageError

RECORD_SCHEMA_VERSION = 1
RECORD_SCHEMA_ID = "https://paperlink.dev/schema/record-v1.json"

STATUS_RUNNING = "running"
STATUS_FINISHED = "finished"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUS_KILLED = "killed"
STATUS_INCOMPLETE = "incomplete"
FINAL_STATUSES = (STATUS_FINISHED, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_KILLED)

_LABEL_RE = re.compile(r"^[^\s:?]{1,200}$")


def check_label(label: str) -> str:
    """Return ``label`` when it is a valid record label, else raise :class:`UsageError`.

    Labels are free text without whitespace, ``:`` or ``?``, which separate a label from a path in
    ``LABEL:PATH`` and ``LABEL?FRAGMENT`` references.
    """
    if not _LABEL_RE.match(label):
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


@dataclass
class FileDigest:
    """A file a run read or wrote, with its content digests (absent when it could not be read)."""

    path: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    kind: str = "file"  # file | symlink | missing | unreadable
    target: str | None = None  # where a symlink points
    error: str | None = None  # why it could not be read
    role: str | None = None  # e.g. "parameters" for a parameter file

    @property
    def sha256_ref(self) -> str | None:
        return f"sha256:{self.sha256}" if self.sha256 else None


@dataclass
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
    main_script: FileDigest | None = None


@dataclass
class Executable:
    path: str | None = None
    name: str | None = None
    version: str | None = None


@dataclass
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


@dataclass
class StreamInfo:
    """stdout or stderr: its full size and digest; the store keeps its head and tail."""

    size: int = 0
    sha256: str | None = None
    stored_bytes: int = 0
    truncated: bool = False


@dataclass
class Outcome:
    status: str = STATUS_RUNNING
    exit_status: int | None = None
    signal: int | None = None
    error: str | None = None
    stdout: StreamInfo = field(default_factory=StreamInfo)
    stderr: StreamInfo = field(default_factory=StreamInfo)


@dataclass
class ContainerRef:
    """The image a run used, by identity (filled by the containers feature)."""

    engine: str | None = None  # docker | podman | apptainer
    engine_version: str | None = None
    api_version: str | None = None
    reference: str | None = None  # as the user typed it
    pinned_reference: str | None = None  # what actually ran: name@sha256:… or the image ID
    image_id: str | None = None  # sha256 of the image config
    repo_digests: list[str] = field(default_factory=list)
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    created: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    dockerfile_sha256: str | None = None
    context_sha256: str | None = None
    archive: FileDigest | None = None
    inside_container: bool = False  # paperlink itself ran inside this container
    # How the run's container was set up (None for a container paperlink itself ran inside).
    network: str | None = None  # None: networking off
    memory_limit: str | None = None
    timeout_seconds: float | None = None
    user: str | None = None  # uid:gid the command ran as


@dataclass
class PublishedFile:
    name: str
    md5: str | None = None
    size: int | None = None
    source_path: str | None = None


@dataclass
class Publication:
    """Where the record was archived (filled by the publish feature)."""

    service: str | None = None
    server: str | None = None
    deposition_id: str | None = None
    doi: str | None = None
    url: str | None = None
    published: str | None = None
    files: list[PublishedFile] = field(default_factory=list)


@dataclass
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


@dataclass
class Ambiguity:
    """An output another run of the project may have written too: it changed while that run was running
    and neither declared it with ``--output``, or both wrote it. The record does not claim it alone."""

    path: str
    runs: list[str] = field(default_factory=list)  # labels of the other runs


@dataclass
class Record:
    """One run. ``label`` names it; everything but ``tags`` and ``reason`` is fixed once it is finished."""

    label: str
    project: str
    run_id: str  # a UUID: unique across machines even where labels collide
    kind: str = "command"  # command | python | rerun
    argv: list[str] = field(default_factory=list)
    working_directory: str = ""  # relative to the project root
    executable: Executable = field(default_factory=Executable)
    code: CodeVersion = field(default_factory=CodeVersion)
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[FileDigest] = field(default_factory=list)
    outputs: list[FileDigest] = field(default_factory=list)
    declared_outputs: list[str] = field(default_factory=list)  # --output, as recorded paths
    ambiguous: list[Ambiguity] = field(default_factory=list)  # outputs another run may have written
    trace: TraceInfo | None = None  # set when the run was traced (--trace)
    platform: Platform = field(default_factory=Platform)
    packages: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    start_time: str = ""
    end_time: str | None = None
    duration_seconds: float | None = None
    outcome: Outcome = field(default_factory=Outcome)
    reason: str | None = None
    tags: list[str] = field(default_factory=list)
    source_date_epoch: int | None = None
    container: ContainerRef | None = None
    publication: Publication | None = None
    links: dict[str, str] = field(default_factory=dict)  # e.g. {"rerun_of": "LABEL"}
    paperlink_version: str = ""
    schema_version: int = RECORD_SCHEMA_VERSION

    # -- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _plain(self)
        data["$schema"] = RECORD_SCHEMA_ID
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


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` for records: the same plain copy, without ``deepcopy`` of every leaf (a
    record with a thousand outputs is converted in a few milliseconds, not a hundred)."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    return value


def canonical_json(data: Any, *, indent: int | None = None) -> str:
    """Sorted keys, fixed separators, UTF-8 text: the same data always gives the same string."""
    if indent is None:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False)


T = TypeVar("T")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(
        cls
    )  # slow, and the same for every record: computed once per class


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from plain JSON data, ignoring keys a newer minor version added."""
    hints = _type_hints(cls)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value)  # type: ignore[arg-type]
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_convert(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _convert(item, v) for k, v in value.items()}
    return value
