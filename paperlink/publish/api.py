"""One interface over the two publishing APIs a Zenodo-compatible server may speak.

:class:`ArchiveAPI` is what ``publish.py`` uses: create or find a draft, read it, open a new version,
upload and delete files, set the metadata, publish, each returning a :class:`paperlink.publish.zenodo.Deposit`.
:class:`DepositAPI` implements it with Zenodo's legacy deposit API (``ZenodoClient``'s own calls),
:class:`paperlink.publish.invenio.RecordsAPI` with InvenioRDM's records API. :func:`open_api` picks one: Zenodo
and its sandbox speak the deposit API; another server is asked for it (``GET /deposit/depositions``) and,
when it has none, for the records API (``GET /user/records``).
"""

from __future__ import annotations

import os
from typing import Any, Protocol
from urllib.parse import urlsplit

from paperlink.errors import UsageError, ZenodoError
from paperlink.publish.invenio import ACCEPT, RecordsAPI
from paperlink.publish.zenodo import (
    SANDBOX_URL,
    Deposit,
    ProgressCallback,
    UploadedFile,
    ZenodoClient,
    deposition_files,
    is_published,
    record_url,
)

API_NAMES = ("auto", "deposit", "records")
# Zenodo speaks both; the deposit API is the one its documentation describes (zenodo-api.md §0.1).
ZENODO_HOSTS = frozenset({"zenodo.org", "sandbox.zenodo.org"})


class ArchiveAPI(Protocol):
    name: str
    warnings: list[str]

    def create(self, marker: str) -> Deposit: ...
    def find_draft(self, marker: str) -> Deposit | None: ...
    def get(self, deposit_id: str) -> Deposit: ...
    def new_version(self, published_id: str) -> Deposit: ...
    def delete_file(self, deposit: Deposit, name: str) -> None: ...
    def upload(
        self,
        deposit: Deposit,
        name: str,
        path: str | os.PathLike[str],
        *,
        md5: str,
        on_progress: ProgressCallback | None = None,
    ) -> UploadedFile: ...
    def set_metadata(self, deposit: Deposit, metadata: dict[str, Any]) -> None: ...
    def publish(self, deposit: Deposit) -> Deposit: ...


class DepositAPI:
    """Zenodo's legacy deposit API (``/deposit/depositions`` + bucket uploads) as an :class:`ArchiveAPI`."""

    name = "deposit"

    def __init__(self, client: ZenodoClient) -> None:
        self.client = client
        self.warnings: list[str] = []
        self._sandbox = client.base_url == SANDBOX_URL

    def create(self, marker: str) -> Deposit:
        return self._deposit(self.client.create_deposition(marker))

    def find_draft(self, marker: str) -> Deposit | None:
        found = self.client.find_draft(marker)
        return self._deposit(found) if found is not None else None

    def get(self, deposit_id: str) -> Deposit:
        return self._deposit(self.client.get_deposition(deposit_id))

    def new_version(self, published_id: str) -> Deposit:
        return self._deposit(self.client.new_version(published_id))

    def delete_file(self, deposit: Deposit, name: str) -> None:
        self.client.delete_file(deposit.raw, name)

    def upload(
        self,
        deposit: Deposit,
        name: str,
        path: str | os.PathLike[str],
        *,
        md5: str,
        on_progress: ProgressCallback | None = None,
    ) -> UploadedFile:
        return self.client.upload(deposit.raw, name, path, md5=md5, on_progress=on_progress)

    def set_metadata(self, deposit: Deposit, metadata: dict[str, Any]) -> None:
        self.client.update_metadata(deposit.id, metadata)

    def publish(self, deposit: Deposit) -> Deposit:
        return self._deposit(self.client.publish(deposit.id))

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


def detect_api(client: ZenodoClient, requested: str = "auto") -> str:
    """``deposit`` or ``records``: ``requested`` unless it is ``auto``; else the deposit API on Zenodo,
    and elsewhere whichever the server answers (the deposit API first). Raises :class:`ZenodoError`
    when it has neither, and on refused credentials."""
    if requested not in API_NAMES:
        raise UsageError(f"unknown API '{requested}'", hint="choose one of " + ", ".join(API_NAMES))
    if requested != "auto":
        return requested
    if urlsplit(client.base_url).hostname in ZENODO_HOSTS:
        return "deposit"
    try:
        client.call(
            "GET", "deposit/depositions", params={"size": "1"}, what="looking for the deposit API"
        )
        return "deposit"
    except ZenodoError as exc:
        if exc.status not in (404, 405):
            raise
    try:
        client.call(
            "GET",
            "user/records",
            params={"size": "1"},
            headers=ACCEPT,
            what="looking for the InvenioRDM records API",
        )
        return "records"
    except ZenodoError as exc:
        if exc.status not in (404, 405):
            raise
        raise ZenodoError(
            f"{client.base_url} offers neither Zenodo's deposit API (/deposit/depositions) nor "
            "InvenioRDM's records API (/records)",
            status=exc.status,
            url=exc.url,
            hint="give the server's API base, which usually ends in /api "
            "(e.g. https://zenodo.org/api), or use --to DIR for a local archive",
        ) from exc


def open_api(client: ZenodoClient, requested: str = "auto") -> ArchiveAPI:
    """The :class:`ArchiveAPI` for ``client``'s server (see :func:`detect_api`)."""
    if detect_api(client, requested) == "records":
        return RecordsAPI(client)
    return DepositAPI(client)
