"""Re-execute a record and check that it makes the same bytes.

The rerun happens on a scratch copy of the project: a git worktree at the recorded commit, the stored diff
applied, the recorded inputs copied in (their digests checked). A container run goes back into the
recorded image, by image ID (loaded from an archive when the engine lacks it), with the recorded
``SOURCE_DATE_EPOCH``. Each recorded output is then identical, different or missing, and so is each named
value (``paperlink value``, ``*.values.json``); the new record links to the original with
``links = {"rerun_of": LABEL}``. A re-execution that does not end as the original did (a non-zero exit, a
signal) has failed, whatever its outputs: a script may write its figure before it crashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any, BinaryIO

from paperlink.core.config import Project
from paperlink.core.files import FileDigest
from paperlink.core.model import model
from paperlink.core.paper_values import record_values
from paperlink.core.records import STATUS_FINISHED, Record
from paperlink.core.safenames import inside
from paperlink.core.store import RecordStore
from paperlink.errors import ImageNotFound, PaperlinkError, RecordNotFound, RerunError, UsageError
from paperlink.recorder.container_run import capture_container_run
from paperlink.recorder.host_run import capture_run
from paperlink.recorder.options import ContainerOptions, ProgressFactory, RunOptions

IDENTICAL = "identical"
DIFFERENT = "different"
MISSING = "missing"
NEW = "new"
FAILED = "failed"  # the verdict of a re-execution that did not end as the original did


@model
class OutputComparison:
    path: str
    status: str  # identical | different | missing | new
    recorded_sha256: str | None = None
    rerun_sha256: str | None = None


@model
class ValueComparison:
    name: str
    status: str  # identical | different | missing | new
    recorded: str | None = None
    rerun: str | None = None


@model
class RerunResult:
    original: str
    record: Record
    outputs: list[OutputComparison] = field(default_factory=list)
    values: list[ValueComparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scratch: str | None = None  # kept scratch copy, when asked for
    # How the original ended; the re-execution must end the same way.
    expected_status: str = STATUS_FINISHED
    expected_exit_status: int | None = 0

    @property
    def failed(self) -> bool:
        """True when the re-execution did not end as the original did (it exited non-zero, was killed)."""
        outcome = self.record.outcome
        return (outcome.status, outcome.exit_status) != (
            self.expected_status,
            self.expected_exit_status,
        )

    @property
    def identical(self) -> bool:
        """True when the re-execution ended as the original did and every recorded output and value came
        out the same (new files and values do not count)."""
        compared = [o for o in self.outputs if o.status != NEW]
        values = [v for v in self.values if v.status != NEW]
        return (
            not self.failed
            and bool(compared)
            and all(o.status == IDENTICAL for o in compared)
            and all(v.status == IDENTICAL for v in values)
        )

    @property
    def verdict(self) -> str:
        """``failed``, ``identical`` or ``different``."""
        if self.failed:
            return FAILED
        return IDENTICAL if self.identical else DIFFERENT

    def failure(self) -> str:
        """How the re-execution ended, against how the original did, in words."""
        outcome = self.record.outcome
        how = outcome.status + (f" (exit {outcome.exit_status})" if outcome.exit_status else "")
        if outcome.signal:
            how += f", signal {outcome.signal}"
        if outcome.error:
            how += f": {outcome.error}"
        expected = self.expected_status + (
            f" (exit {self.expected_exit_status})" if self.expected_exit_status else ""
        )
        return (
            f"re-execution {self.record.label} of '{self.original}' {how}, but the original "
            f"{expected}; see 'paperlink show {self.record.label} --stderr'"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "rerun": self.record.label,
            "identical": self.identical,
            "failed": self.failed,
            "verdict": self.verdict,
            "status": self.record.outcome.status,
            "exit_status": self.record.outcome.exit_status,
            "outputs": [dataclasses.asdict(o) for o in self.outputs],
            "values": [dataclasses.asdict(v) for v in self.values],
            "warnings": list(self.warnings),
            "scratch": self.scratch,
        }


def rerun_record(
    project: Project,
    store: RecordStore,
    label: str,
    *,
    image_archive: Path | None = None,
    new_label: str | None = None,
    keep: bool = False,
    tags: Iterable[str] = (),
    reason: str | None = None,
    engine: Any = None,
    stdout_sink: BinaryIO | None = None,
    stderr_sink: BinaryIO | None = None,
    on_progress: ProgressFactory | None = None,
) -> RerunResult:
    """Re-execute record ``label`` and compare its outputs and values with the recorded ones.

    The new record gets ``tags`` and ``reason`` (default: "rerun of LABEL").

    Raises :class:`RerunError` when the code or an input cannot be restored, :class:`ImageNotFound` when
    the recorded image is neither in the engine nor in ``image_archive``, :class:`ImageMismatch` when the
    archive holds another image, :class:`EngineUnavailable` when no engine answers.
    """
    original = store.get(label)
    if original.container is not None and original.container.sif is not None:
        import shlex

        from paperlink.recorder.sif_environment import rerun_command

        raise RerunError(
            f"record '{label}' ran in SIF image {original.container.sif.path}, and paperlink does "
            "not start Apptainer itself",
            hint="re-execute it with: " + shlex.join(rerun_command(original, project.root)),
        )
    warnings: list[str] = []
    code = original.code
    if code.vcs != "git" or not code.commit:
        raise RerunError(
            f"record '{label}' has no git commit, so its code cannot be restored",
            hint="record runs inside a git repository so that they can be re-executed",
        )
    top = Path(_git(project.root, "rev-parse", "--show-toplevel").strip())
    if subprocess.run(
        ["git", "-C", str(top), "cat-file", "-e", f"{code.commit}^{{commit}}"],
        capture_output=True,
        check=False,
    ).returncode:
        raise RerunError(
            f"commit {code.commit} of record '{label}' is not in {top}",
            hint="fetch it ('git fetch --all') or rerun from a clone that has it",
        )
    container = original.container
    in_image = container is not None and bool(container.image_id) and not container.inside_container
    own_engine = False
    if in_image:
        assert container is not None and container.image_id is not None
        from paperlink.containers import engine as containers

        if engine is None:
            engine = containers.connect_engine(containers.engine_url(project.settings))
            own_engine = True
        if image_archive is None and container.archive is not None and container.archive.path:
            # The archive 'image save' or 'publish' recorded: no need to name it again.
            recorded = Path(container.archive.path)
            recorded = recorded if recorded.is_absolute() else project.root / recorded
            image_archive = recorded if recorded.is_file() else None
        warnings += _prepare_image(engine, container.image_id, container.reference, image_archive)
    scratch_parent = Path(tempfile.mkdtemp(prefix="paperlink-rerun-"))
    scratch_top = scratch_parent / "tree"
    try:
        _git(top, "worktree", "add", "--detach", "--quiet", str(scratch_top), code.commit)
        if code.diff_sha256:
            try:
                diff = store.get_blob(code.diff_sha256)
            except RecordNotFound as exc:
                raise RerunError(f"the stored diff of record '{label}' is missing") from exc
            _git(scratch_top, "apply", "--whitespace=nowarn", "-", stdin=diff)
        root = scratch_top / project.root.resolve().relative_to(top.resolve())
        scratch_project = dataclasses.replace(project, root=root)
        _restore_inputs(project, store, original, root)
        # A record's paths stay inside the scratch copy (a `..` or a committed link out would make
        # the unlink below, or the restored inputs, touch files elsewhere).
        relative = {
            o.path: inside(root, o.path, what=f"record '{label}': output")
            for o in original.outputs
            if not Path(o.path).is_absolute()
        }
        for target in relative.values():  # so that an output equal to a committed file still counts
            if target.is_file() or target.is_symlink():
                target.unlink()
        declared = [str(relative.get(o.path, o.path)) for o in original.outputs if o.kind == "file"]
        workdir = (
            inside(root, original.working_directory, what=f"record '{label}': working folder")
            if original.working_directory not in ("", ".")
            and not Path(original.working_directory).is_absolute()
            else root / original.working_directory
        )
        options = RunOptions(
            label=new_label,
            tags=list(tags),
            reason=reason or f"rerun of {label}",
            outputs=declared,
            source_date_epoch=original.source_date_epoch,
            stdout_sink=stdout_sink,
            stderr_sink=stderr_sink,
            on_progress=on_progress,
            kind="rerun",
            links={"rerun_of": label},
        )
        with _working_directory(workdir):
            if in_image:
                assert container is not None
                record = capture_container_run(
                    scratch_project,
                    store,
                    list(original.argv),
                    ContainerOptions.replaying(container, engine),
                    options,
                )
            else:
                record = capture_run(scratch_project, store, list(original.argv), options)
        result = RerunResult(
            original=label,
            record=record,
            outputs=compare_outputs(original.outputs, record.outputs),
            warnings=warnings,
            scratch=str(root) if keep else None,
            expected_status=original.outcome.status,
            expected_exit_status=original.outcome.exit_status,
        )
        try:  # while the scratch copy, with the re-execution's values files, is still there
            result.values = compare_values(
                record_values(project, store, original),
                record_values(scratch_project, store, record),
            )
        except PaperlinkError as exc:
            warnings.append(f"values not compared: {exc.message}")
        return result
    finally:
        if not keep:
            subprocess.run(
                ["git", "-C", str(top), "worktree", "remove", "--force", str(scratch_top)],
                capture_output=True,
                check=False,
            )
            shutil.rmtree(scratch_parent, ignore_errors=True)
            subprocess.run(
                ["git", "-C", str(top), "worktree", "prune"], capture_output=True, check=False
            )
        if own_engine:
            engine.close()


def _prepare_image(
    engine: Any, image_id: str, reference: str | None, archive: Path | None
) -> list[str]:
    """Make sure the engine has ``image_id`` (loading ``archive`` when needed); warn if the tag moved."""
    from paperlink.containers import engine as containers
    from paperlink.containers import transfer

    warnings: list[str] = []
    if not transfer.has_image(engine, image_id):
        if archive is None:
            raise ImageNotFound(
                f"the recorded image {image_id} is not in the container engine",
                hint="give the archive 'paperlink image save' wrote: --image-archive FILE",
            )
        transfer.load_image(engine, archive, expected_id=image_id)
    if reference and reference != image_id:
        try:
            now = containers.resolve_image(engine, reference).image_id
        except ImageNotFound:
            now = None
        if now is not None and now != image_id:
            warnings.append(
                f"'{reference}' now points to {now}; rerunning with the recorded image {image_id}"
            )
    return warnings


def _restore_inputs(project: Project, store: RecordStore, original: Record, root: Path) -> None:
    """Copy the recorded inputs into the scratch copy, each checked against its recorded sha256."""
    for item in original.inputs:
        if item.kind != "file" or not item.sha256:
            continue
        if Path(item.path).is_absolute():
            _check(Path(item.path), item, "outside the project, used in place")
            continue
        target = inside(root, item.path, what=f"record '{original.label}': input")
        if target.is_file() and _sha256(target) == item.sha256:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # parameter files are kept in the store
            target.write_bytes(store.get_blob(item.sha256))
            continue
        except RecordNotFound:
            pass
        source = project.root / item.path
        _check(source, item, "in the project")
        shutil.copy2(source, target)


def _check(path: Path, item: FileDigest, where: str) -> None:
    if not path.is_file():
        raise RerunError(
            f"input {item.path} ({where}) is missing",
            hint=f"restore the file with sha256:{item.sha256}",
        )
    found = _sha256(path)
    if found != item.sha256:
        raise RerunError(
            f"input {item.path} ({where}) is sha256:{found} but the record says "
            f"sha256:{item.sha256}",
            hint="restore the recorded version of the file, then rerun",
        )


def compare_outputs(recorded: list[FileDigest], rerun: list[FileDigest]) -> list[OutputComparison]:
    """Each recorded output as identical, different or missing in the rerun; outputs only the rerun
    made are ``new``."""
    made = {o.path: o for o in rerun}
    result: list[OutputComparison] = []
    for item in recorded:
        if item.kind != "file":
            continue
        again = made.pop(item.path, None)
        if again is None or again.kind != "file":
            result.append(OutputComparison(item.path, MISSING, item.sha256, None))
        else:
            status = IDENTICAL if again.sha256 == item.sha256 else DIFFERENT
            result.append(OutputComparison(item.path, status, item.sha256, again.sha256))
    for path, again in sorted(made.items()):
        if again.kind == "file":
            result.append(OutputComparison(path, NEW, None, again.sha256))
    return result


def compare_values(recorded: dict[str, str], rerun: dict[str, str]) -> list[ValueComparison]:
    """Each recorded named value as identical, different or missing in the rerun; values only the rerun
    made are ``new``."""
    result = []
    for name in sorted(recorded.keys() | rerun.keys()):
        before, after = recorded.get(name), rerun.get(name)
        if before is None:
            status = NEW
        elif after is None:
            status = MISSING
        else:
            status = IDENTICAL if before == after else DIFFERENT
        result.append(ValueComparison(name, status, before, after))
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], input=stdin, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RerunError(
            f"git {' '.join(args[:2])} failed in {cwd}: {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout.decode(errors="replace")


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # Capture reads the working folder from the process, as a shell would; restore it afterwards.
    if not path.is_dir():
        raise UsageError(f"the recorded working folder {path} does not exist in the scratch copy")
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
