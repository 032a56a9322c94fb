"""Sumatra's records as paperlink records: ``paperlink import sumatra PATH``.

Each Sumatra record (read by :mod:`paperlink.exchange.sumatra_store`) becomes a record of kind ``imported`` that keeps
its label, tags, reason, timestamp and duration; its status comes from Sumatra's status tag (``_finished_``
…); the code version is the commit and the stored diff; the parameters are those of its parameter set,
kept as the parameter file Sumatra wrote for the run (``LABEL.json`` …), which makes it an input that a
rerun can restore; dependencies become packages; the first platform the host. Input and output data keep
Sumatra's SHA-1 digests, with sha256 and md5 added when the file on disk still has that SHA-1 (paperlink.sty
checks MD5s). Paths are made relative to the paperlink project; the data store root is kept
(``imported_from.datastore_root``) so that Sumatra's ``LABEL:PATH``, relative to it, still names the output.
The original record is kept whole in the annotation ``sumatra``.

Importing is keyed on a ``run_id`` derived from the Sumatra project, label and timestamp (to the second, the
precision of Sumatra's JSON): importing twice, or from the store and then from its export, changes nothing;
a label that another run already holds is reported and left alone.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from dataclasses import field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from paperlink.core.config import Project
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_bytes, digest_file
from paperlink.core.model import model
from paperlink.core.records import (
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_INCOMPLETE,
    STATUS_KILLED,
    CodeVersion,
    Executable,
    ImportedFrom,
    Outcome,
    ParameterSource,
    Platform,
    Record,
    StreamInfo,
    check_label,
    format_time,
)
from paperlink.core.redaction import redact_url
from paperlink.core.store import RecordStore
from paperlink.errors import ForeignStoreError, UsageError
from paperlink.exchange.sumatra_store import (
    parse_timestamp,
    read_sumatra,
    scrubbed,
)
from paperlink.exchange.transfer import admit
from paperlink.recorder.sumatra_parameters import flat_parameters, parameter_file_name
from paperlink.version import __version__

KIND_IMPORTED = "imported"
ANNOTATION = "sumatra"
# A fixed namespace: the same Sumatra record gets the same run_id on every machine.
_NAMESPACE = uuid.UUID("5d1f2c3e-8a0b-5c6d-9e7f-0a1b2c3d4e5f")
# Sumatra's status tags (STATUS_FORMAT "_%s_"); the last one set wins, so a record holds one.
_STATUSES = {
    "finished": (STATUS_FINISHED, 0),
    "succeeded": (STATUS_FINISHED, 0),
    "failed": (STATUS_FAILED, None),
    "crashed": (STATUS_FAILED, None),
    "killed": (STATUS_KILLED, None),
}
_ALL_STATUSES = frozenset({*_STATUSES, "initialized", "pre_run", "running"})
_VCS = {"GitRepository": "git", "MercurialRepository": "hg", "SubversionRepository": "svn"}
_NO_DIGEST = {"", "IGNORE", "0" * 40}


@model
class Converted:
    """One Sumatra record as paperlink stores it: the record, its blobs, its output and the original."""

    record: Record
    blobs: list[bytes] = field(default_factory=list)
    stdout: bytes = b""
    original: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@model
class SumatraImportResult:
    """What ``import_sumatra`` did: labels added, labels already there, records not imported (one message
    each), and what the user should know about the ones imported."""

    source: str
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def sumatra_run_id(project: str, label: str, moment: datetime) -> str:
    """The run_id of a Sumatra record: a UUID 5 of its project, label and UTC start to the second."""
    second = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(uuid.uuid5(_NAMESPACE, f"sumatra\n{project}\n{label}\n{second}"))


def import_sumatra(
    store: RecordStore, project: Project, path: Path, *, sumatra_project: str | None = None
) -> SumatraImportResult:
    """Add the records of the Sumatra store or export at ``path`` to ``store``; see the module docstring.

    Every record is converted before any is written, so a source that cannot be read adds nothing.
    Raises :class:`ForeignStoreError` and :class:`UsageError` for a source that is not Sumatra's.
    """
    source = read_sumatra(path, project=sumatra_project)
    where = _relative(str(source.path.resolve()), project.root.resolve(), None) or str(source.path)
    result = SumatraImportResult(source=where)
    if not source.records:
        raise ForeignStoreError(
            f"{source.path} holds no Sumatra records"
            + (f" of project '{sumatra_project}'" if sumatra_project else ""),
            hint="check the path (and --sumatra-project); 'smt list' shows the records",
        )
    converted: list[Converted] = []
    for data in source.records:
        where = f"{source.path}: record '{data.get('label')}'"
        try:
            converted.append(convert_record(data, project, source=where))
        except UsageError as exc:
            result.clashes.append(f"{where}: {exc.message}; not imported")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ForeignStoreError(
                f"{where} cannot be read ({type(exc).__name__}: {exc})"
            ) from exc
    for item in converted:
        record = item.record
        origin = record.imported_from.project if record.imported_from else "?"
        where = f"Sumatra's record '{record.label}' (project {origin}): "
        if not admit(store, record, result.present, result.clashes, where=where):
            continue
        _add(store, item)
        result.added.append(record.label)
        result.warnings += [f"{record.label}: {w}" for w in item.warnings]
    return result


def _add(store: RecordStore, item: Converted) -> None:
    for data in item.blobs:
        store.put_blob(data, digest_bytes(data).sha256)
    store.add_record(item.record)
    store.set_annotation(item.record.label, ANNOTATION, item.original)
    if item.stdout:
        store.put_stream(item.record.label, "stdout", {"head": item.stdout})


def convert_record(data: dict[str, Any], project: Project, *, source: str) -> Converted:
    """One Sumatra record (``record2dict`` form, plus ``project``) as a paperlink record.

    Raises :class:`UsageError` for a label paperlink cannot hold (a ``:``, ``?`` or space).
    """
    label = check_label(str(data["label"]))
    moment = parse_timestamp(str(data["timestamp"]))
    sumatra_project = str(data.get("project") or "")
    root = project.root.resolve()
    launch = data.get("launch_mode") or {}
    workdir = _param(launch, "working_directory")
    rel_workdir = _relative(workdir, root, None) or "."
    if PurePosixPath(rel_workdir).is_absolute():
        rel_workdir = "."  # the Sumatra project moved: paperlink's root stands for it
    store_root = _relative(_param(data.get("datastore") or {}, "root"), root, workdir)
    input_root = _relative(_param(data.get("input_datastore") or {}, "root"), root, workdir)
    item = Converted(
        record=Record(label=label, project=project.name, run_id=""), original=scrubbed(data)
    )
    record = item.record
    record.run_id = sumatra_run_id(sumatra_project, label, moment)
    record.kind = KIND_IMPORTED
    record.working_directory = rel_workdir
    duration = data.get("duration")
    record.start_time = format_time(moment)
    if isinstance(duration, (int, float)):
        record.duration_seconds = float(duration)
        record.end_time = format_time(moment + timedelta(seconds=float(duration)))
    record.reason = data.get("reason") or None
    tags = [t for t in data.get("tags") or [] if not _is_status(t)]
    record.tags = sorted({_tag(t) for t in tags})
    record.outcome = _outcome(data.get("tags") or [], data.get("stdout_stderr") or "", item)
    executable = data.get("executable") or {}
    record.executable = Executable(
        path=executable.get("path"), name=executable.get("name"), version=executable.get("version")
    )
    parameters, parameter_file = _parameters(data, label, rel_workdir, item)
    record.parameters = parameters
    record.argv = _argv(data, parameter_file.path if parameter_file else None)
    record.code = _code(data, rel_workdir, root, item)
    record.inputs = ([parameter_file] if parameter_file else []) + [
        _data_file(key, input_root, root, item, "input") for key in data.get("input_data") or []
    ]
    record.outputs = [
        _data_file(key, store_root, root, item, "output") for key in data.get("output_data") or []
    ]
    if parameter_file is not None:
        record.parameter_sources = {
            k: [ParameterSource("file", v, parameter_file.path)] for k, v in parameters.items()
        }
    record.packages = {
        str(d.get("name")): str(d.get("version") or "unknown")
        for d in data.get("dependencies") or []
        if d.get("name")
    }
    record.platform = _platform(data)
    if data.get("repeats"):
        record.links = {"repeat_of": str(data["repeats"])}
    record.imported_from = ImportedFrom(
        tool="sumatra",
        source=source,
        project=sumatra_project,
        label=label,
        timestamp=str(data["timestamp"]),
        datastore_root=store_root,
        input_datastore_root=input_root,
        outcome=data.get("outcome") or None,
        user=data.get("user") or None,
        repository=redact_url(str((data.get("repository") or {}).get("url") or "")),
    )
    record.paperlink_version = __version__
    return item


def _param(section: dict[str, Any], name: str) -> str | None:
    parameters = section.get("parameters")
    value = parameters.get(name) if isinstance(parameters, dict) else None
    return str(value) if value else None


def _relative(path: str | None, root: Path, workdir: str | None) -> str | None:
    """Sumatra's absolute ``path`` relative to paperlink's ``root`` when inside it, else relative to the
    Sumatra project's folder at run time (``workdir``: the project moved, and ``root`` stands for it),
    else absolute."""
    if not path:
        return None
    for candidate in (path, os.path.realpath(path)):
        for base in (str(root), workdir):
            if base and _inside(candidate, base):
                return Path(os.path.relpath(candidate, base)).as_posix()
    return Path(path).as_posix()


def _inside(path: str, base: str) -> bool:
    try:
        return os.path.commonpath(
            [os.path.abspath(path), os.path.abspath(base)]
        ) == os.path.abspath(base)
    except ValueError:  # different drives
        return False


def _join(root: str | None, path: str) -> str:
    if not root or root == ".":
        return PurePosixPath(path).as_posix()
    return os.path.normpath(PurePosixPath(root, path).as_posix()).replace(os.sep, "/")


def _data_file(
    key: dict[str, Any], folder: str | None, root: Path, item: Converted, role: str
) -> FileDigest:
    """A Sumatra data key as a file digest: its SHA-1, and sha256 and md5 from the file when its content
    on disk is still the one Sumatra recorded."""
    path = _join(folder, str(key["path"]))
    sha1 = str(key.get("digest") or "").lower()
    metadata = key.get("metadata") or {}
    size = metadata.get("size") if isinstance(metadata, dict) else None
    entry = FileDigest(
        path=path,
        size=size if isinstance(size, int) else None,
        sha1=None if sha1.upper() in _NO_DIGEST else sha1,
    )
    on_disk = root / path
    if not on_disk.is_file():
        item.warnings.append(
            f"{role} {path} is not on disk: only Sumatra's SHA-1 is known, so paperlink latex and "
            "verify cannot check it until it is restored and imported again"
        )
        return entry
    found = digest_file(on_disk)
    if entry.sha1 is not None and found.sha1 != entry.sha1:
        item.warnings.append(
            f"{role} {path} changed since the Sumatra run (sha1:{found.sha1}, the record says "
            f"sha1:{entry.sha1}): only the record's SHA-1 is kept"
        )
        return entry
    entry.size, entry.sha256, entry.md5, entry.sha1 = (
        found.size,
        found.sha256,
        found.md5,
        found.sha1,
    )
    return entry


def _parameters(
    data: dict[str, Any], label: str, workdir: str, item: Converted
) -> tuple[dict[str, Any], FileDigest | None]:
    """The flattened parameters, and the parameter file Sumatra wrote for the run (kept as a blob)."""
    section = data.get("parameters") or {}
    kind, content = str(section.get("type") or ""), section.get("content")
    if not content or content in ("None", "{}"):
        return {}, None
    text = str(content)
    flat = flat_parameters(kind, text)
    if flat is None:
        item.warnings.append(f"parameters of type {kind or '?'} kept as text only")
        flat = {}
    name = parameter_file_name(label, kind)
    blob = text.encode("utf-8")
    digests = digest_bytes(blob)
    item.blobs.append(blob)
    parameter_file = FileDigest(
        path=_join(workdir, name),
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        sha1=digests.sha1,
        role="parameters",
    )
    return flat, parameter_file


def _argv(data: dict[str, Any], parameter_file: str | None) -> list[str]:
    """Sumatra's command line (``executable options main_file arguments``), with ``<parameters>`` the
    parameter file the run read."""
    executable = data.get("executable") or {}
    arguments = str(data.get("script_arguments") or "")
    if parameter_file is not None:  # Sumatra wrote it in the working directory
        arguments = arguments.replace("<parameters>", PurePosixPath(parameter_file).name)
    argv = [str(executable.get("path") or executable.get("name") or "")]
    argv += _split(str(executable.get("options") or ""))
    if data.get("main_file"):
        argv.append(str(data["main_file"]))
    return [part for part in argv if part] + _split(arguments)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _code(data: dict[str, Any], workdir: str, root: Path, item: Converted) -> CodeVersion:
    repository = data.get("repository") or {}
    diff = str(data.get("diff") or "")
    code = CodeVersion(
        vcs=_VCS.get(str(repository.get("type") or ""), repository.get("type") or None),
        commit=str(data.get("version") or "") or None,
        remote=redact_url(str(repository.get("upstream") or "")) or None,
        dirty=bool(diff),
    )
    if diff:
        # Sumatra strips the final newline, which `git apply` needs.
        blob = (diff if diff.endswith("\n") else diff + "\n").encode("utf-8")
        item.blobs.append(blob)
        code.diff_sha256, code.diff_size = digest_bytes(blob).sha256, len(blob)
    if data.get("main_file"):
        script = FileDigest(path=_join(workdir, str(data["main_file"])), role="script")
        if code.commit and not diff:  # the script as it ran is the committed one
            _digest_from_git(script, root, code.commit)
        code.main_script = script
    return code


def _digest_from_git(entry: FileDigest, root: Path, commit: str) -> None:
    """Fill ``entry``'s digests from the file at ``commit`` when this project's repository has it."""
    done = subprocess.run(
        ["git", "-C", str(root), "show", f"{commit}:./{entry.path}"],
        capture_output=True,
        check=False,
    )
    if done.returncode == 0:
        found = digest_bytes(done.stdout)
        entry.size, entry.sha256, entry.md5, entry.sha1 = (
            found.size,
            found.sha256,
            found.md5,
            found.sha1,
        )


def _platform(data: dict[str, Any]) -> Platform:
    platforms = data.get("platforms") or [{}]
    first = platforms[0] if isinstance(platforms[0], dict) else {}
    executable = data.get("executable") or {}
    is_python = str(executable.get("name") or "").lower() == "python"
    return Platform(
        hostname=str(first.get("network_name") or ""),
        user=str(data.get("user") or ""),
        os=str(first.get("system_name") or ""),
        os_release=str(first.get("release") or ""),
        kernel=str(first.get("version") or ""),
        machine=str(first.get("machine") or ""),
        cpu_model=str(first.get("processor") or ""),
        python_version=str(executable.get("version") or "") if is_python else "",
        python_executable=str(executable.get("path") or "") if is_python else "",
    )


def _outcome(tags: list[str], output: str, item: Converted) -> Outcome:
    # Sumatra before 0.7 kept no status tag: such a run is taken as finished.
    status: str = STATUS_FINISHED
    exit_status: int | None = 0
    for tag in tags:
        if _is_status(tag):
            name = tag.strip("_")
            status, exit_status = _STATUSES.get(name, (STATUS_INCOMPLETE, None))
    outcome = Outcome(status=status, exit_status=exit_status)
    if output:
        item.stdout = output.encode("utf-8")
        digests = digest_bytes(item.stdout)
        # Sumatra keeps stdout and stderr as one text; it is kept whole, as paperlink's stdout.
        outcome.stdout = StreamInfo(
            size=digests.size, sha256=digests.sha256, stored_bytes=digests.size
        )
    return outcome


def _is_status(tag: str) -> bool:
    """Sumatra's status tags: ``_running_``, ``_finished_``, ``_finished..._`` (while gathering) …"""
    return (
        len(tag) > 2
        and tag.startswith("_")
        and tag.endswith("_")
        and tag.strip("_").rstrip(".") in _ALL_STATUSES
    )


def _tag(tag: str) -> str:
    """A Sumatra tag as a paperlink tag: spaces, ``:`` and ``?`` (which paperlink tags cannot hold) as
    ``-``."""
    return "".join("-" if ch.isspace() or ch in ":?" else ch for ch in tag)[:200]
