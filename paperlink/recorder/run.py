"""Capture a run: what ran, on what, what came out, where, when and how it ended, as a :class:`Record`.

:class:`RunCapture` does the work around any computation (``begin`` before it, ``finish`` after it);
:func:`capture_run` runs a command on the host with it, streaming the command's output live while keeping it.
The row is written when the run starts, so a run whose paperlink is killed shows as incomplete, never lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperlink.core.config import Project
from paperlink.core.envpackages import Package
from paperlink.core.files import FileDigest
from paperlink.core.filestate import (
    DigestCache,
    FileState,
    check_output_dirs,
    doubtful,
    snapshot_tree,
    store_files,
)
from paperlink.core.hashing import Digests, digest_bytes
from paperlink.core.records import (
    Executable,
    Outcome,
    Platform,
    Record,
    TraceInfo,
    check_label,
    format_time,
    parse_time,
    utc_now,
)
from paperlink.core.redaction import Redactor
from paperlink.core.runcontext import ContainerRef, SifImageRef
from paperlink.core.store import RecordStore
from paperlink.errors import (
    CaptureError,
    StoreError,
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
from paperlink.recorder.finish import RecordFinishing
from paperlink.recorder.inputs import InputDetection
from paperlink.recorder.mpi import describe_mpi
from paperlink.recorder.options import RunOptions
from paperlink.recorder.outputs import OutputDetection, without_skipped
from paperlink.recorder.parameter_files import (
    expand_arguments,
    parse_parameter_file,
)
from paperlink.recorder.parameters import merge_parameters
from paperlink.recorder.platform import (
    collect_platform,
    recorded_environment,
)
from paperlink.recorder.probe import Probe, maybe_sif, resolve_program
from paperlink.recorder.slurm import capture_job, job_label_suffix
from paperlink.recorder.streams import StreamKeeper
from paperlink.version import __version__

if TYPE_CHECKING:  # tracing compiles its parser's patterns: only traced runs import it
    from paperlink.recorder.tracing import Tracer


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


class RunCapture(InputDetection, OutputDetection, RecordFinishing):
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
        self._probe: Probe | None = None
        self._host_packages = True  # whether the probed packages are the command's
        self._t0 = 0.0
        # Traces the command (paperlink run --trace); None after begin() if tracing is not possible here.
        self.tracer = tracer
        self._running_at_start: set[str] = set()  # running rows whose process was there
        self._rows_at_start: set[str] = set()  # every row marked running then, dead or alive
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
        # Runs of the project going on now may write into the same folders (paperlink.recorder.overlap).
        # Asked before the output folders are read: a run that ends between the two is then still seen.
        self._rows_at_start, self._running_at_start = self.store.running_now()
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
            parsed = parse_parameter_file(path, content)
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
            self._probe = Probe(
                self.store,
                self.executable or resolve_program(self.argv, self.environ),
                self.environ,
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
                self.image_packages = self.image_packages or self._sif_packages(container.sif)
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
        self._before = without_skipped(
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

    def _sif_packages(self, sif: SifImageRef) -> list[Package] | None:
        """The Debian packages of a SIF image the command runs in, from its root file system's
        ``/var/lib/dpkg/status`` (cached by the image's sha256; None: no dpkg, or not readable here)."""
        from paperlink.recorder.sif_environment import sif_file_reader

        read = sif_file_reader(sif, self.project.root)
        if read is None or "dpkg" not in capture_parts(self.project.settings):
            return None
        return image_dpkg_packages(self.store, f"sif-{sif.sha256}", read)

    def _sif_container(self) -> ContainerRef | None:
        if self.container is not None:
            return None
        if self.sif is None and not maybe_sif(self.argv):
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
            for item in expand_arguments(path):
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
