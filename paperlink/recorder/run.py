"""Capture a run: what ran, on what, what came out, where, when and how it ended, as a :class:`Record`.

:class:`RunCapture` does the work around any computation (``begin`` before it, ``finish`` after it);
:func:`capture_run` runs a command on the host with it, streaming the command's output live while keeping it.
The row is written when the run starts, so a run whose paperlink is killed shows as incomplete, never lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from paperlink.core.config import Project, parse_toml
from paperlink.core.envpackages import Package
from paperlink.core.filestate import (
    DigestCache,
    FileState,
    changed_paths,
    check_output_dirs,
    doubtful,
    entry_kind,
    snapshot_tree,
    store_files,
)
from paperlink.core.hashing import Digests, digest_bytes
from paperlink.core.programs import which
from paperlink.core.records import (
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_INTERRUPTED,
    STATUS_KILLED,
    Ambiguity,
    ContainerRef,
    Executable,
    FileDigest,
    Outcome,
    Platform,
    Record,
    StreamInfo,
    TraceInfo,
    check_label,
    format_time,
    parse_time,
    utc_now,
)
from paperlink.core.redaction import Redactor
from paperlink.core.signals import SignalTrap
from paperlink.core.store import RecordStore
from paperlink.errors import (
    CaptureError,
    ContainerError,
    ExitCode,
    ImageMismatch,
    RunNotRecorded,
    StoreError,
    StoreFull,
    UsageError,
)
from paperlink.recorder.code import snapshot_code
from paperlink.recorder.containerenv import detect_host_container
from paperlink.recorder.envscan import (
    EnvironmentCapture,
    capture_parts,
    image_dpkg_packages,
    pinned_image,
)
from paperlink.recorder.mpi import describe_mpi
from paperlink.recorder.options import ContainerOptions, RunOptions
from paperlink.recorder.overlap import attribute, other_runs
from paperlink.recorder.parameters import merge_parameters
from paperlink.recorder.platform import (
    ToolProbe,
    collect_platform,
    is_python,
    recorded_environment,
    version_flag,
)
from paperlink.recorder.slurm import capture_job, job_label_suffix
from paperlink.recorder.streams import StreamKeeper, drain, tee
from paperlink.version import __version__

if TYPE_CHECKING:  # tracing compiles its parser's patterns: only traced runs import it
    from paperlink.recorder.tracing import Tracer

PARAMETER_SUFFIXES = (
    ".json",
    ".toml",
    ".yaml",
    ".yml",
    ".ini",
    ".cfg",
    ".conf",
    ".param",
    ".params",
)
SCRIPT_SUFFIXES = (".py", ".r", ".jl", ".sh", ".pl", ".rb", ".js", ".m", ".ipynb", ".do", ".sas")
MAX_PARAMETER_FILE_BYTES = 1 << 20
# How long the output of a finished command is read for its end (see capture_run).
DRAIN_SECONDS = 5.0
_ALWAYS_SKIPPED = (".git", ".paperlink")
# When the store's file system fills up, a finished record keeps at most this much of each stream, then
# none: the record itself matters more than the command's output.
FULL_DISK_STREAM_BYTES = (64 << 10, 0)


def new_run_id() -> str:
    """A random (version 4) UUID, made without importing ``uuid``, which is slow to import."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def default_label(moment: Any) -> str:
    """Sumatra's timestamp label, ``YYYYMMDD-HHMMSS``, in UTC so labels sort the same on every machine."""
    return str(moment.strftime("%Y%m%d-%H%M%S"))


