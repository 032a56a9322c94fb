"""A publication written into a local folder (``publish --to DIR``): the bundle and a ``manifest.json``,
through a temporary sibling and a rename."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from paperlink.core.records import format_time, utc_now
from paperlink.core.store import RecordStore
from paperlink.errors import UsageError
from paperlink.publish.bundle import Bundle
from paperlink.publish.options import PublishResult, UploadProgress, annotate, file_report
from paperlink.version import __version__


def write_directory(
    store: RecordStore,
    bundle: Bundle,
    result: PublishResult,
    target: Path,
    on_progress: UploadProgress | None,
) -> PublishResult:
    """Write the bundle + ``manifest.json`` into ``target`` (through a temporary sibling and a rename)."""
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} already exists and is not an empty folder",
            hint="choose a new folder, or remove this one",
        )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for f in bundle.files:
            shutil.copyfile(f.path, tmp / f.name)
            if on_progress is not None:
                on_progress(f.name, f.size, f.size)
        (tmp / "manifest.json").write_bytes(manifest_bytes(result, bundle))
        if target.exists():
            target.rmdir()
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    for record in bundle.records:
        existing = store.get_annotation(record.label, "publication")
        if existing and existing.get("doi"):
            continue  # a DOI is worth more than a local folder; keep it
        annotate(store, record.label, bundle, service="directory", server=None,
                  deposition_id=None, doi=None, url=target.as_uri(), published=format_time(utc_now()))  # fmt: skip
    result.target = "directory"
    result.state = "written"
    result.directory = str(target)
    result.files = [file_report(f, "written") for f in bundle.files]
    return result


def manifest_bytes(result: PublishResult, bundle: Bundle) -> bytes:
    manifest = {
        "paperlink_version": __version__,
        "labels": result.labels,
        "metadata": result.metadata,
        "metadata_source": result.metadata_source,
        "files": [f.to_dict() for f in bundle.files],
    }
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
