"""A publication to an archive server through its :class:`paperlink.publish.api.ArchiveAPI`: create (or open
a new version) and keep the reserved DOI at once, upload what the server does not already hold with the
same checksum, set the metadata, publish, and keep DOI, URL and checksums with the records; every step
saved in the :class:`paperlink.publish.state.PublishState`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from paperlink.core.records import Publication, format_time, utc_now
from paperlink.core.store import RecordStore
from paperlink.errors import UsageError, ZenodoError
from paperlink.publish.bundle import Bundle
from paperlink.publish.options import (
    PublishOptions,
    PublishResult,
    UploadProgress,
    annotate,
    file_report,
)
from paperlink.publish.state import PublishState

if TYPE_CHECKING:
    from paperlink.publish.api import ArchiveAPI
    from paperlink.publish.http import ArchiveClient


def publish_to_server(
    store: RecordStore,
    bundle: Bundle,
    result: PublishResult,
    state: PublishState,
    options: PublishOptions,
    on_progress: UploadProgress | None,
) -> PublishResult:
    from paperlink.publish.http import ArchiveClient

    result.target = "zenodo"
    result.server = options.server_url
    wanted = {f.name: f for f in bundle.files}
    uploaded: set[str] = set()
    if state["stage"] == "published" and not options.new_version:
        changed = sorted(
            n for n, f in wanted.items() if (state["files"] or {}).get(n) != f.md5
        ) + sorted(set(state["files"] or {}) - set(wanted))
        if changed:
            raise UsageError(
                f"these records were published as {state['doi']}, and the archive has changed since "
                f"({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''})",
                hint="publish the changes as a new version with --new-version",
            )
        return _finish_result(result, state, bundle, "already published")
    if state["stage"] == "published" and options.new_version:
        state.update(previous_id=state["deposition_id"], previous_doi=state["doi"],
                     deposition_id=None, stage="new-version", doi=None, url=None, files={})  # fmt: skip
    elif options.new_version and state["deposition_id"] is None and not state["previous_id"]:
        # A new version of what these records were last published in, even with another selection.
        previous = _last_publication(bundle, options.server_url)
        if previous is None:
            raise UsageError(
                "--new-version: none of these records has been published on "
                f"{options.server_url} yet",
                hint="publish them without --new-version first",
            )
        state.update(previous_id=previous.deposition_id, previous_doi=previous.doi,
                     stage="new-version")  # fmt: skip
    token = options.token or ""
    with ArchiveClient(
        options.server_url,
        token,
        max_retry_seconds=options.max_retry_seconds,
        again="run the same command again later (publish continues where it stopped)",
    ) as client:
        api = _choose_api(client, state, options.api)
        # 1. the deposition, and its reserved DOI stored with the records at once
        if state["deposition_id"] is None:
            if state["previous_id"]:
                deposit = api.new_version(str(state["previous_id"]))
            else:
                found = None
                if state["marker"]:
                    # An earlier run may have died after its create reached the server.
                    found = api.find_draft(state["marker"])
                else:
                    state.update(marker=f"paperlink draft {uuid.uuid4()}", stage="creating")
                deposit = found or api.create(state["marker"])
            state.update(deposition_id=deposit.id, reserved_doi=deposit.doi, stage="created",
                         html=deposit.url)  # fmt: skip
            for record in bundle.records:
                annotate(store, record.label, bundle, service="zenodo", server=options.server_url,
                          deposition_id=deposit.id, doi=deposit.doi, url=deposit.url,
                          published=None)  # fmt: skip
        else:
            try:
                deposit = api.get(str(state["deposition_id"]))
            except ZenodoError as exc:
                if exc.status in (401, 403):  # the token, not the deposition: it may well be there
                    raise ZenodoError(
                        f"deposition {state['deposition_id']}, which an earlier run of this command "
                        f"started on {options.server_url}, cannot be read: the server refused the "
                        f"token (HTTP {exc.status})",
                        status=exc.status,
                        hint="use the token of the account that started it (ZENODO_TOKEN, or "
                        "ZENODO_SANDBOX_TOKEN with --sandbox; sandbox and production need their own); "
                        f"to start over under another account, remove {state.path}",
                    ) from exc
                if exc.status not in (404, 410):
                    raise
                raise ZenodoError(
                    f"deposition {state['deposition_id']}, which an earlier run of this command "
                    f"started, is gone from {options.server_url} (HTTP {exc.status})",
                    status=exc.status,
                    hint=f"if it was deleted on purpose, remove {state.path} to start a new one",
                ) from exc
        if not deposit.published:
            # 2. files: keep what the server holds with the same checksum, replace the rest
            done: dict[str, str] = {}
            for name, (md5, size) in deposit.files.items():
                f = wanted.get(name)
                if f is None or md5 != f.md5 or (size is not None and size != f.size):
                    api.delete_file(deposit, name)
                else:
                    done[name] = f.md5
            state.update(files=done, stage="uploading")
            for f in bundle.files:
                if f.name in done:
                    continue
                progress = (lambda d, t, n=f.name: on_progress(n, d, t)) if on_progress else None
                api.upload(deposit, f.name, f.path, md5=f.md5, on_progress=progress)
                done[f.name] = f.md5
                uploaded.add(f.name)
                state.update(files=done)
            # 3. metadata (the whole of it, every time: the server replaces, never merges)
            api.set_metadata(deposit, result.metadata)
            state.update(stage="metadata")
            if options.draft:
                state.update(stage="draft")
                result.warnings += api.warnings
                return _finish_result(result, state, bundle, "draft", uploaded)
            # 4. publish
            deposit = api.publish(deposit)
        result.warnings += api.warnings
        doi = str(deposit.doi or state["reserved_doi"] or "")
        url = deposit.url
    published = format_time(utc_now())
    state.update(stage="published", doi=doi, url=url, published=published,
                 files={f.name: f.md5 for f in bundle.files})  # fmt: skip
    for record in bundle.records:
        annotate(store, record.label, bundle, service="zenodo", server=options.server_url,
                  deposition_id=str(state["deposition_id"]), doi=doi or None, url=url,
                  published=published)  # fmt: skip
    return _finish_result(result, state, bundle, "published", uploaded)


def _choose_api(client: ArchiveClient, state: PublishState, requested: str) -> ArchiveAPI:
    """The API this publication uses: the one it started with (kept in the state), else ``requested``
    or, for ``auto``, the one the server offers."""
    from paperlink.publish.servers import open_api

    started = state["api"]
    if started and requested not in ("auto", started):
        raise UsageError(
            f"this publication was started with the {started} API, not the {requested} API",
            hint=f"run it again with --api {started} (or auto), or remove {state.path} to start over",
        )
    api = open_api(client, started or requested)
    if started != api.name:
        state.update(api=api.name)
    return api


def _last_publication(bundle: Bundle, server: str) -> Publication | None:
    published = [
        r.publication
        for r in bundle.records
        if r.publication is not None
        and r.publication.service == "zenodo"
        and r.publication.published
        and (r.publication.server or "").rstrip("/") == server.rstrip("/")
    ]
    return max(published, key=lambda p: p.published or "", default=None)


def _finish_result(
    result: PublishResult,
    state: PublishState,
    bundle: Bundle,
    status: str,
    uploaded: set[str] | None = None,
) -> PublishResult:
    """Fill in where the archive is; files not uploaded by this run were already on the server."""
    result.state = status
    result.deposition_id = str(state["deposition_id"])
    result.doi = state["doi"] or state["reserved_doi"]
    result.url = state["url"] or state["html"]
    result.files = [
        file_report(f, "uploaded" if f.name in (uploaded or set()) else "skipped")
        for f in bundle.files
    ]
    return result