class RunCapture:
    """Records one computation: call :meth:`begin` before it and :meth:`finish` after it."""

    def __init__(
        self,
        project: Project,
        store: RecordStore,
        argv: list[str],
        options: RunOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        executable: str | None = None,
        probe: bool = True,
        container: ContainerRef | None = None,
        tracer: Tracer | None = None,
        image_packages: list[Package] | None = None,
        platform: Platform | None = None,
    ) -> None:
        options = options or RunOptions()
        self.project = project
        self.store = store
        self.argv = list(argv)
        self.kind = options.kind
        self.label = check_label(options.label) if options.label is not None else None
        self.reason = options.reason
        self.tags = [check_label(tag) for tag in options.tags]
        self.inputs = [Path(p) for p in options.inputs]
        self.outputs = [Path(p) for p in options.outputs]
        self.environ = dict(os.environ if environ is None else environ)
        # The host's secrets too for a container run: a value can reach the command through its arguments.
        self.redactor = Redactor.from_environ({**os.environ, **self.environ})
        self.source_date_epoch = options.source_date_epoch
        self.executable = executable
        # Probing the host's interpreter and packages is wrong for a command that runs in a container.
        self.probe = probe
        self.links = dict(options.links or {})
        # The image a container run uses; None: the host, which may itself be a container.
        self.container = container
        self.sif = options.sif  # named with --sif (recorder.sif_environment finds the others)
        # A container run's own platform (the image's OS, architecture, interpreter); None: the host's.
        self.platform = platform
        self.on_progress = options.on_progress
        # The Debian packages of the container run's image (read through the engine), if it has dpkg.
        self.image_packages = image_packages
        self._environment: EnvironmentCapture | None = None
        self.cache = DigestCache(store, options.on_progress, root=project.root)
        self.record: Record | None = None
        self._before: dict[str, FileState] = {}
        self._skip: set[str] = set()
        self._doubt: dict[str, str] = {}
        self._probe: _Probe | None = None
        self._host_packages = True  # whether the probed packages are the command's
        self._t0 = 0.0
        # Traces the command (paperlink run --trace); None after begin() if tracing is not possible here.
        self.tracer = tracer
        self._running_at_start: set[str] = set()
        self._blobs: list[tuple[bytes, str]] = []
        # Tool-cache entries learnt during the run, written in its last transaction.
        self._cache_rows: list[tuple[str, str]] = []

    # -- before ---------------------------------------------------------------------------------------
    def begin(self) -> Record:
        """Snapshot everything the run starts from and write the running record; returns it."""
        try:
            return self._begin()
        except StoreError as exc:
            exc.hint = (
                f"the command did not run; {exc.hint}" if exc.hint else "the command did not run"
            )
            raise

    def _begin(self) -> Record:
        start = utc_now()
        self._t0 = time.perf_counter()
        project = self.project
        missing = [str(p) for p in self.inputs if not p.exists()]
        if missing:
            raise CaptureError(
                f"declared input not found: {', '.join(missing)}",
                hint="check the --input paths (relative to the current folder)",
            )
        self._skip = store_files(self.store.path, project.root)
        check_output_dirs(project)
        if self.tracer is None:
            self._snapshot_before()
        # Arguments and parameters first: the secrets found there are then hunted in everything else.
        argv = self.redactor.argv(self.argv)
        script, parameter_files, values = self._script_and_parameters()
        file_inputs: list[FileDigest] = []
        from_files: list[tuple[str, dict[str, Any]]] = []
        for path in parameter_files:
            item = self._file_digest(path, role="parameters")
            file_inputs.append(item)
            content = path.read_bytes()
            parsed = _parse_parameters(path, content)
            redacted = {key: self.redactor.value(key, value) for key, value in parsed.items()}
            from_files.append((item.path, redacted))
            # The file itself is kept for reruns only when it holds no secret (else rerun uses the
            # project's copy, checked against its sha256).
            text = content.decode("utf-8", "replace")
            if item.sha256 and redacted == parsed and self.redactor.secret_line(text) is None:
                self._blobs.append((content, item.sha256))
        # Sumatra's rule: key=value arguments override the parameter files' entries.
        parameters, parameter_sources = merge_parameters(from_files, values)
        reason = self.redactor.text(self.reason) if self.reason is not None else None
        tags = sorted({self.redactor.text(tag) for tag in self.tags})
        label = self.label
        if label is not None and self.redactor.text(label) != label:
            raise UsageError(
                "the label holds a secret value",
                hint="choose a label without the token or password in it",
            )
        code = snapshot_code(
            project.root, tuple(project.output_dirs), redactor=self.redactor, hasher=self._sha256
        )
        trace = self._trace_info()  # after the git snapshot: the permission check ran meanwhile
        if code.diff:
            code.version.diff_sha256 = digest_bytes(code.diff).sha256
            code.version.diff_size = len(code.diff)
            self._blobs.append((code.diff, code.version.diff_sha256))
        if script is not None:
            code.version.main_script = self._file_digest(script, role="script")
        inputs = [self._file_digest(p) for p in self.inputs] + file_inputs
        epoch = self._epoch(code.version.commit_time, start)
        self.environ["SOURCE_DATE_EPOCH"] = str(epoch)
        if self.probe:
            self._probe = _Probe(
                self.store, self.executable or _resolve(self.argv, self.environ), self.environ
            )
        # The job and the rank are paperlink's own (a container run's environ is the image's).
        host_environ = self.environ if self.container is None else os.environ
        job = capture_job(host_environ)
        mpi = describe_mpi(self.argv, host_environ, cache=self.store, probe=self.probe)
        container = self.container or self._sif_container() or detect_host_container()
        host = collect_platform()
        if self.platform is None and container is not None and container.sif is not None:
            from paperlink.recorder.sif_environment import sif_in_command, sif_platform

            if sif_in_command(self.argv) is not None:
                # 'apptainer exec IMAGE CMD': CMD runs in the image, so the platform is the image's,
                # and the host's Python packages are not its packages.
                self.platform = sif_platform(container.sif, project.root, self.store)
                self._host_packages = False
        self._environment = self._environment_capture()
        record = Record(
            label=label or default_label(start) + job_label_suffix(job, mpi),
            project=project.name,
            run_id=new_run_id(),
            kind=self.kind,
            argv=argv,
            working_directory=project.relative(Path.cwd()),
            executable=Executable(
                path=self._probe.executable if self._probe else self.executable,
                name=self.redactor.text(Path(self.argv[0]).name) if self.argv else None,
            ),
            code=code.version,
            parameters=parameters,
            parameter_sources=parameter_sources,
            inputs=inputs,
            platform=self.platform or host,
            host=host if self.platform is not None else None,
            environment=recorded_environment(self.environ, project.env_allow, self.redactor),
            start_time=format_time(start),
            reason=reason,
            tags=tags,
            source_date_epoch=epoch,
            container=container,
            job=job,
            mpi=mpi,
            links=dict(self.links),
            paperlink_version=__version__,
            declared_outputs=[project.relative(p) for p in self.outputs],
            trace=trace,
        )
        # Before the command runs, so that its record can be finished even if the command fills the disk.
        self.store.reserve_space()
        # Runs of the project going on now may write into the same folders (paperlink.recorder.overlap).
        self._running_at_start = self.store.running_labels()
        with self.store.transaction():  # one transaction: blobs and the running row
            for data, sha256 in self._blobs:
                self.store.put_blob(data, sha256)
            record.label = self.store.start_record(record, label_is_default=label is None)
        self._blobs = []
        # 'paperlink value' (any paperlink command) the program calls finds this store, also from a
        # rerun's scratch copy, which has no store of its own. Not recorded: it names this machine's path.
        self.environ["PAPERLINK_STORE"] = self.store.url  # a server's URL without its password
        if self._probe is not None:
            self._probe.start()
        if self._environment is not None:
            self._environment.start()
        self.record = record
        return record

    def _snapshot_before(self) -> None:
        project = self.project
        self._before = _without_skipped(
            snapshot_tree(project.root, project.output_dirs, self._skip), project.output_dirs
        )
        doubt_paths = [project.root / p for p in doubtful(self._before)]
        for path, found in self.cache.digests(doubt_paths).items():
            if isinstance(found, Digests):
                self._doubt[project.relative(path)] = found.sha256

    def _trace_info(self) -> TraceInfo | None:
        """What the record says of tracing; falls back to comparing the output folders when strace is
        missing or ptrace is refused."""
        if self.tracer is None:
            return None
        problem = self.tracer.problem()
        info = TraceInfo(tool=self.tracer.version)
        if problem is not None:
            info.error = f"not traced: {problem}; the outputs are the files that changed in the output folders"
            self.tracer = None
            self._snapshot_before()
        return info

    def _environment_capture(self) -> EnvironmentCapture | None:
        parts = capture_parts(self.project.settings)
        if not parts:
            return None
        ref = self.container
        return EnvironmentCapture(
            self.store,
            self.project.root,
            self.argv,
            self.environ,
            parts=parts,
            # A container run (or 'apptainer exec IMAGE') uses the image's packages, not the host's.
            host=ref is None and self._host_packages,
            skip_dirs=self.project.output_dirs,
            image=pinned_image(ref) if ref else None,
            image_packages=self.image_packages,
            image_source=f"image {ref.image_id}" if ref else None,
        )

    def _sif_container(self) -> ContainerRef | None:
        if self.container is not None:
            return None
        if self.sif is None and not _maybe_sif(self.argv):
            return None  # the common case, without importing the SIF reader
        from paperlink.recorder.sif_environment import sif_container

        return sif_container(
            self.argv,
            sif=self.sif,
            root=self.project.root,
            store=self.store,
            on_progress=self.on_progress,
        )

    def _epoch(self, commit_time: str | None, start: Any) -> int:
        if self.source_date_epoch is not None:
            return self.source_date_epoch
        given = self.environ.get("SOURCE_DATE_EPOCH")
        if given and given.isdigit():
            return int(given)
        if self.project.source_date_epoch is not None:
            return self.project.source_date_epoch
        if commit_time:
            return int(parse_time(commit_time).timestamp())
        return int(start.timestamp())

    def _script_and_parameters(self) -> tuple[Path | None, list[Path], dict[str, Any]]:
        """The main script (an interpreter's first file argument, or the command itself when it is a
        script), parameter files named after it, and ``key=value`` arguments."""
        if not self.argv:
            return None, [], {}
        first = Path(self.argv[0])
        rest = self.argv[1:]
        script: Path | None = None
        if first.suffix.lower() in SCRIPT_SUFFIXES and first.is_file():
            script = first
        elif is_python(self.argv[0]) or version_flag(self.argv[0]) is not None:
            for index, arg in enumerate(rest):
                if arg == "-m" or arg == "-c":
                    break
                if not arg.startswith("-") and Path(arg).is_file():
                    script, rest = Path(arg), rest[index + 1 :]
                    break
        files: list[Path] = []
        values: dict[str, Any] = {}
        for arg in rest:
            candidate = Path(arg)
            if candidate.suffix.lower() in PARAMETER_SUFFIXES and candidate.is_file():
                if candidate.stat().st_size <= MAX_PARAMETER_FILE_BYTES:
                    files.append(candidate)
            elif "=" in arg and not arg.startswith("-"):
                key, _, value = arg.partition("=")
                if key.replace(".", "_").replace("-", "_").isidentifier():
                    values[key] = self.redactor.value(key, _typed(value))
        return script, files, values

    def _file_digest(self, path: Path, *, role: str | None = None) -> FileDigest:
        rel = self.project.relative(path)
        if path.is_symlink() and not path.exists():
            return FileDigest.at(rel, kind="symlink", target=os.readlink(path), role=role)
        if path.is_dir():
            raise CaptureError(
                f"{rel} is a folder; name the files in it", hint="use one --input per file"
            )
        found = self.cache.digests([path])[path]
        if isinstance(found, CaptureError):
            return FileDigest.at(rel, kind="unreadable", error=found.message, role=role)
        return FileDigest.at(
            rel,
            size=found.size,
            sha256=found.sha256,
            md5=found.md5,
            sha1=found.sha1,
            role=role,
        )

    # -- after ----------------------------------------------------------------------------------------
    def finish(
        self,
        *,
        exit_status: int | None,
        status: str,
        signal_number: int | None = None,
        error: str | None = None,
        stdout: StreamKeeper | None = None,
        stderr: StreamKeeper | None = None,
        extra_outputs: Iterable[str | os.PathLike[str]] = (),
    ) -> Record:
        """Find and digest the outputs, complete the record and store it; returns the finished record."""
        record = self.record
        if record is None:
            raise UsageError("RunCapture.finish() called before begin()")
        end = utc_now()
        record.end_time = format_time(end)
        record.duration_seconds = round(time.perf_counter() - self._t0, 6)
        paths = self._traced_outputs(record) if self.tracer is not None else self._changed_outputs()
        declared = [*self.outputs, *(Path(p) for p in extra_outputs)]
        for path in declared:
            for item in _expand(path):
                rel = self.project.relative(item)
                if rel not in paths and rel not in self._skip:
                    paths.append(rel)
        outputs = self._output_digests(paths)
        record.outcome = Outcome(
            status=status,
            exit_status=exit_status,
            signal=signal_number,
            error=self.redactor.text(error) if error else error,
        )
        if self._probe is not None:
            record.executable.version, record.packages = self._probe.result()
            if not self._host_packages:
                record.packages = {}
        if self._environment is not None:
            record.environment_digest = self._environment.store_environment(
                self.store, record.packages
            )
        self._store_finished(record, outputs, extra_outputs, {"stdout": stdout, "stderr": stderr})
        return record

    def _store_finished(
        self,
        record: Record,
        outputs: list[FileDigest],
        extra_outputs: Iterable[str | os.PathLike[str]],
        keepers: dict[str, StreamKeeper | None],
    ) -> None:
        """Finish the record with its streams in one transaction; when the store's disk is full, again
        with the streams cut short, then without them. Raises :class:`RunNotRecorded` when even that
        does not fit (the row stays, shown as incomplete)."""
        kept = {name: keeper for name, keeper in keepers.items() if keeper is not None}
        changed = {item.path: _change_time(self._absolute(item.fs_path)) for item in outputs}
        own = [*record.declared_outputs, *(self.project.relative(p) for p in extra_outputs)]
        error = record.outcome.error
        full: StoreFull | None = None
        for budget in (None, *FULL_DISK_STREAM_BYTES) if kept else (None, 0):
            for name, keeper in kept.items():
                setattr(record.outcome, name, keeper.info(budget))
            if budget is not None and kept:
                note = "the record store's disk was full: " + (
                    f"stdout and stderr are kept only up to {budget} bytes each"
                    if budget
                    else "stdout and stderr were not kept"
                )
                record.outcome.error = f"{error}; {note}" if error else note
            try:
                # One transaction: which outputs are this run's is decided with every other run's record
                # as it is now, and written before another run can decide from this one's. The caches
                # only save work: after a full disk they are left out.
                with self.store.transaction():
                    self._attribute(record, outputs, changed, own)
                    self.store.finish_record(
                        record, streams=self._redacted_streams(record, kept, budget)
                    )
                    if budget is None:
                        if self._probe is not None:
                            self._probe.remember()
                        for key, value in self._cache_rows:
                            self.store.cache_put(key, value)
                        self.cache.flush()
                return
            except StoreFull as exc:
                full = exc
        assert full is not None
        record.outcome.error = error
        raise RunNotRecorded(
            f"{full.message}: the record of run '{record.label}' could not be completed and shows as "
            f"incomplete; the command's exit status ({record.outcome.exit_status}) is passed through",
            exit_status=record.outcome.exit_status,
            hint=full.hint,
        ) from full

    def _attribute(
        self,
        record: Record,
        outputs: list[FileDigest],
        changed: dict[str, int],
        own: list[str],
    ) -> None:
        """Decide which changed files are this run's alone, against the runs that overlapped it."""
        rows = self.store.overlapping(record.start_time, self._running_at_start, record.label)
        others = other_runs(rows, record.project, self._running_at_start)
        share = attribute(changed, own_declared=own, traced=self.tracer is not None, others=others)
        record.outputs = sorted(
            (item for item in outputs if item.path not in share.dropped),
            key=lambda item: item.path,
        )
        record.ambiguous = [Ambiguity(path, runs) for path, runs in share.ambiguous.items()]
        for label, shared in share.notify.items():
            self.store.mark_ambiguous(label, shared, by=record.label)

    def _redacted_streams(
        self, record: Record, kept: dict[str, StreamKeeper], budget: int | None
    ) -> dict[str, dict[str, bytes]]:
        """Each stream's head and tail, redacted; its size and sha256 stay those of what ran."""
        streams = {}
        for name, keeper in kept.items():
            info: StreamInfo = getattr(record.outcome, name)
            parts = self.redactor.stream_parts(keeper.parts(budget), truncated=info.truncated)
            info.stored_bytes = sum(len(part) for part in parts.values())
            streams[name] = parts
        return streams

    def _sha256(self, path: Path) -> str | None:
        found = self.cache.digests([path])[path]
        return found.sha256 if isinstance(found, Digests) else None

    def _absolute(self, rel: str) -> str:
        return rel if rel.startswith("/") else f"{self.project.root}/{rel}"

    def _changed_outputs(self) -> list[str]:
        """Files created or changed in the output folders since :meth:`begin`."""
        root = self.project.root
        after = _without_skipped(
            snapshot_tree(root, self.project.output_dirs, self._skip), self.project.output_dirs
        )
        # Doubtful files that look unchanged are hashed again, all in one call to the cache.
        again = [p for p in self._doubt if self._before.get(p) == after.get(p) and p in after]
        now = self.cache.digests([root / p for p in again])

        def rehash(rel: str) -> str | None:
            found = now.get(root / rel)
            return found.sha256 if isinstance(found, Digests) else None

        return changed_paths(self._before, after, self._doubt, rehash)

    def _traced_outputs(self, record: Record) -> list[str]:
        """The files the traced command wrote (its outputs); the project files it read become inputs."""
        from paperlink.recorder.tracefiles import sort_files, summarise_system_cached, utf8_only

        assert self.tracer is not None and record.trace is not None
        info = record.trace
        trace = self.tracer.collect(str(Path.cwd()))
        if not trace.started:
            info.error = "strace recorded nothing: the command was not traced; only --output files are outputs"
            return []
        home = self.environ.get("HOME")
        caches = [self.environ.get("XDG_CACHE_HOME") or (f"{home}/.cache" if home else "")]
        files = sort_files(trace, self.project.root, skip=_ALWAYS_SKIPPED,
                           cache_dirs=[c for c in caches if c])  # fmt: skip
        left_out: list[str] = []
        named = files.outputs  # a name that is not UTF-8 is kept, as FileDigest.at encodes it
        info.processes = trace.processes
        info.executed = utf8_only(list(trace.executed), left_out, "executed")
        info.deleted = [
            self.project.relative(p) for p in utf8_only(files.deleted, left_out, "deleted")
        ]
        system = utf8_only(files.system, left_out, "read outside the project")
        summary = summarise_system_cached(self.store, system, self._cache_rows)
        info.system_files = summary.files
        info.debian_packages = summary.debian_packages
        info.python_modules = summary.python_modules
        info.other_folders = summary.other_folders
        known = {item.path for item in record.inputs}
        if record.code.main_script is not None:
            known.add(record.code.main_script.path)
        reads = [Path(p) for p in files.inputs if self.project.relative(p) not in known]
        changed = set(files.changed_inputs)
        record.inputs.extend(self._read_digests(reads, changed))
        info.left_out = left_out
        return [self.project.relative(p) for p in named]

    def _read_digests(self, paths: list[Path], changed: set[str]) -> list[FileDigest]:
        found = self.cache.digests([p for p in paths if p.is_file() and str(p) not in changed])
        items = []
        for path in paths:
            rel = self.project.relative(path)
            digests = found.get(path)
            if str(path) in changed:
                items.append(FileDigest.at(rel, kind="overwritten", role="read",
                                           error="the run wrote it after reading it: what it read is gone"))  # fmt: skip
            elif digests is None:
                items.append(FileDigest.at(rel, kind="missing", role="read",
                                           error="removed after the run read it"))  # fmt: skip
            else:
                items.append(_digest_item(rel, digests, role="read"))
        return items

    def _output_digests(self, rels: list[str]) -> list[FileDigest]:
        """Digests of the outputs, all files in one call to the cache (one query, hashed in parallel)."""
        items: dict[str, FileDigest] = {}
        files: dict[str, Path] = {}
        for rel in rels:
            path = self._absolute(rel)
            try:
                st = os.lstat(path)
            except OSError:
                items[rel] = FileDigest.at(
                    rel, kind="missing", error="declared output was not written"
                )
                continue
            kind = entry_kind(st.st_mode)
            if kind == "symlink":
                items[rel] = FileDigest.at(rel, kind="symlink", target=os.readlink(path))
            elif kind != "file":
                # A FIFO, socket or device is recorded by its type and never opened: reading it could
                # block for ever or never end.
                items[rel] = FileDigest.at(rel, kind=kind)
            else:
                files[rel] = Path(path)
        found = self.cache.digests(list(files.values()))
        for rel, file in files.items():
            items[rel] = _digest_item(rel, found[file])
        return [items[rel] for rel in rels]


