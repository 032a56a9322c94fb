"""Re-execute a run from its published archive alone: what ``verify --doi --rerun`` does for a reviewer.

The archive holds the code at the recorded commit (``code-<commit>.tar.gz``, from ``git archive``), the
diff of uncommitted changes and, for a container run, the image. The code is unpacked into a scratch
folder (every member checked: no absolute or ``..`` names, no links that leave the folder, no devices),
the diff applied, the recorded inputs checked in place, and the recorded command run there (in its image,
by ID, when it had one) into a throw-away store; the outputs are then compared byte for byte. Running a
record runs the archive's code on this machine, as ``paperlink rerun`` runs one's own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paperlink.core.config import Project, find_project
from paperlink.core.files import FileDigest
from paperlink.core.records import Record
from paperlink.core.safenames import inside, safe_relative_path
from paperlink.core.store import RecordStore
from paperlink.errors import ImageNotFound, NotInProjectError, RerunError, UnsafeArchive
from paperlink.publish.archive_files import PublishedArchive
from paperlink.recorder.rerun import DIFFERENT, IDENTICAL, MISSING, RerunResult, compare_outputs
from paperlink.verify.manuscript import ERROR, MISMATCH, OK, Check
from paperlink.verify.manuscript import MISSING as CHECK_MISSING


def rerun_from_archive(
    archive: PublishedArchive,
    record: Record,
    *,
    image_archive: Path | None = None,
    engine: Any = None,
) -> RerunResult:
    """Re-execute ``record`` from ``archive``'s code (and image) and compare its outputs.

    Raises :class:`RerunError` when the archive lacks what the run needs, :class:`UnsafeArchive` when
    the code archive or the record names a path outside the scratch folder, and the container errors of
    :func:`paperlink.recorder.rerun.rerun_record` for an image run.
    """
    label = record.label
    if record.container is not None and record.container.sif is not None:
        # On the host it would run outside the image it ran in; Apptainer is the user's to start.
        raise RerunError(
            f"record '{label}' ran in SIF image {record.container.sif.path}, and paperlink does not "
            "start Apptainer itself",
            hint=f"re-execute it in that image ('paperlink rerun {label}' prints the apptainer exec "
            "command; the archive's README shows it too)",
        )
    if record.code.vcs != "git" or not record.code.commit:
        raise RerunError(
            f"record '{label}' has no git commit, so the archive holds no code to re-run it with"
        )
    code = archive.code_name(record)
    if code is None:
        raise RerunError(
            f"the archive holds no code for record '{label}' (commit {record.code.commit[:12]})",
            hint="publish could not archive that commit; re-run it from the author's repository",
        )
    for item in (*record.inputs, *record.outputs):
        if item.kind == "file" and item.path.startswith("/"):
            raise RerunError(
                f"record '{label}' used {item.path}, outside its project: a re-execution from the "
                "archive happens in a scratch folder and cannot restore or compare it",
                hint="re-run it where the file is, with 'paperlink rerun LABEL'",
            )
    scratch = Path(tempfile.mkdtemp(prefix="rerun-", dir=archive.work))
    root = unpack_code(archive.fetch(code), scratch / "tree", what=f"{code} of {archive.where}")
    if record.code.diff_sha256:
        _apply_diff(archive, record, root)
    for item in record.inputs:
        if item.kind == "file" and item.sha256:
            _check_input(inside(root, item.path, what=f"record '{label}': input"), item, label)
    for item in record.outputs:  # so that an output equal to a committed file still counts
        target = inside(root, item.path, what=f"record '{label}': output")
        if target.is_file() or target.is_symlink():
            target.unlink()
    workdir = (
        inside(root, record.working_directory, what=f"record '{label}': working directory")
        if record.working_directory not in ("", ".")
        else root
    )
    if not workdir.is_dir():
        raise RerunError(f"the recorded working folder {record.working_directory} is not in {code}")
    project = _project(root, record)
    store = RecordStore.create(scratch / "records.sqlite")
    try:
        store.add_record(Record.from_dict(record.to_dict()))
        rerun = _run(project, store, record, root, workdir, archive, image_archive, engine)
    finally:
        store.close()
    return RerunResult(
        original=label, record=rerun, outputs=compare_outputs(record.outputs, rerun.outputs)
    )


def rerun_check(result: RerunResult | Exception, output: FileDigest) -> Check:
    """The ``rerun`` check of one output, from a re-execution (or why there was none)."""
    if isinstance(result, Exception):
        message = getattr(result, "message", str(result))
        hint = getattr(result, "hint", None)
        return Check("rerun", ERROR, message + (f" ({hint})" if hint else ""))
    if result.record.outcome.status != "finished":
        return Check(
            "rerun",
            ERROR,
            f"the re-execution {result.record.outcome.status} (exit {result.record.outcome.exit_status})",
        )
    for compared in result.outputs:
        if compared.path != output.path:
            continue
        if compared.status == IDENTICAL:
            return Check("rerun", OK, "identical when re-run from the archive's code")
        if compared.status == MISSING:
            return Check(
                "rerun", CHECK_MISSING, f"re-running from the archive wrote no {output.path}"
            )
        if compared.status == DIFFERENT:
            return Check(
                "rerun",
                MISMATCH,
                f"re-running from the archive wrote sha256:{(compared.rerun_sha256 or '')[:12]}…, "
                f"not the recorded sha256:{(compared.recorded_sha256 or '')[:12]}…",
            )
    return Check("rerun", CHECK_MISSING, f"the re-execution did not report {output.path}")


def unpack_code(tarball: Path, dest: Path, *, what: str) -> Path:
    """Unpack a ``git archive`` tarball into ``dest`` and return its one top folder (or ``dest``).

    Every member is checked first (:class:`UnsafeArchive`): a plain relative name, a regular file,
    folder or link, links that stay inside, nothing beneath a link.
    """
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            links: set[str] = set()
            for member in members:
                name = str(safe_relative_path(member.name.rstrip("/"), what=f"{what}: member"))
                parents = {
                    posixpath.join(*name.split("/")[:n]) for n in range(1, name.count("/") + 1)
                }
                if parents & links:
                    raise UnsafeArchive(
                        f"{what}: member {name!r} lies beneath a link; paperlink refuses to unpack "
                        "through links",
                        hint="the code archive was not made by 'git archive', or was tampered with",
                    )
                if member.issym() or member.islnk():
                    _check_link(member, name, what)
                    links.add(name)
                elif not (member.isfile() or member.isdir()):
                    raise UnsafeArchive(
                        f"{what}: member {name!r} is a device, pipe or other special file",
                        hint="the code archive was not made by 'git archive', or was tampered with",
                    )
            dest.mkdir(parents=True)
            # Every member was checked above; the data filter (Python 3.10.12+/3.11.4+) checks again
            # against the real paths as it writes.
            data_filter = getattr(tarfile, "data_filter", None)
            if data_filter is not None:
                tar.extractall(dest, members=members, filter=data_filter)  # noqa: S202
            else:  # pragma: no cover - older Pythons: the checks above are the guard
                tar.extractall(dest, members=members)  # noqa: S202
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RerunError(f"{what} cannot be unpacked: {exc}") from exc
    tops = {m.name.split("/", 1)[0] for m in members}
    if len(tops) == 1 and (dest / next(iter(tops))).is_dir():
        return dest / next(iter(tops))
    return dest


def _check_link(member: tarfile.TarInfo, name: str, what: str) -> None:
    target = member.linkname
    base = posixpath.dirname(name) if member.issym() else ""
    joined = posixpath.normpath(posixpath.join(base, target))
    if not target or target.startswith("/") or joined == ".." or joined.startswith("../"):
        raise UnsafeArchive(
            f"{what}: link {name!r} points outside the code ({target!r})",
            hint="the code archive was not made by 'git archive', or was tampered with",
        )


def _apply_diff(archive: PublishedArchive, record: Record, root: Path) -> None:
    name = archive.diff_name(record)
    if name is None:
        raise RerunError(
            f"record '{record.label}' ran with uncommitted changes, but the archive holds no diff of them"
        )
    diff = archive.fetch(name).read_bytes()
    if hashlib.sha256(diff).hexdigest() != record.code.diff_sha256:
        raise RerunError(f"the archive's {name} is not the diff record '{record.label}' names")
    # Outside any repository git apply acts as patch(1) and refuses paths that leave the folder;
    # the ceiling keeps git from finding a repository above the scratch folder.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.parent)}
    done = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"],
        input=diff, cwd=root, env=env, capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RerunError(
            f"the archive's {name} does not apply to its code: "
            f"{done.stderr.decode(errors='replace').strip()}",
            hint="a project in a subfolder of its repository cannot be re-run from its archive yet",
        )


def _check_input(path: Path, item: FileDigest, label: str) -> None:
    if not path.is_file():
        raise RerunError(
            f"input {item.path} of record '{label}' is not in the archive's code (it was not committed)",
            hint=f"the re-execution needs the file with sha256:{item.sha256}",
        )
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != item.sha256:
        raise RerunError(
            f"input {item.path} in the archive's code is sha256:{digest.hexdigest()[:12]}… but record "
            f"'{label}' read sha256:{(item.sha256 or '')[:12]}… (it changed after the commit)"
        )


def _project(root: Path, record: Record) -> Project:
    """The unpacked project, with the archive's output folders but none of its other settings (an
    archive does not choose this machine's container engine)."""
    try:
        found = find_project(root)
    except NotInProjectError:
        found = None
    if found is None or found.root != root.resolve():
        return Project(root=root, name=record.project or root.name)
    return dataclasses.replace(found, root=root, settings={}, config_path=None)


