"""The record of one run: what ran, on what, what came out, where, when, why and how it ended.

Records are plain dataclasses that serialise to canonical JSON (sorted keys, fixed separators, UTC
timestamps), so a record's own digest is reproducible. The JSON follows ``paperlink/core/schema/record-v1.json``;
``schema_version`` says which. Sections that later features fill (``container``, ``publication``) are present
from the first version so that old records stay readable by new code and the other way round.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

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
        return raw.decode("utf-8", "backslashreplace"), base64.b64encode(raw).decode("ascii")
    return path, None


@dataclass
class ParameterSource:
    """One place a parameter was set: a parameter file on the command line (``path``) or a ``key=value``
    argument. Sumatra's rule decides which one the program used: an argument overrides a file, and a
    later file overrides an earlier one."""

    source: str  # "file" | "argument"
    value: Any = None
    path: str | None = None  # the parameter file, relative to the project root

    def describe(self) -> str:
        return f"file {self.path}" if self.source == "file" else self.source


@dataclass
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
    untracked_files: list[UntrackedFile] = field(default_factory=list)
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
class SifObjectRef:
    """One data object of a SIF image as a record keeps it: its descriptor and the sha256 of its bytes."""

    id: int
    group: int
    type: str  # partition | signature | deffile | labels | generic-json | …
    size: int
    sha256: str
    name: str = ""
    offset: int = 0  # where its bytes start in the file
    partition_fs: str | None = None  # squashfs | ext3 | …
    partition_type: str | None = None  # primary-system | data | overlay | …
    partition_arch: str | None = None
    signature_hash: str | None = None
    signature_entity: str | None = None  # the signer's key fingerprint, hex


@dataclass
class SifImageRef:
    """An Apptainer/Singularity image (SIF) a run used, by its exact bytes (``sha256``) and its header."""

    path: str  # as the run named it (APPTAINER_CONTAINER, the apptainer command line, --sif)
    size: int
    sha256: str
    id: str  # the SIF header's UUID
    version: str
    arch: str
    created: str | None = None
    modified: str | None = None
    signed: bool = False
    deffile_sha256: str | None = (
        None  # the definition file itself is in ``paperlink image inspect``
    )
    labels: dict[str, Any] = field(default_factory=dict)
    objects: list[SifObjectRef] = field(default_factory=list)

    @property
    def sha256_ref(self) -> str:
        return f"sha256:{self.sha256}"


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
    sif: SifImageRef | None = None  # the SIF image, for Apptainer/Singularity runs


@dataclass
class SlurmJob:
    """The Slurm job (and step and task) a run was made in, from ``scontrol show job`` or, where that
    failed, the job's ``SLURM_*`` variables (``source`` says which)."""

    job_id: str  # this job's own id; an array task has one of its own besides the array's
    array_job_id: str | None = None
    array_task_id: int | None = None
    step_id: str | None = None  # inside ``srun``: the step, and the task's rank in it
    task_id: int | None = None  # SLURM_PROCID
    step_tasks: int | None = None
    job_name: str | None = None
    partition: str | None = None
    account: str | None = None
    cluster: str | None = None
    user: str | None = None
    node: str | None = None  # the node this task ran on
    node_list: str | None = None  # Slurm's host list expression, e.g. node[01-04]
    num_nodes: int | None = None
    ntasks: int | None = None
    cpus_per_task: int | None = None
    memory_per_cpu_mib: int | None = None
    memory_per_node_mib: int | None = None
    submit_host: str | None = None
    submit_dir: str | None = None
    work_dir: str | None = None
    command: str | None = None  # the batch script's path or the srun command, as Slurm shows it
    batch_script_sha256: str | None = None  # what ``scontrol write batch_script`` returns
    submit_time: str | None = None
    time_limit: str | None = None
    source: str = "environment"  # scontrol | environment

    @property
    def display_id(self) -> str:
        """Slurm's own name for the job: ``ARRAY_TASK`` (e.g. ``1234_7``) for an array task, else the id."""
        if self.array_job_id is not None and self.array_task_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return self.job_id

    @property
    def memory_per_task_mib(self) -> int | None:
        if self.memory_per_cpu_mib is None:
            return None
        return self.memory_per_cpu_mib * (self.cpus_per_task or 1)


@dataclass
class MpiRun:
    """An MPI launch the run made (``mpirun -n 4 …``), or the rank paperlink itself ran as."""

    launcher: str | None = None  # mpirun | mpiexec | srun …; None when paperlink ran inside a rank
    launcher_path: str | None = None
    implementation: str | None = None  # Open MPI | MPICH | Intel MPI | MVAPICH2
    version: str | None = None
    version_text: str | None = None  # the first line of the launcher's --version
    ranks: int | None = None  # -n/-np as given (None: the launcher's default)
    hosts: list[str] = field(default_factory=list)
    hosts_from: str | None = None  # --host | hostfile | slurm | local
    hostfile: str | None = None
    rank: int | None = None  # inside a rank: this process's rank in MPI_COMM_WORLD
    local_rank: int | None = None
    world_size: int | None = None


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
        data: dict[str, Any] = _plain(self)
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
        for optional in ("job", "mpi", "host", "environment_digest"):
            if data[optional] is None:
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
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False)
    if _SURROGATE.search(text):
        # Text from the OS (an argument, a symlink's target, an error naming a file) may carry bytes that
        # are not UTF-8 as lone surrogates, which no UTF-8 file or SQLite column can hold: each becomes
        # the text \xNN, as in FileDigest.path (file names keep their bytes in path_base64). Done before
        # sorting, so a record read back gives the same string.
        return canonical_json(_escape_text(data), indent=indent)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_text(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub(_escape_surrogate, value)
    if isinstance(value, dict):
        return {_escape_text(k): _escape_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_text(v) for v in value]
    return value


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # A byte that was not UTF-8 (Python's surrogateescape) as \xNN, any other lone surrogate as \uNNNN.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


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
