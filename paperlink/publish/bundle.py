"""The archive bundle: the exact set of files a publication uploads, each with its size and digests.

For the chosen records: every output file (checked against the record's sha256 first), the records as JSON,
the code at each recorded commit (``git archive``) and the stored diffs, the container image archive, an
RO-Crate, a README and optionally the paper's PDF. Generated files are written to a staging folder and are
byte-for-byte reproducible, so a resumed publication finds the same checksums and skips what is uploaded.
Names are flat (Zenodo allows no ``/``), unique and readable: ``<label>__<path with / as __>``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paperlink.core.config import Project, atomic_write_bytes
from paperlink.core.envpackages import Environment
from paperlink.core.files import FileDigest, fit_file_name
from paperlink.core.hashing import digest_file
from paperlink.core.records import Record
from paperlink.core.safenames import safe_member_name
from paperlink.core.store import RecordStore
from paperlink.errors import BundleError, UsageError
from paperlink.publish.bundle_files import (
    Bundle,
    BundleFile,
    flat,
    flat_name,
    portable_path,
    portable_record,
)
from paperlink.publish.bundle_sources import add_code, add_environment, add_image
from paperlink.publish.readme import CHECKSUMS, checksums, render_readme
from paperlink.publish.rocrate import build_crate, organization_urls

# (store, project root, target folder, manuscript): writes the static site of the store into the folder.
SiteWriter = Callable[[RecordStore, Path, Path, Path | None], object]

MAX_FILES = 100  # Zenodo's per-record limit (zenodo-api.md §9)
MAX_TOTAL_BYTES = 50 * 10**9


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
        add_code(project, store, record, add, stage, code_done, diffs_done, warnings)
        add_environment(store, record, add, stage, environments, files)
        if include_image:
            add_image(project, record, image_archive, save_image, add, images_done, warnings)
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
