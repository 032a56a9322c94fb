"""What each run brings into its archive besides its outputs and record: the code at the recorded commit
and its diff, the files that re-create its environment, and its container or SIF image."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from paperlink.core.config import Project
from paperlink.core.envpackages import Environment
from paperlink.core.envportable import archive_name, archived_environment, local_references
from paperlink.core.envrecipes import FORMAT_FILES, available_formats, render_environment
from paperlink.core.files import FileDigest
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import BundleError, CaptureError
from paperlink.publish.bundle_files import BundleFile, flat, portable_path


def add_environment(
    store: RecordStore,
    record: Record,
    add: Callable[..., BundleFile],
    stage: Callable[[str, bytes], Path],
    environments: dict[str, Environment],
    files: list[BundleFile],
) -> None:
    """The environment of ``record``, once per environment: ``environment-<digest>.json``, the
    environment itself in its portable form (:mod:`paperlink.core.envportable`), and the files that
    re-create it (``paperlink env``): ``.requirements.txt``, ``.conda-explicit.txt``, ``.apt-install.sh``,
    ``.Dockerfile``. Raises :class:`BundleError` if the environment would still name this machine."""
    digest = record.environment_digest
    if not digest:
        return
    if digest in environments:
        for item in files:
            if item.role in ("environment", "environment-json") and item.source == digest:
                item.labels.append(record.label)
        return
    environment = store.get_environment(digest)
    environments[digest] = environment
    short = digest.removeprefix("sha256:")[:12]
    name = archive_name(digest)
    data = archived_environment(environment, digest)
    archived = json.loads(data)["environment"]
    local = next(local_references(archived), None)
    if local is not None:  # each field is made portable: a hit here is a field paperlink forgot
        raise BundleError(
            f"record '{record.label}': its environment would name this machine ({local}) in {name}",
            hint="report it as a paperlink bug; publish the other records meanwhile",
        )
    add(stage(name, data), name, "environment-json", [record.label], source=digest)
    # The recipes are written from the portable form too: a local channel's packages and a local
    # registry's image become instructions instead of addresses on this machine.
    portable = Environment.from_dict(archived)
    for fmt in available_formats(portable):
        name = f"environment-{short}.{FORMAT_FILES[fmt]}"
        text = render_environment(
            portable,
            fmt,
            label=record.label,
            requirements_name=f"environment-{short}.{FORMAT_FILES['requirements']}",
            digest=digest,
            archived=True,
        )
        add(stage(name, text.encode()), name, "environment", [record.label], source=digest)


def add_code(
    project: Project,
    store: RecordStore,
    record: Record,
    add: Callable[..., BundleFile],
    stage: Callable[[str, bytes], Path],
    code_done: dict[str, BundleFile],
    diffs_done: dict[str, BundleFile],
    warnings: list[str],
) -> None:
    code = record.code
    if code.vcs != "git" or not code.commit:
        warnings.append(
            f"record '{record.label}' has no recorded git commit; its code is not archived"
        )
        return
    if code.commit in code_done:
        code_done[code.commit].labels.append(record.label)
    else:
        short = code.commit[:12]
        name = f"code-{short}.tar.gz"
        try:
            data = subprocess.run(
                ["git", "-C", str(project.root), "archive", "--format=tar.gz",
                 f"--prefix={project.name}-{short}/", code.commit],
                capture_output=True, check=True,
            ).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as exc:
            stderr = getattr(exc, "stderr", b"") or b""
            warnings.append(
                f"record '{record.label}': commit {short} is not in the repository at "
                f"{project.root} ({stderr.decode(errors='replace').strip() or exc}); "
                "its code is not archived"
            )
            return
        code_done[code.commit] = add(stage(name, data), name, "code", [record.label],
                                     commit=code.commit)  # fmt: skip
    if code.diff_sha256:
        if code.diff_sha256 in diffs_done:  # runs from the same dirty tree share one file
            diffs_done[code.diff_sha256].labels.append(record.label)
            return
        diff = store.get_blob(code.diff_sha256)
        name = f"{flat(record.label)}.code.diff"
        diffs_done[code.diff_sha256] = add(stage(name, diff), name, "diff", [record.label])


def add_image(
    project: Project,
    record: Record,
    image_archive: Path | None,
    save_image: Callable[[Record], FileDigest | None] | None,
    add: Callable[..., BundleFile],
    images_done: dict[str, BundleFile],
    warnings: list[str],
) -> None:
    container = record.container
    if container is None or (container.inside_container and not container.reference):
        return
    if container.sif is not None:
        add_sif(project, record, add, images_done, warnings)
        return
    archive = container.archive
    path: Path | None = None
    if archive is not None and archive.path:
        candidate = Path(archive.path)
        candidate = candidate if candidate.is_absolute() else project.root / candidate
        if candidate.is_file():
            path = candidate
    if path is None and image_archive is not None:
        path = image_archive
    if path is None and save_image is not None and (saved := save_image(record)) is not None:
        # No archive yet: saved from the engine now (and recorded), so the archive holds the image.
        container.archive = archive = saved
        path = project.root / saved.path
    if path is None:
        warnings.append(
            f"record '{record.label}' ran in image {container.reference or container.image_id} but "
            "no image archive is available, so the archive cannot re-create its environment; save "
            "one with 'paperlink image save' or pass --image-archive FILE (or --no-image to skip)"
        )
        return
    key = str(path.resolve())
    if key in images_done:
        images_done[key].labels.append(record.label)
        return
    try:
        item = add(path, f"image-{flat(path.name)}", "image", [record.label],
                   source=portable_path(project.root, path))  # fmt: skip
    except CaptureError as exc:
        raise BundleError(f"record '{record.label}': image archive {exc}") from exc
    if (
        archive is not None
        and archive.sha256
        and path != image_archive
        and item.sha256 != archive.sha256
    ):
        raise BundleError(
            f"record '{record.label}': image archive {path} is sha256:{item.sha256[:12]}… but the "
            f"record says sha256:{archive.sha256[:12]}…",
            hint="save the image again with 'paperlink image save'",
        )
    images_done[key] = item


def add_sif(
    project: Project,
    record: Record,
    add: Callable[..., BundleFile],
    images_done: dict[str, BundleFile],
    warnings: list[str],
) -> None:
    """The SIF image itself is the archive of a run's environment: added as it is, once, and only when
    its bytes are the ones the run used."""
    from paperlink.recorder.sif_environment import sif_path

    assert record.container is not None and record.container.sif is not None
    sif = record.container.sif
    path = sif_path(record, project.root)
    if path is None:
        warnings.append(
            f"record '{record.label}' ran in SIF image {sif.path} but it is not on this machine, so "
            "the archive cannot re-create its environment; copy the image back there (or --no-image "
            "to skip)"
        )
        return
    key = str(path.resolve())
    if key in images_done:
        images_done[key].labels.append(record.label)
        return
    item = add(path, f"image-{flat(path.name)}", "image", [record.label],
               source=portable_path(project.root, path))  # fmt: skip
    if item.sha256 != sif.sha256:
        raise BundleError(
            f"record '{record.label}': SIF image {path} is sha256:{item.sha256[:12]}… but the run used "
            f"sha256:{sif.sha256[:12]}…; the image changed after the run",
            hint="restore the image the run used, or re-run in the new one, then publish again",
        )
    images_done[key] = item