def _without_skipped(states: dict[str, FileState], folders: Iterable[str]) -> dict[str, FileState]:
    """``states`` without git's and paperlink's own folders, which only an output folder ``.`` (or one
    of them) can reach: with tens of thousands of outputs the filter is not run for nothing."""
    if not any(
        (rel := os.path.normpath(f)) == "." or rel.startswith(_ALWAYS_SKIPPED) for f in folders
    ):
        return states
    return {p: s for p, s in states.items() if not p.startswith(_ALWAYS_SKIPPED)}


def _digest_item(rel: str, found: Digests | CaptureError, role: str | None = None) -> FileDigest:
    if isinstance(found, CaptureError):
        return FileDigest.at(rel, kind="unreadable", error=found.message, role=role)
    return FileDigest.at(rel, size=found.size, sha256=found.sha256, md5=found.md5,
                         sha1=found.sha1, role=role)  # fmt: skip


def _change_time(path: str) -> int:
    """When the file last changed (ctime: no program can set it back), 0 when it is not there."""
    try:
        return os.lstat(path).st_ctime_ns
    except OSError:
        return 0


def run_warnings(record: Record) -> list[str]:
    """What the user should know after a run: tracing that fell back, outputs it cannot claim alone."""
    warnings = []
    if record.trace is not None and record.trace.error:
        warnings.append(record.trace.error)
    if record.trace is not None:
        warnings.extend(f"{note}: left out of the record" for note in record.trace.left_out)
    for item in record.ambiguous:
        warnings.append(
            f"{item.path} is ambiguous: run(s) {', '.join(item.runs)} of this project ran at the same "
            "time and may have written it; the record does not claim it alone (declare outputs with "
            "--output, or run with --trace)"
        )
    return warnings


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_symlink() or not p.is_dir())
    return [path]


