"""What ``paperlink publish`` is asked (:class:`PublishOptions`) and what it reports (:class:`PublishResult`),
and the publication annotation it leaves on each archived record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperlink.core.model import model
from paperlink.core.records import Publication, PublishedFile
from paperlink.core.store import RecordStore
from paperlink.publish.api import PRODUCTION_URL
from paperlink.publish.bundle import SiteWriter

if TYPE_CHECKING:
    from paperlink.publish.bundle_files import Bundle

UploadProgress = Callable[[str, int, int], None]


@model
class PublishOptions:
    labels: list[str] = field(default_factory=list)
    all_records: bool = False
    tex: Path | None = None
    server_url: str = PRODUCTION_URL
    token: str | None = None
    new_version: bool = False
    draft: bool = False
    include_image: bool = True
    # Writes the provenance site the archive carries (None: no site); see bundle.SiteWriter.
    site_writer: SiteWriter | None = None
    image_archive: Path | None = None
    pdf: Path | None = None
    to_dir: Path | None = None
    dry_run: bool = False
    max_retry_seconds: float = 300.0
    api: str = "auto"  # auto | deposit (Zenodo's legacy API) | records (InvenioRDM's)
    # Where the secret values to scan for come from (None: os.environ), and more values (the token when
    # --to or --dry-run does not use it).
    environ: Mapping[str, str] | None = None
    secrets: list[str] = field(default_factory=list)


@model
class FileReport:
    name: str
    size: int
    md5: str
    sha256: str
    role: str
    action: str  # planned | written | uploaded | skipped (already there with the same md5)


@model
class PublishResult:
    target: str  # zenodo | directory | dry-run
    labels: list[str]
    files: list[FileReport]
    metadata: dict[str, Any]
    metadata_source: str
    warnings: list[str] = field(default_factory=list)
    state: str = ""  # draft | published | already published | written | planned
    server: str | None = None
    deposition_id: str | None = None
    doi: str | None = None
    url: str | None = None
    directory: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_report(f: Any, action: str) -> FileReport:
    return FileReport(
        name=f.name, size=f.size, md5=f.md5, sha256=f.sha256, role=f.role, action=action
    )


def annotate(store: RecordStore, label: str, bundle: Bundle, **fields: Any) -> None:
    files = [
        PublishedFile(name=f.name, md5=f.md5, size=f.size, source_path=f.source)
        for f in bundle.files
        if label in f.labels or not f.labels
    ]
    publication = Publication(service=fields.pop("service"), files=files, **fields)
    store.set_annotation(label, "publication", asdict(publication))
