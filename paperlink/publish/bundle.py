"""The archive bundle: the exact set of files a publication uploads, each with its size and digests.

For the chosen records: every output file (checked against the record's sha256 first), the records as JSON,
the code at each recorded commit (``git archive``) and the stored diffs, the container image archive, an
RO-Crate, a README and optionally the paper's PDF. Generated files are written to a staging folder and are
byte-for-byte reproducible, so a resumed publication finds the same checksums and skips what is uploaded.
Names are flat (Zenodo allows no ``/``), unique and readable: ``<label>__<path with / as __>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperlink.core.config import Project, atomic_write_bytes
from paperlink.core.envpackages import Environment
from paperlink.core.envrecipes import FORMAT_FILES, available_formats, render_environment
from paperlink.core.hashing import digest_file
from paperlink.core.records import FileDigest, Record, fit_file_name
from paperlink.core.safenames import safe_member_name
from paperlink.core.store import RecordStore
from paperlink.errors import BundleError, CaptureError, UsageError
from paperlink.publish.readme import CHECKSUMS, checksums, render_readme
from paperlink.publish.rocrate import build_crate, organization_urls

# (store, project root, target folder, manuscript): writes the static site of the store into the folder.
SiteWriter = Callable[[RecordStore, Path, Path, Path | None], object]

MAX_FILES = 100  # Zenodo's per-record limit (zenodo-api.md §9)
MAX_TOTAL_BYTES = 50 * 10**9


@dataclass
class BundleFile:
    name: str
    role: str  # output | record | code | diff | image | site | rocrate | readme | pdf | checksums
    path: Path
    size: int
    md5: str
    sha256: str
    labels: list[str] = field(default_factory=list)
    source: str | None = None  # the project path of an output, image or PDF
    commit: str | None = None  # for code archives

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "size": self.size,
            "md5": self.md5,
            "sha256": self.sha256,
            "labels": list(self.labels),
            "source": self.source,
        }


@dataclass
class Bundle:
    records: list[Record]
    files: list[BundleFile]
    warnings: list[str]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def flat(text: str) -> str:
    """A label or path as part of a flat file name (labels may hold ``/`` too). The result is a plain
    name a reviewer's ``verify --doi`` accepts (:func:`paperlink.core.safenames.safe_member_name`): ``\\``
    becomes ``__`` as ``/`` does, control characters ``_``, and a leading dot ``_``."""
    name = text.strip("/").replace("/", "__").replace("\\", "__")
    name = re.sub(r"[\x00-\x1f\x7f]", "_", name)
    return "_" + name[1:] if name.startswith(".") else name


def flat_name(label: str, path: str) -> str:
    """The archive's name for output ``path`` of record ``label``: valid UTF-8 (``path`` is the record's
    text form of a name that is not) and at most 255 bytes, so that it can be a file in ``--to DIR``."""
    return fit_file_name(f"{flat(label)}__{flat(path)}")


def build_bundle(
    project: Project,
    store: RecordStore,
    records: list[Record],
    *,
    staging: Path,
    metadata: dict[str, Any],
    include_image: bool = True,
    image_archive: Path | None = None,
    save_image: Callable[[Record], FileDigest | None] | None = None,
    pdf: Path | None = None,
    site_writer: SiteWriter | None = None,
    tex: Path | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    publisher: str | None = None,
) -> Bundle:
    """Collect and stage everything the archive of ``records`` holds; raises :class:`BundleError`.

    ``publisher`` is the API base of the archive server (None for a folder), named in the RO-Crate."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    files: list[BundleFile] = []
    warnings: list[str] = []
    names: set[str] = set()

    def unique(name: str) -> str:
        stem, dot, ext = name.partition(".")
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = fit_file_name(f"{stem}-{n}{dot}{ext}")
        names.add(candidate)
        return candidate

    def add(path: Path, name: str, role: str, labels: list[str], **extra: Any) -> BundleFile:
        progress = (lambda d, t: on_progress(name, d, t)) if on_progress else None
        digests = digest_file(path, on_progress=progress)
        item = BundleFile(
            # Never upload a name the archive's reviewers would refuse.
            name=safe_member_name(unique(name), where="the archive paperlink is building"),
            role=role,
            path=path,
            size=digests.size,
            md5=digests.md5,
            sha256=digests.sha256,
            labels=labels,
            **extra,
        )
        files.append(item)
        return item

    def stage(name: str, data: bytes) -> Path:
        path = staging / name
        atomic_write_bytes(path, data)
        return path

    environments: dict[str, Environment] = {}
    code_done: dict[str, BundleFile] = {}
    diffs_done: dict[str, BundleFile] = {}
    images_done: dict[str, BundleFile] = {}
    for record in records:
        for output in record.outputs:
            if output.kind != "file" or not output.sha256:
                if output.kind != "missing":
                    warnings.append(
                        f"record '{record.label}': {output.path} ({output.kind}) has no recorded "
                        "digest and is not archived"
                    )
                continue
            path = project.root / output.fs_path
            if not path.is_file():
                raise BundleError(
                    f"record '{record.label}': output {output.path} is missing",
                    hint=f"restore it, or re-run with 'paperlink rerun {record.label}'",
                )
            if output.size == 0:
                warnings.append(
                    f"record '{record.label}': {output.path} is empty; Zenodo refuses empty files, "
                    "so it is listed in the record and the RO-Crate but not uploaded"
                )
                continue
            item = add(path, flat_name(record.label, output.path), "output", [record.label],
                       source=output.path)  # fmt: skip
            if item.sha256 != output.sha256:
                raise BundleError(
                    f"record '{record.label}': {output.path} is sha256:{item.sha256[:12]}… but the "
                    f"record says sha256:{output.sha256[:12]}…; the file changed after the run",
                    hint=f"restore the file or re-run with 'paperlink rerun {record.label}', "
                    "then publish again",
                )
        archived = portable_record(project.root, record)
        name = f"{flat(record.label)}.record.json"
        add(stage(name, (archived.to_json(indent=2) + "\n").encode()), name, "record",
            [record.label])  # fmt: skip
        _add_code(project, store, record, add, stage, code_done, diffs_done, warnings)
        _add_environment(store, record, add, stage, environments, files)
        if include_image:
            _add_image(project, record, image_archive, save_image, add, images_done, warnings)
    if pdf is not None:
        if not pdf.is_file():
            raise UsageError(f"--pdf {pdf}: no such file")
        add(pdf, flat(pdf.name), "pdf", [], source=portable_path(project.root, pdf))
    portable = [portable_record(project.root, r) for r in records]
    if site_writer is not None:
        site_zip = staging / SITE_ARCHIVE
        write_site_archive(store, project.root, portable, site_zip, site_writer, tex=tex)
        add(site_zip, SITE_ARCHIVE, "site", [r.label for r in records])
    readme = render_readme(project.name, portable, files, metadata)
    add(stage("README.md", readme.encode()), "README.md", "readme", [])
    crate = build_crate(
        files=files,
        records=records,
        metadata=metadata,
        publisher=publisher,
        organizations=organization_urls(project),
        environments=environments,
    )
    crate_bytes = (json.dumps(crate, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    add(stage("ro-crate-metadata.json", crate_bytes), "ro-crate-metadata.json", "rocrate", [])
    # Last: the sha256 of every other file, so that 'sha256sum -c SHA256SUMS' checks the whole archive.
    add(stage(CHECKSUMS, checksums(files).encode()), CHECKSUMS, "checksums", [])
    if len(files) > MAX_FILES:
        raise BundleError(
            f"the archive would hold {len(files)} files; Zenodo accepts at most {MAX_FILES} per record",
            hint="publish fewer records at a time (--record L …), or collect outputs in fewer files",
        )
    total = sum(f.size for f in files)
    if total > MAX_TOTAL_BYTES:
        raise BundleError(
            f"the archive would hold {total / 1e9:.1f} GB; Zenodo accepts at most 50 GB per record",
            hint="publish fewer records at a time, or leave the image out with --no-image",
        )
    return Bundle(records=records, files=files, warnings=warnings)


SITE_ARCHIVE = "provenance-site.zip"


def portable_path(root: Path, path: Path) -> str:
    """A file as the archive names it: relative to the project, else by its name alone, never by where
    it lies on the author's machine."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.name


def portable_record(root: Path, record: Record) -> Record:
    """The record as the archive holds it: without its publication (the mutable part: the archive holds
    what the run recorded), and with the author's folders in its paths (the environment, the executable)
    written relative: the project's folder as ``.``, the home folder as ``~``."""
    data = record.to_dict()
    data["publication"] = None
    prefixes = [(str(root), ".")]
    real = os.path.realpath(root)
    if real != str(root):
        prefixes.append((real, "."))
    home = record.environment.get("HOME") or str(Path.home())
    if home.rstrip("/"):
        prefixes.append((home.rstrip("/"), "~"))
    # Longest first: the project usually lies inside the home folder.
    prefixes.sort(key=lambda item: -len(item[0]))
    prefixes = [(prefix, short) for prefix, short in prefixes if prefix.strip("/")]
    pattern = re.compile("|".join(f"{re.escape(prefix)}(?=/|:|$)" for prefix, _ in prefixes))
    replacement = dict(prefixes)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and prefixes:
            return pattern.sub(lambda m: replacement[m.group(0)], value)
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    portable = Record.from_dict(rewrite(data))
    container = portable.container
    if container is not None and container.sif is not None:
        # A SIF image outside the project is named by its file name, as the archive's copy is.
        if Path(container.sif.path).is_absolute():
            container.sif.path = Path(container.sif.path).name
        if container.reference is not None and Path(container.reference).is_absolute():
            container.reference = Path(container.reference).name
    return portable


def write_site_archive(
    store: RecordStore,
    root: Path,
    records: list[Record],
    target: Path,
    site_writer: SiteWriter,
    *,
    tex: Path | None = None,
) -> None:
    """The static provenance site of exactly ``records`` (``paperlink site``), as a deterministic zip.

    The site is built from a scratch store holding only these records (with their diffs and streams), so
    an archive never shows records it does not contain. ``site_writer`` writes the site of a store into a
    folder (the command layer passes :func:`paperlink.web.site.write_site`: the archive does not depend on
    the viewer).
    """
    with tempfile.TemporaryDirectory(prefix="paperlink-site-") as tmp:
        scratch = RecordStore.create(Path(tmp) / "records.sqlite")
        try:
            for record in records:
                # Without the publication, as the archived records: the archive cannot hold its own DOI
                # state, and republishing the same records must give the same bytes.
                scratch.add_record(Record.from_dict(record.to_dict()))
                if record.environment_digest:
                    scratch.put_environment(store.get_environment(record.environment_digest))
                if record.code.diff_sha256:
                    scratch.put_blob(
                        store.get_blob(record.code.diff_sha256), record.code.diff_sha256
                    )
                for stream in ("stdout", "stderr"):
                    parts = store.get_stream(record.label, stream)
                    if parts:
                        scratch.put_stream(record.label, stream, parts)
            site = Path(tmp) / "site"
            site_writer(scratch, root, site, tex)
        finally:
            scratch.close()
        files = sorted(p for p in site.rglob("*") if p.is_file())
        partial = target.with_name(f".{target.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                # Fixed times and modes: the same records give the same bytes (and md5) every time.
                info = zipfile.ZipInfo(
                    f"provenance-site/{path.relative_to(site).as_posix()}", (1980, 1, 1, 0, 0, 0)
                )
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        partial.replace(target)


def _add_environment(
    store: RecordStore,
    record: Record,
    add: Callable[..., BundleFile],
    stage: Callable[[str, bytes], Path],
    environments: dict[str, Environment],
    files: list[BundleFile],
) -> None:
    """The files that re-create ``record``'s environment (``paperlink env``), once per environment:
    ``environment-<digest>.requirements.txt``, ``.conda-explicit.txt``, ``.apt-install.sh``, ``.Dockerfile``."""
    digest = record.environment_digest
    if not digest:
        return
    if digest in environments:
        for item in files:
            if item.role == "environment" and item.source == digest:
                item.labels.append(record.label)
        return
    environment = store.get_environment(digest)
    environments[digest] = environment
    short = digest.removeprefix("sha256:")[:12]
    for fmt in available_formats(environment):
        name = f"environment-{short}.{FORMAT_FILES[fmt]}"
        text = render_environment(
            environment,
            fmt,
            label=record.label,
            requirements_name=f"environment-{short}.{FORMAT_FILES['requirements']}",
        )
        add(stage(name, text.encode()), name, "environment", [record.label], source=digest)


def _add_code(
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


def _add_image(
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
        _add_sif(project, record, add, images_done, warnings)
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


def _add_sif(
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