def _typed(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_parameters(path: Path, content: bytes) -> dict[str, Any]:
    """Flattened ``dotted.key: value`` pairs of a JSON or TOML parameter file (other formats: none)."""
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(content)
        elif path.suffix.lower() == ".toml":
            data = parse_toml(content.decode("utf-8"))
        else:
            return {}
    except (ValueError, UnicodeDecodeError):
        return {}
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix or path.name] = value

    walk("", data)
    return flat


def _maybe_sif(argv: list[str]) -> bool:
    """Whether the run may use an Apptainer/Singularity image: a cheap test before importing sif_environment."""
    wrapped = bool(argv) and Path(argv[0]).name in ("apptainer", "singularity")
    return wrapped or any(os.environ.get(f"{n}_CONTAINER") for n in ("APPTAINER", "SINGULARITY"))


def _resolve(argv: list[str], environ: Mapping[str, str]) -> str | None:
    if not argv:
        return None
    if os.sep in argv[0]:
        # A path, not a name to look up: executing it reports "not executable" (126) if it is not.
        return os.path.abspath(argv[0]) if Path(argv[0]).exists() else None
    return which(argv[0], path=environ.get("PATH"))


class _Probe:
    """Finds the interpreter's version and packages in a thread while the run goes on, through the cache."""

    def __init__(
        self, store: RecordStore, executable: str | None, environ: Mapping[str, str]
    ) -> None:
        self.executable = executable
        python = (
            executable
            if executable and is_python(executable)
            else which("python3", path=environ.get("PATH"))
        )
        self._version_probe = ToolProbe(executable, environ) if executable else None
        self._package_probe = ToolProbe(python or sys.executable, environ)
        self._store = store
        keys = self._version_probe.cache_keys() if self._version_probe else None
        self._version_key = keys[0] if keys else None
        # For a Python command both probes ask the same interpreter: its keys are computed once.
        same = keys is not None and python == executable
        self._packages_key = keys[1] if same and keys else self._package_probe.cache_keys()[1]
        cached = store.cache_get_many(k for k in (self._version_key, self._packages_key) if k)
        self._version = cached.get(self._version_key) if self._version_key else None
        packages = cached.get(self._packages_key)
        self._packages: dict[str, str] | None = json.loads(packages) if packages else None
        self._thread: threading.Thread | None = None
        self._found_version: str | None = None

    def start(self) -> None:
        need_version = self._version_probe is not None and self._version is None
        if need_version or self._packages is None:
            self._thread = threading.Thread(target=self._work, name="paperlink-probe", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        if self._version_probe is not None and self._version is None:
            self._found_version = self._version_probe.version() or ""
        if self._packages is None:
            self._packages = self._package_probe.packages()

    def result(self) -> tuple[str | None, dict[str, str]]:
        if self._thread is not None:
            self._thread.join()
            if self._found_version is not None:
                self._version = self._found_version
        return (self._version or None), dict(self._packages or {})

    def remember(self) -> None:
        """Cache what the thread found (in the caller's transaction)."""
        if self._thread is None:
            return
        if self._found_version is not None and self._version_key:
            self._store.cache_put(self._version_key, self._found_version)
        if self._packages is not None:
            self._store.cache_put(self._packages_key, json.dumps(self._packages))


def capture_run(
    project: Project,
    store: RecordStore,
    argv: list[str],
    options: RunOptions | None = None,
) -> Record:
    """Run ``argv`` on the host and record it. Output streams to the sinks live and into the store.

    ``options.sif`` names the Apptainer/Singularity image the command uses
    (:mod:`paperlink.recorder.sif_environment` also finds one on the command line or around paperlink).
    With ``options.trace`` the command runs under strace: its outputs are the files it wrote, wherever
    they are, and the project files it read are inputs (``record.trace.error`` says why not, if it could
    not be traced: the outputs are then found as without it).

    A command that cannot be found (127) or executed (126) still leaves a failed record. Raises
    :class:`CaptureError` or :class:`UsageError` for bad arguments before anything runs.
    """
    if not argv:
        raise UsageError(
            "no command given", hint="put the command after '--': paperlink run -- python3 fig.py"
        )
    options = options or RunOptions()
    tracer = None
    if options.trace:
        from paperlink.recorder.tracing import Tracer

        # Made first: whether ptrace is permitted is checked while begin() reads the code and platform.
        tracer = Tracer(os.environ)
    run = RunCapture(project, store, argv, options, tracer=tracer)
    record = run.begin()
    if options.on_start is not None:
        options.on_start(record)
    executable = run._probe.executable if run._probe else None
    if executable is None:
        return run.finish(
            exit_status=ExitCode.COMMAND_NOT_FOUND,
            status=STATUS_FAILED,
            error=f"command not found: {argv[0]}",
        )
    limit = project.max_stream_bytes
    out_keeper, err_keeper = StreamKeeper(limit), StreamKeeper(limit)
    command = [executable, *argv[1:]]
    # A program that cannot be executed is left to Popen, which says why (126/127), as untraced.
    if run.tracer is not None and Path(executable).is_file() and os.access(executable, os.X_OK):
        command = run.tracer.command(command)
    try:
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=run.environ,
        )
    except OSError as exc:
        code = (
            ExitCode.NOT_EXECUTABLE
            if isinstance(exc, PermissionError)
            else ExitCode.COMMAND_NOT_FOUND
        )
        return run.finish(
            exit_status=code,
            status=STATUS_FAILED,
            error=f"cannot execute {argv[0]}: {exc.strerror}",
        )
    assert child.stdout is not None and child.stderr is not None
    pumps = [
        tee(child.stdout, options.stdout_sink, out_keeper),
        tee(child.stderr, options.stderr_sink, err_keeper),
    ]
    received: list[int] = []
    with _forward_signals(child, received, traced=command[0] != executable):
        returncode = child.wait()
        # What the command wrote last (its clean-up after Ctrl-C, say) is read to the end before the
        # record is made, still inside the trap so that a second Ctrl-C cannot cut it short, and for a
        # bounded time, since a background process the command started may hold the pipes open.
        complete = drain(pumps, DRAIN_SECONDS)
    status, exit_status, signal_number = _outcome(returncode, received)
    open_pipes = (
        f"stdout/stderr were still open {DRAIN_SECONDS:g} s after the command ended (a process it "
        "started in the background holds them); the record keeps what came until then"
    )
    return run.finish(
        exit_status=exit_status,
        status=status,
        signal_number=signal_number,
        error=None if complete else open_pipes,
        stdout=out_keeper,
        stderr=err_keeper,
    )


