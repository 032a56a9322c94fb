"""Verify a published archive from its DOI alone, without the original project: what a reviewer runs.

The archive's run records (``*.record.json``) say what each output must be; every output is downloaded
(its md5 checked against the server) and re-hashed against its record's sha256, the archived paper's
embedded manifest is checked against the records and, on request, each run is re-executed from the
archive's code. Nothing of the author's machine is needed: only the archive's API. The server is not
trusted: its file names are checked and downloads stored under their index (:mod:`paperlink.publish.archive_files`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperlink.core.files import FileDigest
from paperlink.core.records import Record
from paperlink.errors import PaperlinkError, UnsafeArchive, UsageError, ZenodoError
from paperlink.publish.archive_files import PublishedArchive
from paperlink.verify.archive import check_download, environment_check
from paperlink.verify.manuscript import ERROR, MISMATCH, NOT_ARCHIVED, OK, Check, Item, Report
from paperlink.verify.paper_archive import check_papers

if TYPE_CHECKING:
    from paperlink.recorder.rerun import RerunResult

ZENODO_API = "https://zenodo.org/api"
SANDBOX_API = "https://sandbox.zenodo.org/api"


def locate(reference: str, zenodo_url: str | None = None) -> tuple[str, str]:
    """``(api base URL, record id)`` for a DOI (``10.5281/zenodo.123``, ``https://doi.org/…``) or a record
    URL (``https://host/records/123``, ``…/records/abcde-12345``); raises :class:`UsageError` for
    anything else.

    Zenodo's DOIs end in ``zenodo.<id>``; InvenioRDM's default form is ``<prefix>/<id>``, which only
    names the record: give the server with ``zenodo_url`` (without it, Zenodo is assumed), or let
    :func:`locate_resolved` ask the DOI system first.
    """
    text = _without_doi_prefix(reference)
    url = re.fullmatch(
        r"(https?://[^/]+)(?:/api)?/records/([0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)/?", text
    )
    if url:
        return zenodo_url or f"{url.group(1)}/api", url.group(2)
    doi = re.fullmatch(r"10\.(\d+)/(\S+)", text)
    if doi:
        default = SANDBOX_API if doi.group(1) == "5072" else ZENODO_API
        suffix = doi.group(2)
        zenodo = re.fullmatch(r"zenodo\.(\d+)", suffix, flags=re.I)
        if zenodo:
            return zenodo_url or default, zenodo.group(1)
        if re.fullmatch(r"[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?", suffix):
            return zenodo_url or default, suffix
        trailing = re.search(r"(\d+)$", suffix)
        if trailing:
            return zenodo_url or default, trailing.group(1)
    raise UsageError(
        f"'{reference}' is neither a DOI nor a record URL",
        hint="give a DOI such as 10.5281/zenodo.1234567 or a URL such as https://zenodo.org/records/1234567",
    )


def locate_resolved(reference: str, zenodo_url: str | None = None) -> tuple[str, str]:
    """:func:`locate`, but a DOI that does not say its server (not ``…/zenodo.<id>``) is first looked up in
    the DOI system (``$PAPERLINK_DOI_RESOLVER``, default https://doi.org) when ``zenodo_url`` is not given:
    an institution's InvenioRDM DOI leads to its own server."""
    text = _without_doi_prefix(reference)
    doi = re.fullmatch(r"10\.\d+/(\S+)", text)
    if zenodo_url or doi is None or re.fullmatch(r"zenodo\.\d+", doi.group(1), flags=re.I):
        return locate(reference, zenodo_url)
    from paperlink.publish.http import DOI_RESOLVER, resolve_doi

    page = resolve_doi(text, os.environ.get("PAPERLINK_DOI_RESOLVER") or DOI_RESOLVER)
    try:
        return locate(page)
    except UsageError:
        raise UsageError(
            f"DOI {text} resolves to {page}, which is not a Zenodo or InvenioRDM record page",
            hint="paperlink verifies archives made with 'paperlink publish' on Zenodo or InvenioRDM",
        ) from None


def _without_doi_prefix(reference: str) -> str:
    """``10.x/y`` from ``https://doi.org/10.x/y`` or ``doi:10.x/y`` (anything else is only trimmed)."""
    return re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", reference.strip(), flags=re.I)


def verify_archive(
    reference: str,
    *,
    zenodo_url: str | None = None,
    token: str | None = None,
    max_retry_seconds: float = 60.0,
    rerun: bool = False,
    image_archive: Path | None = None,
    engine: Any = None,
) -> Report:
    """Download the archive's records and outputs and check every output against its record, the
    archived paper's manifest against the records and, with ``rerun``, each run re-executed from the
    archive's code (:mod:`paperlink.verify.archive_rerun`; ``image_archive`` for an image the archive lacks).

    Raises :class:`UnsafeArchive` when the server lists a file name that is not a plain name or a run
    record that does not parse, :class:`ZenodoError` when the server cannot be read.
    """
    from paperlink.publish.http import ArchiveClient
    from paperlink.publish.published import get_record

    base, record_id = locate_resolved(reference, zenodo_url)
    report = Report(source=reference)
    with (
        ArchiveClient(base, token, max_retry_seconds=max_retry_seconds) as client,
        tempfile.TemporaryDirectory(prefix="paperlink-review-") as tmp,
    ):
        archive = PublishedArchive(client, record_id, get_record(client, record_id), Path(tmp))
        if not any(name.endswith(".record.json") for name in archive.files):
            raise ZenodoError(
                f"record {record_id} on {base} holds no paperlink run records (*.record.json)",
                hint="is this an archive made with 'paperlink publish'?",
            )
        archive.read_crate()
        records = archive.records()
        by_label: dict[str, list[Item]] = {}
        for name, record in records:
            environment = _environment(archive, record)
            for output in record.outputs:
                if output.kind != "file" or not output.sha256:
                    continue
                item = Item(
                    reference=f"{record.label}:{output.path}",
                    kind="output",
                    where=name,
                    label=record.label,
                    path=output.path,
                    sha256=output.sha256,
                )
                report.items.append(item)
                by_label.setdefault(record.label, []).append(item)
                item.checks.append(_check(archive, record, output))
                if environment is not None:
                    item.checks.append(environment)
        check_papers(archive, [r for _, r in records], report)
        if rerun:
            _rerun(archive, records, by_label, image_archive, engine)
        else:
            report.notes.append(
                "not re-executed: add --rerun to run each record again from the archive's code"
            )
    return report


def _rerun(
    archive: PublishedArchive,
    records: list[tuple[str, Record]],
    by_label: dict[str, list[Item]],
    image_archive: Path | None,
    engine: Any,
) -> None:
    from paperlink.verify.archive_rerun import rerun_check, rerun_from_archive

    for _, record in records:
        items = by_label.get(record.label)
        if not items:
            continue
        result: RerunResult | PaperlinkError
        try:
            result = rerun_from_archive(archive, record, image_archive=image_archive, engine=engine)
        except UnsafeArchive:
            raise
        except PaperlinkError as exc:
            result = exc
        for item in items:
            output = record.output(item.path or "")
            if output is not None:
                item.checks.append(rerun_check(result, output))


def _environment(archive: PublishedArchive, record: Record) -> Check | None:
    """The archive's ``environment-<short>.json`` of ``record``, downloaded: the md5 the archive lists,
    the record's environment named and the content its portable digest says (archives published before
    they held one are not checked)."""
    from paperlink.core.envportable import archive_name
    from paperlink.core.hashing import digest_file
    from paperlink.publish.published import download

    digest = record.environment_digest
    name = archive_name(digest or "")
    if not digest or name not in archive.files:
        return None
    with tempfile.TemporaryDirectory(prefix="environment-", dir=archive.work) as tmp:
        target = Path(tmp) / "file"
        try:
            download(archive.client, archive.record_id, name, target)
        except ZenodoError as exc:
            return Check("archive-environment", ERROR, exc.message)
        md5, data = digest_file(target).md5, target.read_bytes()
    listed = archive.files[name]
    if listed and md5 != listed:
        return Check(
            "archive-environment",
            MISMATCH,
            f"the archive's {name}: it is md5:{md5} but the archive lists md5:{listed}",
        )
    return environment_check(data, name, digest, None)


def _check(archive: PublishedArchive, record: Record, output: FileDigest) -> Check:
    name = archive.output_name(record.label, output.path)
    if name not in archive.files:
        if output.size == 0:
            return Check(
                "archive", OK, "empty file: Zenodo keeps no empty files; its digest is recorded"
            )
        return Check("archive", NOT_ARCHIVED, f"{name} is not among the archive's files")
    return check_download(
        archive.client, archive.record_id, name, output, listed_md5=archive.files[name]
    )
