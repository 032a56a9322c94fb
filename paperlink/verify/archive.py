"""Check figures against their published archive: the checksum the archive holds and, on request, the
downloaded file itself.

A record published with ``paperlink publish`` carries a ``publication`` (the server, the deposition, each
file's name and md5). For Zenodo the published record is read through :class:`paperlink.publish.http.ArchiveClient` (no token is
needed for public records); an archive written with ``publish --to DIR`` is checked in its folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import PublishedFile, Record
from paperlink.core.safenames import safe_member_name
from paperlink.errors import PaperlinkError, ZenodoError
from paperlink.verify.manuscript import ERROR, MISMATCH, NOT_ARCHIVED, OK, Check, Item


class ArchiveChecker:
    """An extra check for :class:`paperlink.verify.manuscript.Verifier`: is the figure in its archive, unchanged?"""

    def __init__(
        self,
        *,
        zenodo_url: str | None = None,
        token: str | None = None,
        download: bool = False,
        max_retry_seconds: float = 60.0,
    ) -> None:
        self.zenodo_url = zenodo_url
        self.token = token
        self.download = download
        self.max_retry_seconds = max_retry_seconds
        self._records: dict[tuple[str, str], dict[str, Any] | PaperlinkError] = {}
        self._clients: dict[str, Any] = {}

    def __call__(self, item: Item, record: Record, output: FileDigest) -> Check:
        pub = record.publication
        published = _published_file(pub.files if pub else [], output)
        if pub is None or published is None:
            return Check(
                "archive",
                NOT_ARCHIVED,
                f"record '{record.label}' has no archived copy of {output.path}; "
                f"publish it with 'paperlink publish --record {record.label}'",
            )
        try:
            if pub.service == "directory":
                return self._check_folder(pub.url or "", published, output)
            return self._check_zenodo(pub.server, pub.deposition_id, published, output)
        except PaperlinkError as exc:
            return Check("archive", ERROR, exc.message)

    # -- an archive folder written by `publish --to DIR` --------------------------------------------
    def _check_folder(self, url: str, published: PublishedFile, output: FileDigest) -> Check:
        folder = Path(unquote(urlsplit(url).path))
        path = folder / safe_member_name(published.name, where=f"the archive folder {folder}")
        if not path.is_file():
            return Check(
                "archive", NOT_ARCHIVED, f"{published.name} is not in the archive folder {folder}"
            )
        found = digest_file(path)
        if found.sha256 != output.sha256:
            return Check(
                "archive", MISMATCH, f"{path} differs from the record (sha256:{found.sha256[:12]}…)"
            )
        return Check("archive", OK)

    # -- Zenodo (or a server with its API) --------------------------------------------------------
    def _client(self, server: str) -> Any:
        from paperlink.publish.http import ArchiveClient

        if server not in self._clients:
            self._clients[server] = ArchiveClient(
                server, self.token, max_retry_seconds=self.max_retry_seconds
            )
        return self._clients[server]

    def _check_zenodo(
        self,
        server: str | None,
        deposition: str | None,
        published: PublishedFile,
        output: FileDigest,
    ) -> Check:
        base = self.zenodo_url or server
        if not base or not deposition:
            return Check("archive", NOT_ARCHIVED, "the publication names no server or deposition")
        key = (base, deposition)
        if key not in self._records:
            try:
                from paperlink.publish.published import get_record

                self._records[key] = get_record(self._client(base), deposition)
            except ZenodoError as exc:
                self._records[key] = exc
        found = self._records[key]
        if isinstance(found, ZenodoError):
            if found.status == 404:
                return Check(
                    "archive",
                    NOT_ARCHIVED,
                    f"record {deposition} is not published on {base} (a draft?); finish it with "
                    "'paperlink publish'",
                )
            raise found
        assert isinstance(found, dict)
        files = {
            f.get("key") or f.get("filename"): f
            for f in found.get("files") or []
            if isinstance(f, dict)
        }
        entry = files.get(published.name)
        if entry is None:
            return Check(
                "archive",
                NOT_ARCHIVED,
                f"{published.name} is not among the files of record {deposition}",
            )
        server_md5 = str(entry.get("checksum") or "").removeprefix("md5:").lower()
        if server_md5 != (output.md5 or "").lower():
            return Check(
                "archive",
                MISMATCH,
                f"the archive's {published.name} is md5:{server_md5} but the record says md5:{output.md5}",
            )
        if not self.download:
            return Check("archive", OK)
        return check_download(self._client(base), deposition, published.name, output)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def check_download(
    client: Any, record_id: str, name: str, output: FileDigest, *, listed_md5: str | None = None
) -> Check:
    """Download file ``name`` of a published record and re-hash it against ``output``'s record (and the
    md5 the archive lists). Compared here rather than by the client: a corrupted archive is a mismatch,
    not an error; a download that keeps failing is an error."""
    from paperlink.publish.published import download

    with tempfile.TemporaryDirectory(prefix="paperlink-download-") as tmp:
        target = Path(tmp) / "file"
        try:
            download(client, record_id, name, target)
        except ZenodoError as exc:
            return Check("download", ERROR, exc.message)
        got = digest_file(target)
    if listed_md5 and got.md5 != listed_md5:
        return Check(
            "download",
            MISMATCH,
            f"the downloaded {name} is md5:{got.md5} but the archive lists {listed_md5}",
        )
    if got.sha256 != output.sha256:
        return Check(
            "download",
            MISMATCH,
            f"the downloaded {name} is sha256:{got.sha256[:12]}… but its record says "
            f"sha256:{(output.sha256 or '')[:12]}…",
        )
    return Check("download", OK, "downloaded and re-hashed")


def _published_file(files: list[PublishedFile], output: FileDigest) -> PublishedFile | None:
    for item in files:
        if item.source_path == output.path:
            return item
    return None