def _outcome(returncode: int, received: list[int]) -> tuple[str, int, int | None]:
    if returncode < 0:
        number = -returncode
        status = STATUS_INTERRUPTED if number == signal.SIGINT or received else STATUS_KILLED
        return status, 128 + number, number
    if received and returncode != 0:
        return STATUS_INTERRUPTED, returncode, received[0]
    return (STATUS_FINISHED if returncode == 0 else STATUS_FAILED), returncode, None


class _forward_signals(SignalTrap):
    """While the child runs (and its output is drained), SIGTERM and SIGHUP sent to paperlink go to the
    child too, and Ctrl-C (which the terminal already sends to the child, in the same process group) does
    not kill paperlink before it has recorded how the child ended."""

    def __init__(
        self, child: subprocess.Popen[bytes], received: list[int], *, traced: bool = False
    ) -> None:
        super().__init__(received)
        self.child = child
        self.traced = traced  # the child is strace, which leaves fatal signals to the command (-I3)

    def handle(self, number: int) -> None:
        # A first SIGINT is not passed on: Ctrl-C, or a kill of the process group, has reached the child
        # already, and a second copy would interrupt its own clean-up and lose its last lines. Without a
        # terminal, a repeated SIGINT (`kill -INT` twice) is passed on, for a child that ignored the first.
        if number == signal.SIGINT and (sys.stdin.isatty() or self.received.count(number) < 2):
            return
        if not self.traced:
            with contextlib.suppress(OSError):
                self.child.send_signal(number)
            return
        from paperlink.recorder.tracing import traced_children

        for pid in traced_children(self.child.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, number)


