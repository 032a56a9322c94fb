"""Zenodo's legacy deposit API (``/deposit/depositions`` and bucket uploads) as an :class:`ArchiveAPI`.

Its calls run on :class:`paperlink.publish.http.ArchiveClient`; a create, publish or new version whose answer
is lost is settled by reading the account's drafts or the deposition before any second POST
(``docs/zenodo-api.md``).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import requests

from paperlink.errors import ZenodoError
from paperlink.publish.api import (
    SANDBOX_URL,
    Deposit,
    ProgressCallback,
    UploadedFile,
    confirm_upload,
    normalise_md5,
)
from paperlink.publish.http import ArchiveClient

# Zenodo refuses these locally anyway; checking first saves a half-made deposition (zenodo-api.md §9).
MAX_FILES = 100
MAX_TOTAL_BYTES = 50 * 10**9


class DepositAPI:
    """Zenodo's legacy deposit API (``/deposit/depositions`` + bucket uploads) on ``client``."""

    name = "deposit"

    def __init__(self, client: ArchiveClient) -> None:
        self.client = client
        self.warnings: list[str] = []
        self._sandbox = client.base_url == SANDBOX_URL

    def create(self, marker: str) -> Deposit:
        return self._deposit(self.create_deposition(marker))

    def find_draft(self, marker: str) -> Deposit | None:
        found = self.find_deposition(marker)
        return self._deposit(found) if found is not None else None

    def get(self, deposit_id: str) -> Deposit:
        return self._deposit(self.get_deposition(deposit_id))

    def new_version(self, published_id: str) -> Deposit:
        return self._deposit(self.open_new_version(published_id))

    def delete_file(self, deposit: Deposit, name: str) -> None:
        self.delete_bucket_file(deposit.raw, name)

    def upload(
        self,
        deposit: Deposit,
        name: str,
        path: str | os.PathLike[str],
        *,
        md5: str,
        on_progress: ProgressCallback | None = None,
    ) -> UploadedFile:
        return self.upload_file(deposit.raw, name, path, md5=md5, on_progress=on_progress)

    def set_metadata(self, deposit: Deposit, metadata: dict[str, Any]) -> None:
        self.update_metadata(deposit.id, metadata)

    def publish(self, deposit: Deposit) -> Deposit:
        return self._deposit(self.publish_deposition(deposit.id))

    def _deposit(self, data: dict[str, Any]) -> Deposit:
        published = is_published(data)
        doi = data.get("doi")
        if not published:
            doi = (data.get("metadata", {}).get("prereserve_doi") or {}).get("doi")
            if doi and self._sandbox:
                # The serializer reports the production prefix on the sandbox (zenodo-api.md §4).
                doi = "10.5072/" + str(doi).split("/", 1)[1]
        url = record_url(self.client, data) if published else (data.get("links") or {}).get("html")
        return Deposit(
            str(data["id"]),
            published,
            str(doi) if doi else None,
            str(url) if url else None,
            deposition_files(data),
            data,
        )

    # Zenodo's own calls, on its JSON (the ArchiveAPI above wraps them as Deposits).
    def get_deposition(self, deposition_id: int | str) -> dict[str, Any]:
        what = f"reading deposition {deposition_id}"
        response = self.client.send("GET", f"deposit/depositions/{deposition_id}", what=what)
        data: dict[str, Any] = self.client.json_of(response, what)
        return data

    def list_drafts(self) -> list[dict[str, Any]]:
        """The account's unpublished depositions (newest first; the listing lags behind creation)."""
        response = self.client.send(
            "GET",
            "deposit/depositions",
            params={"status": "draft", "sort": "mostrecent", "size": "100"},
            what="listing draft depositions",
        )
        data = self.client.json_of(response, "listing draft depositions")
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def create_deposition(self, marker: str, *, lookups: int = 3) -> dict[str, Any]:
        """Create a deposition titled ``marker`` (a unique string the caller keeps before calling).

        If the answer is lost, the account's drafts are searched for ``marker`` (a few times, since the
        listing lags) before the POST is sent again, so a lost answer never leaves two depositions.
        """
        return self.client.post_settled(
            "deposit/depositions",
            "creating a deposition",
            json_body={"metadata": {"title": marker}},
            settle=lambda: self.find_deposition(marker),
            lookups=lookups,
        )

    def find_deposition(self, marker: str) -> dict[str, Any] | None:
        """The draft whose title is ``marker``; strays with the same marker (a re-sent create) are deleted."""
        matches = sorted(
            (d for d in self.list_drafts() if d.get("title") == marker),
            key=lambda d: int(d.get("id", 0)),
        )
        for stray in matches[1:]:
            self.delete_deposition(stray["id"])
        return self.get_deposition(matches[0]["id"]) if matches else None

    def delete_deposition(self, deposition_id: int | str) -> None:
        self.client.send(
            "DELETE",
            f"deposit/depositions/{deposition_id}",
            what=f"deleting deposition {deposition_id}",
        )

    def update_metadata(self, deposition_id: int | str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole metadata (the server does not merge); field errors raise
        :class:`ZenodoValidationError`."""
        what = f"setting the metadata of deposition {deposition_id}"
        response = self.client.send(
            "PUT",
            f"deposit/depositions/{deposition_id}",
            json_body={"metadata": metadata},
            what=what,
        )
        data: dict[str, Any] = self.client.json_of(response, what)
        return data

    def publish_deposition(self, deposition_id: int | str) -> dict[str, Any]:
        """Publish; a lost answer is settled by reading the deposition before any second POST."""

        def settle() -> dict[str, Any] | None:
            current = self.get_deposition(deposition_id)
            return current if is_published(current) else None

        return self.client.post_settled(
            f"deposit/depositions/{deposition_id}/actions/publish",
            f"publishing deposition {deposition_id}",
            settle=settle,
        )

    def open_new_version(self, published_id: int | str) -> dict[str, Any]:
        """A draft for a new version of published deposition ``published_id`` (reusing an open one).

        Returns the new draft itself, whichever era's answer the server gives (``links.latest_draft``).
        """
        what = f"opening a new version of deposition {published_id}"
        published = self.get_deposition(published_id)
        concept = str(published.get("conceptrecid") or "")
        existing = self._open_version_draft(concept, published_id)
        if existing is not None:
            return existing

        def answer(response: requests.Response) -> dict[str, Any]:
            data = self.client.json_of(response, what)
            latest = (data.get("links") or {}).get("latest_draft")
            if latest:
                draft: dict[str, Any] = self.client.json_of(
                    self.client.send("GET", latest, what=what), what
                )
                return draft
            return dict(data)

        return self.client.post_settled(
            f"deposit/depositions/{published_id}/actions/newversion",
            what,
            settle=lambda: self._open_version_draft(concept, published_id),
            answer=answer,
        )

    def _open_version_draft(self, concept: str, published_id: int | str) -> dict[str, Any] | None:
        if not concept:
            return None
        for draft in self.list_drafts():
            if str(draft.get("conceptrecid")) == concept and str(draft.get("id")) != str(
                published_id
            ):
                return self.get_deposition(draft["id"])
        return None

    def upload_file(
        self,
        deposition: dict[str, Any],
        name: str,
        path: str | os.PathLike[str],
        *,
        md5: str,
        on_progress: ProgressCallback | None = None,
    ) -> UploadedFile:
        """Stream ``path`` to the deposition's bucket as ``name`` and check the server's md5 and size.

        A retried upload re-sends the whole file (same name = replace). When the answer carries no
        checksum, the deposition's file list confirms it.
        """
        bucket = (deposition.get("links") or {}).get("bucket")
        if not bucket:
            raise ZenodoError(
                f"deposition {deposition.get('id')} has no bucket link; the server may not support "
                "the bucket files API",
                hint="for a server without it, use the InvenioRDM records API (--api records)",
            )
        url = f"{bucket.rstrip('/')}/{quote(name, safe='')}"
        what = f"uploading {name}"
        answer = self.client.put_file(url, path, what=what, on_progress=on_progress)
        got_md5 = normalise_md5(answer.get("checksum")) if isinstance(answer, dict) else None
        got_size = answer.get("size") if isinstance(answer, dict) else None
        if got_md5 is None:
            listed = self.file_checksums(deposition["id"]).get(name)
            got_md5, got_size = listed if listed else (None, None)
        return confirm_upload(what, name, path, md5, got_md5, got_size)

    def file_checksums(self, deposition_id: int | str) -> dict[str, tuple[str | None, int | None]]:
        """``{name: (md5, size)}`` of the files the deposition holds now."""
        deposition = self.get_deposition(deposition_id)
        return deposition_files(deposition)

    def delete_bucket_file(self, deposition: dict[str, Any], name: str) -> None:
        bucket = (deposition.get("links") or {}).get("bucket")
        if not bucket:
            raise ZenodoError(f"deposition {deposition.get('id')} has no bucket link")
        self.client.send(
            "DELETE", f"{bucket.rstrip('/')}/{quote(name, safe='')}", what=f"deleting {name}"
        )


def deposition_files(deposition: dict[str, Any]) -> dict[str, tuple[str | None, int | None]]:
    """``{name: (md5, size)}`` from a deposition's ``files`` (names under ``filename`` or ``key``)."""
    found: dict[str, tuple[str | None, int | None]] = {}
    for item in deposition.get("files") or []:
        if not isinstance(item, dict):
            continue
        name = item.get("filename") or item.get("key")
        if name:
            size = item.get("filesize", item.get("size"))
            found[str(name)] = (
                normalise_md5(item.get("checksum")),
                int(size) if size is not None else None,
            )
    return found


def is_published(deposition: dict[str, Any]) -> bool:
    """Published: ``submitted`` with state ``done``, or a registered ``doi``."""
    return bool(
        (deposition.get("submitted") and deposition.get("state") == "done") or deposition.get("doi")
    )


def record_url(client: ArchiveClient, deposition: dict[str, Any]) -> str:
    """The landing page of a published deposition (``record_url`` is gone from the current layer)."""
    links = deposition.get("links") or {}
    for key in ("record_html", "latest_html"):
        if links.get(key):
            return str(links[key])
    if deposition.get("record_url"):
        return str(deposition["record_url"])
    return f"{client.web_url}/records/{deposition.get('id')}"
