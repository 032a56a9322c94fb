"""Publish records as an archive: to Zenodo (or a compatible server), or into a local folder.

``publish_records`` chooses the records (``selection``), builds the bundle (``bundle``), and either writes it
to a folder with a manifest (``to_folder``), or runs the deposit flow on the server (``to_server``) through an
:class:`paperlink.publish.api.ArchiveAPI` (Zenodo's deposit API or InvenioRDM's records API, the one chosen
kept in the state). Before anything is uploaded or written (and for a dry
run), every byte is scanned for the token and the secret environment variables' values
(:func:`check_no_secrets`); a finding stops the command. The state (``state``) is saved after every step,
so a run stopped by a crash, ``kill -9`` or Ctrl-C continues the same deposition when started again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paperlink.core.config import Project
from paperlink.core.metadata import ArchiveMetadata, load_metadata
from paperlink.core.records import (
    Record,
    format_time,
    utc_now,
)
from paperlink.core.store import RecordStore
from paperlink.errors import ConfigError, SecretFound
from paperlink.publish.bundle import Bundle, build_bundle
from paperlink.publish.options import PublishOptions, PublishResult, UploadProgress, file_report
from paperlink.publish.selection import choose_records
from paperlink.publish.state import PublishState, exclusive, publication_key
from paperlink.publish.to_folder import manifest_bytes, write_directory
from paperlink.publish.to_server import publish_to_server

PUBLISH_DIR = "publish"


def publish_records(
    project: Project,
    store: RecordStore,
    options: PublishOptions,
    *,
    on_progress: UploadProgress | None = None,
) -> PublishResult:
    """Archive the chosen records as ``options`` say; see the module docstring."""
    records = choose_records(store, options)
    labels = [r.label for r in records]
    meta = load_metadata(project, labels=labels)
    work = project.state_dir / PUBLISH_DIR
    key = publication_key(
        str(options.to_dir.resolve()) if options.to_dir else options.server_url, labels
    )
    with exclusive(work / f"{key}.lock"):
        return _publish_locked(project, store, options, records, meta, work, key, on_progress)


def _publish_locked(
    project: Project,
    store: RecordStore,
    options: PublishOptions,
    records: list[Record],
    meta: ArchiveMetadata,
    work: Path,
    key: str,
    on_progress: UploadProgress | None,
) -> PublishResult:
    from paperlink.containers.image_archive import ImageSaver

    # A container run's image goes into the archive even when 'image save' was never run (not for a
    # dry run, which writes nothing).
    saver = None if options.dry_run else ImageSaver(project.root, store, project.settings)
    try:
        bundle = build_bundle(
            project,
            store,
            records,
            staging=work / f"staging-{key}",
            metadata=meta.metadata,
            include_image=options.include_image,
            image_archive=options.image_archive,
            save_image=saver,
            pdf=options.pdf,
            site_writer=options.site_writer,
            tex=options.tex,
            on_progress=(lambda n, d, t: on_progress(f"checking {n}", d, t))
            if on_progress
            else None,
            publisher=None if options.to_dir else options.server_url,
        )
    finally:
        if saver is not None:
            saver.close()
    return _publish_bundle(project, store, options, records, meta, work, key, bundle, on_progress)


def _publish_bundle(
    project: Project,
    store: RecordStore,
    options: PublishOptions,
    records: list[Record],
    meta: ArchiveMetadata,
    work: Path,
    key: str,
    bundle: Bundle,
    on_progress: UploadProgress | None,
) -> PublishResult:
    labels = [r.label for r in records]
    result = PublishResult(
        target="dry-run",
        labels=labels,
        files=[file_report(f, "planned") for f in bundle.files],
        metadata=meta.metadata,
        metadata_source=meta.source,
        warnings=list(bundle.warnings),
    )
    # Every byte that would leave: the files, and the metadata or the manifest written beside them.
    extra = {"the archive metadata": _metadata_bytes(result.metadata)}
    if options.to_dir is not None:
        extra = {"manifest.json": manifest_bytes(result, bundle)}
    check_no_secrets(bundle, options, extra, on_progress)
    if options.dry_run:
        result.state = "planned"
        result.warnings += meta.problems
        result.server = None if options.to_dir else options.server_url
        result.directory = str(options.to_dir) if options.to_dir else None
        return result
    if options.to_dir is not None:
        result.warnings += meta.problems
        return write_directory(store, bundle, result, options.to_dir, on_progress)
    if meta.problems:
        raise ConfigError("cannot publish: " + "; ".join(meta.problems))
    if not options.token:
        raise ConfigError("no Zenodo token given")
    state = PublishState.load(
        work / f"{key}.json",
        key=key,
        server=options.server_url,
        labels=labels,
        created=format_time(utc_now()),
    )
    return publish_to_server(store, bundle, result, state, options, on_progress)


def _metadata_bytes(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False).encode()


def check_no_secrets(
    bundle: Bundle,
    options: PublishOptions,
    extra: Mapping[str, bytes] | None = None,
    on_progress: UploadProgress | None = None,
) -> None:
    """Raise :class:`SecretFound` when a file of ``bundle`` (or one of the ``extra`` named bytes) holds
    the token or a secret environment variable's value; the message names file and line, never the value.
    """
    from paperlink.core.secretscan import SecretScanner

    scanner = SecretScanner.for_publish(
        os.environ if options.environ is None else options.environ,
        token=options.token,
        extra=options.secrets,
    )
    if scanner.empty:
        return
    progress = (lambda n, d, t: on_progress(f"scanning {n}", d, t)) if on_progress else None
    findings = []
    for f in bundle.files:
        shown = f"{f.name} ({f.source})" if f.source and f.source != f.name else f.name
        findings += scanner.scan_file(shown, f.path, progress)
    for name, data in (extra or {}).items():
        findings += scanner.scan_bytes(name, data)
    if findings:
        raise SecretFound(
            [finding.as_tuple() for finding in findings],
            hint="take the value out of these files (for an output: change the program so that it "
            "does not write it, then re-run it) and publish again; a record made before the "
            "variable held a secret can be left out (choose the records with --record)",
        )