def capture_container_run(
    project: Project,
    store: RecordStore,
    argv: list[str],
    container: ContainerOptions,
    options: RunOptions | None = None,
) -> Record:
    """Run ``argv`` in a container and record it, with the image's identity in ``record.container``.

    The image is ``container.image`` (a tag, digest reference or image ID, resolved to its image ID before
    the run) or built from ``container.dockerfile``. The project is mounted at the same path inside, the working folder is
    kept, the command runs as the calling user with networking off unless ``network`` names one, and
    ``SOURCE_DATE_EPOCH`` is set as for host runs.
    Raises :class:`EngineUnavailable`, :class:`ImageNotFound`, :class:`ContainerError` or
    :class:`UsageError` before anything runs; a container killed for memory or by the timeout, or
    stopped because paperlink was interrupted, still leaves a record saying so.
    """
    # The docker SDK takes a while to import; host runs never pay for it.
    from paperlink.containers import engine as containers

    if not argv:
        raise UsageError(
            "no command given",
            hint="put the command after '--': paperlink run --image IMG -- python3 fig.py",
        )
    options = options or RunOptions()
    image, dockerfile, network = container.image, container.dockerfile, container.network
    memory, timeout, engine = container.memory, container.timeout, container.engine
    if (image is None) == (dockerfile is None):
        raise UsageError("give either an image or a Dockerfile, not both (or neither)")
    own_engine = engine is None
    if engine is None:
        engine = containers.connect_engine(containers.engine_url(project.settings))
    try:
        if dockerfile is not None:
            tag = f"paperlink/{_slug(project.name)}:latest"
            ref = containers.build_image(
                engine, Path(dockerfile), tag=tag, build_args=container.build_args
            )
        else:
            assert image is not None
            ref = containers.resolve_image(engine, image)
        expected = container.expected_image_id
        if expected is not None and ref.image_id != expected:
            raise ImageMismatch(f"{image} is {ref.image_id}, not {expected}")
        image_id = str(ref.image_id)
        attrs = containers.inspect_image(engine, image_id)
        image_env = containers.image_environment(attrs)
        image_packages = None
        if "dpkg" in capture_parts(project.settings):
            image_packages = image_dpkg_packages(
                store, image_id, lambda path: containers.read_image_file(engine, image_id, path)
            )
        user = f"{os.getuid()}:{os.getgid()}"
        from paperlink.recorder.image_platform import image_platform

        platform, interpreter = image_platform(
            engine, image_id, attrs, argv, root=project.root, user=user, cache=store
        )
        ref.network, ref.memory_limit, ref.timeout_seconds, ref.user = (
            network,
            memory,
            timeout,
            user,
        )
        if options.source_date_epoch is None:
            given = os.environ.get("SOURCE_DATE_EPOCH", "")
            options = replace(options, source_date_epoch=int(given) if given.isdigit() else None)
        environ = dict(image_env)
        if "HOME" not in environ:
            environ["HOME"] = "/tmp"  # noqa: S108 - the caller's uid has no home in the image
        run = RunCapture(
            project,
            store,
            argv,
            options,
            environ=environ,
            probe=False,
            container=ref,
            executable=interpreter.path if interpreter else None,
            platform=platform,
            image_packages=image_packages,
        )
        record = run.begin()
        record.executable.version = interpreter.version if interpreter else None
        if options.on_start is not None:
            options.on_start(record)
        root = str(project.root)
        cwd = Path.cwd()
        workdir = str(cwd) if cwd == project.root or project.root in cwd.parents else root
        limit = project.max_stream_bytes
        out_keeper, err_keeper = StreamKeeper(limit), StreamKeeper(limit)
        passed = {"SOURCE_DATE_EPOCH": run.environ["SOURCE_DATE_EPOCH"]}
        if "HOME" not in image_env:
            passed["HOME"] = environ["HOME"]
        try:
            result = containers.run_container(
                engine,
                image_id,
                argv,
                workdir=workdir,
                binds={root: root},
                environment=passed,
                user=user,
                network=network,
                memory=memory,
                timeout=timeout,
                on_stdout=_sink(options.stdout_sink, out_keeper),
                on_stderr=_sink(options.stderr_sink, err_keeper),
                labels={"dev.paperlink.label": record.label, "dev.paperlink.run_id": record.run_id},
            )
        except ContainerError as exc:
            run.finish(exit_status=None, status=STATUS_FAILED, error=exc.message)
            raise
        status, exit_status, signal_number, error = _container_outcome(result, memory, timeout)
        return run.finish(
            exit_status=exit_status,
            status=status,
            signal_number=signal_number,
            error=error,
            stdout=out_keeper,
            stderr=err_keeper,
        )
    finally:
        if own_engine:
            engine.close()