def _run(
    project: Project,
    store: RecordStore,
    record: Record,
    root: Path,
    workdir: Path,
    archive: PublishedArchive,
    image_archive: Path | None,
    engine: Any,
) -> Record:
    from paperlink.recorder.container_run import capture_container_run
    from paperlink.recorder.host_run import capture_run
    from paperlink.recorder.options import ContainerOptions, RunOptions

    declared = [str(root / o.path) for o in record.outputs if o.kind == "file"]
    container = record.container
    in_image = container is not None and bool(container.image_id) and not container.inside_container
    with open(os.devnull, "wb") as sink, _working_directory(workdir):
        options = RunOptions(
            reason=f"rerun of {record.label} from its archive",
            outputs=declared,
            source_date_epoch=record.source_date_epoch,
            stdout_sink=sink,
            stderr_sink=sink,
            kind="rerun",
            links={"rerun_of": record.label},
        )
        if not in_image:
            return capture_run(project, store, list(record.argv), options)
        assert container is not None and container.image_id is not None
        from paperlink.containers import engine as containers

        own = engine is None
        engine = engine or containers.connect_engine()
        try:
            _load_image(engine, container.image_id, record, archive, image_archive)
            return capture_container_run(
                project,
                store,
                list(record.argv),
                ContainerOptions.replaying(container, engine),
                options,
            )
        finally:
            if own:
                engine.close()


def _load_image(
    engine: Any,
    image_id: str,
    record: Record,
    archive: PublishedArchive,
    image_archive: Path | None,
) -> None:
    from paperlink.containers import transfer

    if transfer.has_image(engine, image_id):
        return
    name = archive.image_name(record)
    if name is not None:
        transfer.load_image(engine, archive.fetch(name), expected_id=image_id)
    elif image_archive is not None:
        transfer.load_image(engine, image_archive, expected_id=image_id)
    else:
        raise ImageNotFound(
            f"record '{record.label}' ran in image {image_id[:19]}…, which the archive does not hold "
            "and the container engine lacks",
            hint="give the image's archive with --image-archive FILE",
        )


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # Capture reads the working folder from the process, as a shell would; restore it afterwards.
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
