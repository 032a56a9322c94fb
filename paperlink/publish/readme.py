"""The archive's ``README.md`` and ``SHA256SUMS``: what is in it, and commands that work on it.

Every command the README shows runs as it stands in the unpacked archive (a test runs each one there): it
names the archive's own files (the code archive, the diff, the image archive), real tools (``tar``,
``git apply``, ``docker load``/``docker run``, ``sha256sum -c``) and the recorded command, and no
placeholder. The text is ``paperlink/templates/archive-README.md.j2``.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any, Protocol

import jinja2

from paperlink.core.packagedata import template_source
from paperlink.core.records import Record
from paperlink.version import __version__

CHECKSUMS = "SHA256SUMS"
# Recomputes an archived environment's portable_digest (paperlink.core.envportable) with Python alone.
_PORTABLE_DIGEST_CHECK = (
    'import hashlib, json, sys; d = json.load(open(sys.argv[1], encoding="utf-8")); '
    'e = json.dumps(d["environment"], sort_keys=True, separators=(",", ":"), ensure_ascii=False); '
    'ok = "sha256:" + hashlib.sha256(e.encode()).hexdigest() == d["portable_digest"]; '
    'print(sys.argv[1] + (": OK" if ok else ": FAILED")); sys.exit(not ok)'
)
_ROLES = {
    "output": "output of {labels}",
    "record": "run record of {labels}",
    "code": "code used by {labels}",
    "diff": "uncommitted changes used by {labels}",
    "image": "container image used by {labels}",
    "site": "provenance site of {labels} (web pages)",
    "environment": "re-creates the environment of {labels} (paperlink env)",
    "environment-json": "the environment of {labels}: packages by manager and lock files (see below)",
    "pdf": "the paper",
}


class ArchiveFile(Protocol):
    """What the README needs of an archived file (``bundle_files.BundleFile`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def labels(self) -> Sequence[str]: ...
    @property
    def source(self) -> str | None: ...


def checksums(files: Sequence[ArchiveFile]) -> str:
    """``SHA256SUMS`` in the format ``sha256sum -c`` reads (a name with a backslash or a line break is
    escaped, and its line starts with a backslash, as GNU coreutils writes it)."""
    lines = []
    for f in files:
        name = f.name
        if "\\" in name or "\n" in name:
            escaped = name.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"\\{f.sha256}  {escaped}\n")
        else:
            lines.append(f"{f.sha256}  {name}\n")
    return "".join(lines)


def _sh(value: str) -> str:
    return shlex.quote(value)


def render_readme(
    project_name: str,
    records: Sequence[Record],
    files: Sequence[ArchiveFile],
    metadata: dict[str, Any],
) -> str:
    """README.md of the archive of ``records`` (as archived: see ``bundle_files.portable_record``)."""
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Markdown and shell, not HTML: shell words are quoted by |sh
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["sh"] = _sh
    rows = []
    for f in files:
        what = _ROLES.get(f.role, f.role).format(labels=", ".join(f.labels))
        if f.source and f.role == "output":
            what += f" (`{f.source}`)"
        rows.append({"name": f.name, "what": what, "sha256": f.sha256})
    template = env.from_string(template_source("archive-README.md.j2"))
    return template.render(
        title=metadata.get("title", project_name),
        version=__version__,
        records=len(records),
        project=project_name,
        files=rows,
        site=next((f.name for f in files if f.role == "site"), None),
        reruns=[_rerun(project_name, record, files) for record in records],
        environments=[f.name for f in files if f.role == "environment-json"],
        check=_PORTABLE_DIGEST_CHECK,
    )


def _of(record: Record, files: Sequence[ArchiveFile], role: str) -> str | None:
    return next((f.name for f in files if f.role == role and record.label in f.labels), None)


def _rerun(project_name: str, record: Record, files: Sequence[ArchiveFile]) -> dict[str, str]:
    """What re-running ``record`` takes: a summary and, when the archive holds what it needs, the block."""
    command = _command(record)
    code, diff = _of(record, files, "code"), _of(record, files, "diff")
    container = record.container
    in_image = container is not None and not container.inside_container and container.image_id
    image = _of(record, files, "image")
    summary = f"Ran `{command}` in `{record.working_directory or '.'}`"
    if in_image and container is not None:
        summary += f" in image `{container.reference or container.image_id}`"
    elif container is not None and container.sif is not None:
        summary += f" in SIF image `{container.sif.path}` ({container.sif.sha256_ref})"
    summary += "."
    if code is None or not record.code.commit:
        return {
            "label": record.label,
            "summary": summary + " Its code is not in this archive (no git commit was recorded), "
            "so it cannot be re-run from here.",
            "block": "",
        }
    if in_image and image is None:
        summary += (
            " The image is not in this archive: `docker run` below needs it in the engine (pull "
            "it by its reference)."
        )
    top = "../../.."  # the archive's folder, seen from rerun/<label>/<project>-<commit>
    folder = f"rerun/{record.label.replace('/', '__')}"
    prefix = f"{project_name}-{record.code.commit[:12]}"  # as bundle.py's git archive names it
    lines = [
        f"mkdir -p {_sh(folder)} && tar xzf {_sh(code)} -C {_sh(folder)}",
        f"cd {_sh(f'{folder}/{prefix}')}",
    ]
    if diff is not None:
        # Its own repository, so that git applies the diff here even inside another work tree.
        lines.append(f"git init -q && git apply {_sh(f'{top}/{diff}')}")
    workdir = record.working_directory or "."
    epoch = record.source_date_epoch
    if container is not None and container.sif is not None:
        lines += _apptainer_lines(record, image, top, workdir)
    elif in_image and container is not None:
        if image is not None:
            lines.append(f"docker load -i {_sh(f'{top}/{image}')}")
        options = ["--rm", f"--network {_sh(container.network or 'none')}"]
        options.append('--user "$(id -u):$(id -g)"')
        if epoch is not None:
            options.append(f"-e SOURCE_DATE_EPOCH={epoch}")
        where = '"$PWD"' if workdir == "." else f'"$PWD"/{_sh(workdir)}'
        options += ['-v "$PWD":"$PWD"', f"-w {where}"]
        lines.append(f"docker run {' '.join(options)} {_sh(str(container.image_id))} {command}")
    else:
        run = f"SOURCE_DATE_EPOCH={epoch} {command}" if epoch is not None else command
        lines.append(run if workdir == "." else f"(cd {_sh(workdir)} && {run})")
    for output in record.outputs:
        if output.kind == "file" and output.sha256:
            lines.append(
                f"printf '%s\\n' {_sh(f'{output.sha256}  {output.path}')} | sha256sum -c -"
            )
    return {"label": record.label, "summary": summary, "block": "\n".join(lines)}


def _apptainer_lines(record: Record, image: str | None, top: str, workdir: str) -> list[str]:
    """Check the archived SIF image and run the command in it with Apptainer."""
    from paperlink.recorder.sif_environment import command_in_image

    assert record.container is not None and record.container.sif is not None
    sif = record.container.sif
    path = f"{top}/{image}" if image is not None else sif.path
    action, inner = command_in_image(record.argv)
    where = '"$PWD"' if workdir == "." else f'"$PWD"/{_sh(workdir)}'
    options = ["--cleanenv", '--bind "$PWD"', f"--pwd {where}"]
    if record.source_date_epoch is not None:
        options.append(f"--env SOURCE_DATE_EPOCH={record.source_date_epoch}")
    return [
        f"printf '%s\\n' {_sh(f'{sif.sha256}  {path}')} | sha256sum -c -",
        f"apptainer {action} {' '.join(options)} {_sh(path)} {shlex.join(inner)}",
    ]


def _command(record: Record) -> str:
    """The recorded command as a shell line; a program named by its full path (or inside a ``bin``
    folder, such as a virtualenv's, which the archive does not hold) is called by its name."""
    argv = list(record.argv) or ["true"]
    if argv[0].startswith(("/", "~")) or "/bin/" in argv[0]:
        argv[0] = PurePosixPath(argv[0]).name
    return shlex.join(argv)