def _sink(sink: BinaryIO | None, keeper: StreamKeeper) -> Callable[[bytes], None]:
    state = {"sink": sink}

    def feed(data: bytes) -> None:
        keeper.feed(data)
        out = state["sink"]
        if out is not None:
            try:
                out.write(data)
                out.flush()
            except (OSError, ValueError):
                state["sink"] = None  # the terminal went away; keep recording

    return feed


def _container_outcome(
    result: Any, memory: str | None, timeout: float | None
) -> tuple[str, int, int | None, str | None]:
    code = int(result.exit_status)
    if result.signals:
        number = int(result.signals[0])
        return STATUS_INTERRUPTED, 128 + number, number, "interrupted; the container was stopped"
    if result.timed_out:
        return (
            STATUS_KILLED,
            code,
            signal.SIGKILL,
            f"timed out after {timeout:g} s; the container was killed",
        )
    if result.oom_killed:
        return (
            STATUS_KILLED,
            code,
            signal.SIGKILL,
            f"killed for memory: the container used more than its limit ({memory or 'the host'})",
        )
    if code == 0:
        return STATUS_FINISHED, 0, None, None
    if code in (ExitCode.NOT_EXECUTABLE, ExitCode.COMMAND_NOT_FOUND):
        return STATUS_FAILED, code, None, "the command was not found or not executable in the image"
    if code > 128:
        return STATUS_KILLED, code, code - 128, None
    return STATUS_FAILED, code, None, None


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("._-")
    return slug or "project"
