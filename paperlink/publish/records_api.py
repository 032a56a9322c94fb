"""RecordsAPI: publishing through InvenioRDM's native records API, for servers without Zenodo's deposit API.

The flow of ``docs/zenodo-api.md`` §11: create a draft (``POST /records``), reserve its DOI, register each
file, stream its bytes and commit it (the commit's ``md5:`` checksum is compared with ours), ``PUT`` the
whole draft in InvenioRDM form (field problems come back in an ``errors`` list while the draft is saved:
a non-empty list is a refusal), publish; a new version is ``POST /records/:id/versions``. Every call goes
through the HTTP core of :class:`paperlink.publish.http.ArchiveClient` (retries, lost answers settled by a GET
before any create, publish or commit is sent again), with ``Accept: application/vnd.inveniordm.v1+json``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, urlsplit

from paperlink.errors import ZenodoAuthError, ZenodoError
from paperlink.publish.api import (
    Deposit,
    ProgressCallback,
    UploadedFile,
    confirm_upload,
    normalise_md5,
)
from paperlink.publish.http import ArchiveClient, parse_errors, refused
from paperlink.publish.rdm_metadata import rdm_record

ACCEPT = {"Accept": "application/vnd.inveniordm.v1+json"}
# A draft is public once published, like a Zenodo deposition with access_right "open".
NEW_DRAFT_ACCESS = {"record": "public", "files": "public"}


class RecordsAPI:
    """The records API of one server, on ``client``'s HTTP core; see the module docstring.

    ``reserve_doi``: reserve the DOI when a draft is made, so it is known before publishing (a server
    without DataCite refuses; then the draft goes on without one and ``warnings`` says so).
    """

    name = "records"

    def __init__(self, client: ArchiveClient, *, reserve_doi: bool = True) -> None:
        self.client = client
        self.reserve_doi = reserve_doi
        self.warnings: list[str] = []
        host = urlsplit(client.base_url).hostname or "InvenioRDM"
        self.publisher = "Zenodo" if host.endswith("zenodo.org") else host

    # -- drafts -----------------------------------------------------------------------------------
    def create(self, marker: str) -> Deposit:
        """A new draft titled ``marker``; a lost answer is settled by searching the user's drafts for
        ``marker`` (a few times: the search index lags) before the POST is sent again."""
        body = {
            "metadata": {"title": marker},
            "access": NEW_DRAFT_ACCESS,
            "files": {"enabled": True},
        }
        data = self.client.post_settled(
            "records",
            "creating a draft record",
            json_body=body,
            headers=ACCEPT,
            settle=lambda: self._find(marker),
            lookups=3,
        )
        return self._with_doi(self._deposit(data, files={}))

    def find_draft(self, marker: str) -> Deposit | None:
        """The draft titled ``marker`` (an earlier run's); strays with the same title are discarded."""
        found = self._find(marker)
        return self._with_doi(self.get(str(found["id"]))) if found is not None else None

    def _find(self, marker: str) -> dict[str, Any] | None:
        hits = [
            h
            for h in self._search(f'metadata.title:"{marker}"')
            if (h.get("metadata") or {}).get("title") == marker and not _published(h)
        ]
        hits.sort(key=lambda h: (str(h.get("created") or ""), str(h.get("id"))))
        for stray in hits[1:]:
            self.client.call(
                "DELETE", f"records/{_q(stray['id'])}/draft", headers=ACCEPT,
                what=f"discarding the stray draft {stray['id']}",
            )  # fmt: skip
        return hits[0] if hits else None

    def _search(self, query: str) -> list[dict[str, Any]]:
        """The user's records and drafts matching ``query`` (``GET /user/records``)."""
        data = self.client.call(
            "GET",
            "user/records",
            params={"q": query, "sort": "newest", "size": "100"},
            headers=ACCEPT,
            what="searching your drafts",
        )
        hits = ((data or {}).get("hits") or {}).get("hits") or []
        return [h for h in hits if isinstance(h, dict) and h.get("id")]

    def get(self, deposit_id: str) -> Deposit:
        """The draft ``deposit_id`` with its files, or the published record when it has no draft."""
        try:
            draft = self._read_draft(deposit_id)
        except ZenodoError as exc:
            if exc.status != 404:
                raise
            record = self.client.call(
                "GET", f"records/{_q(deposit_id)}", headers=ACCEPT,
                what=f"reading record {deposit_id}",
            )  # fmt: skip
            return self._deposit(record, files={})
        return self._deposit(draft, files=self._draft_files(deposit_id))

    def _read_draft(self, deposit_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.client.call(
            "GET", f"records/{_q(deposit_id)}/draft", headers=ACCEPT,
            what=f"reading draft {deposit_id}",
        )  # fmt: skip
        return data

    def new_version(self, published_id: str) -> Deposit:
        """A draft for a new version of ``published_id`` (an open one is reused); it holds no files."""
        what = f"opening a new version of record {published_id}"
        record = self.client.call("GET", f"records/{_q(published_id)}", headers=ACCEPT, what=what)
        parent = str(((record or {}).get("parent") or {}).get("id") or "")

        def open_draft() -> dict[str, Any] | None:
            if not parent:
                return None
            for hit in self._search(f'parent.id:"{parent}"'):
                if not _published(hit) and str(hit["id"]) != str(published_id):
                    return hit
            return None

        data = open_draft() or self.client.post_settled(
            f"records/{_q(published_id)}/versions",
            what,
            headers=ACCEPT,
            settle=open_draft,
            lookups=3,
        )
        draft_id = str(data["id"])
        return self._with_doi(self._deposit(data, files=self._draft_files(draft_id)))

    def _with_doi(self, deposit: Deposit) -> Deposit:
        """Reserve the draft's DOI unless it has one (a lost answer: the draft is read first)."""
        if deposit.doi or deposit.published or not self.reserve_doi:
            return deposit
        what = f"reserving a DOI for draft {deposit.id}"

        def reserved() -> dict[str, Any] | None:
            draft = self._read_draft(deposit.id)
            return draft if _doi(draft) else None

        try:
            data = self.client.post_settled(
                f"records/{_q(deposit.id)}/draft/pids/doi", what, headers=ACCEPT, settle=reserved
            )
        except ZenodoAuthError:
            raise
        except ZenodoError as exc:
            if exc.status not in (400, 404, 405, 501):
                raise
            self.warnings.append(
                f"{self.client.base_url} reserved no DOI for draft {deposit.id} ({exc.message}); "
                "its DOI will be known once it is published"
            )
            return deposit
        return Deposit(deposit.id, False, _doi(data), deposit.url, deposit.files, data)

    # -- files ------------------------------------------------------------------------------------
    def _draft_files(self, deposit_id: str) -> dict[str, tuple[str | None, int | None]]:
        """``{key: (md5, size)}``; a file not committed yet has md5 None (it must be sent again)."""
        found: dict[str, tuple[str | None, int | None]] = {}
        for entry in self._entries(deposit_id):
            size = entry.get("size")
            md5 = (
                normalise_md5(entry.get("checksum")) if entry.get("status") == "completed" else None
            )
            found[str(entry["key"])] = (md5, int(size) if size is not None else None)
        return found

    def _entries(self, deposit_id: str) -> list[dict[str, Any]]:
        data = self.client.call(
            "GET", f"records/{_q(deposit_id)}/draft/files", headers=ACCEPT,
            what=f"listing the files of draft {deposit_id}",
        )  # fmt: skip
        entries = (data or {}).get("entries") or []
        return [e for e in entries if isinstance(e, dict) and e.get("key")]

    def _entry(
        self, deposit_id: str, name: str, *, completed: bool = False
    ) -> dict[str, Any] | None:
        for entry in self._entries(deposit_id):
            if entry["key"] == name and (not completed or entry.get("status") == "completed"):
                return entry
        return None

    def delete_file(self, deposit: Deposit, name: str) -> None:
        self.client.call(
            "DELETE", f"records/{_q(deposit.id)}/draft/files/{_q(name)}", headers=ACCEPT,
            what=f"deleting {name} from draft {deposit.id}",
        )  # fmt: skip

    def upload(
        self,
        deposit: Deposit,
        name: str,
        path: str | os.PathLike[str],
        *,
        md5: str,
        on_progress: ProgressCallback | None = None,
    ) -> UploadedFile:
        """Register ``name``, stream ``path`` as its content, commit it and compare the checksum.

        The content PUT is retried whole (it replaces what an interrupted one left); registering and
        committing are POSTs, settled by reading the draft's files when their answer is lost.
        """
        files = f"records/{_q(deposit.id)}/draft/files"
        what = f"uploading {name}"

        def registered() -> dict[str, Any] | None:
            entry = self._entry(deposit.id, name)
            return {"entries": [entry]} if entry is not None else None

        answer = self.client.post_settled(
            files,
            f"registering {name}",
            json_body=[{"key": name}],
            headers=ACCEPT,
            settle=registered,
        )
        entry: dict[str, Any] = next(
            (
                e
                for e in answer.get("entries") or []
                if isinstance(e, dict) and e.get("key") == name
            ),
            {},
        )
        links = entry.get("links") or {}
        content = links.get("content") or f"{files}/{_q(name)}/content"
        commit = links.get("commit") or f"{files}/{_q(name)}/commit"
        self.client.put_file(content, path, what=what, headers=ACCEPT, on_progress=on_progress)
        done = self.client.post_settled(
            commit,
            f"finishing the upload of {name}",
            headers=ACCEPT,
            settle=lambda: self._entry(deposit.id, name, completed=True),
        )
        got_md5 = normalise_md5(done.get("checksum"))
        return confirm_upload(what, name, path, md5, got_md5, done.get("size"))

    # -- metadata and publishing ------------------------------------------------------------------
    def set_metadata(self, deposit: Deposit, metadata: dict[str, Any]) -> None:
        """``PUT`` the whole draft (metadata, access, files, and the pids it holds, so the reserved
        DOI stays); raises :class:`paperlink.errors.ZenodoValidationError` when ``errors`` come back."""
        what = f"setting the metadata of draft {deposit.id}"
        current = self._read_draft(deposit.id)
        document = rdm_record(metadata, publisher=self.publisher)
        communities = [str(c.get("identifier")) for c in metadata.get("communities") or []]
        if communities and not any("communit" in w for w in self.warnings):
            self.warnings.append(
                f"communities ({', '.join(communities)}) are not requested through the records API: "
                "InvenioRDM adds a record to a community by a review request; submit it from the "
                "record's page"
            )
        body: dict[str, Any] = {**document, "files": {"enabled": True}}
        if current.get("pids"):
            body["pids"] = current["pids"]
        path = f"records/{_q(deposit.id)}/draft"
        answer = self.client.call("PUT", path, json_body=body, headers=ACCEPT, what=what)
        errors = parse_errors(answer)
        if errors:
            raise refused(what, errors, status=None, url=f"{self.client.base_url}/{path}")

    def publish(self, deposit: Deposit) -> Deposit:
        """Publish the draft; a lost answer is settled by reading the record before any second POST."""
        what = f"publishing draft {deposit.id}"

        def published() -> dict[str, Any] | None:
            try:
                data: dict[str, Any] = self.client.call(
                    "GET", f"records/{_q(deposit.id)}", headers=ACCEPT, what=what
                )
            except ZenodoError as exc:
                if exc.status == 404:
                    return None
                raise
            return data

        data = self.client.post_settled(
            f"records/{_q(deposit.id)}/draft/actions/publish", what, headers=ACCEPT,
            settle=published,
        )  # fmt: skip
        return self._deposit(data, files={})

    def _deposit(
        self, data: dict[str, Any], *, files: dict[str, tuple[str | None, int | None]]
    ) -> Deposit:
        record_id = str(data.get("id"))
        published = _published(data)
        page = (data.get("links") or {}).get("self_html")
        if not page:
            page = f"{self.client.web_url}/{'records' if published else 'uploads'}/{record_id}"
        return Deposit(record_id, published, _doi(data), str(page), files, data)


def _published(data: dict[str, Any]) -> bool:
    """A published record, not a draft (an edit draft of a published record is a draft)."""
    return bool(data.get("is_published")) and not data.get("is_draft")


def _doi(data: dict[str, Any]) -> str | None:
    doi = ((data.get("pids") or {}).get("doi") or {}).get("identifier")
    return str(doi) if doi else None


def _q(value: Any) -> str:
    return quote(str(value), safe="")
