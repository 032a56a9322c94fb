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

from paperlink.core.envpackages import Environment
from paperlink.core.envportable import archive_name, archived_problem
from paperlink.core.envrecipes import EnvironmentSource
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import Publication, PublishedFile, Record
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
        store: EnvironmentSource | None = None,
    ) -> None:
        self.zenodo_url = zenodo_url
        self.token = token
        self.download = download
        self.max_retry_seconds = max_retry_seconds
        self.store = store  # the environments the archived ones are compared with
        self._records: dict[tuple[str, str], dict[str, Any] | PaperlinkError] = {}
        self._clients: dict[str, Any] = {}
        self._environments: dict[tuple[str, str], Check | None] = {}

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

    # -- the record's environment (environment-<short>.json) ----------------------------------------
    def check_environment(self, item: Item, record: Record, output: FileDigest) -> Check | None:
        """The archived environment of ``record`` must be the one it names, unchanged. Only an archive
        that was published with one is checked (older publications hold none)."""
        pub, digest = record.publication, record.environment_digest
        if pub is None or not digest:
            return None
        name = archive_name(digest)
        published = next((f for f in pub.files if f.name == name), None)
        if published is None:
            return None
        key = (pub.url or pub.deposition_id or "", name)
        if key not in self._environments:
            try:
                self._environments[key] = self._environment(pub, published, digest)
            except PaperlinkError as exc:
                self._environments[key] = Check("archive-environment", ERROR, exc.message)
        return self._environments[key]

    def _environment(self, pub: Publication, published: PublishedFile, digest: str) -> Check:
        stored = None
        if self.store is not None:
            try:
                stored = self.store.get_environment(digest)
            except PaperlinkError:
                stored = None  # the store check says what is wrong with it
        if pub.service == "directory":
            folder = Path(unquote(urlsplit(pub.url or "").path))
            path = folder / safe_member_name(published.name, where=f"the archive folder {folder}")
            if not path.is_file():
                return Check(
                    "archive-environment",
                    NOT_ARCHIVED,
                    f"{published.name} is not in the archive folder {folder}",
                )
            return environment_check(path.read_bytes(), published.name, digest, stored)
        base = self.zenodo_url or pub.server
        if not base or not pub.deposition_id:
            return Check("archive-environment", NOT_ARCHIVED, "the publication names no server")
        try:
            entry = self._zenodo_files(base, pub.deposition_id).get(published.name)
        except ZenodoError as exc:
            if exc.status != 404:
                raise
            entry = None
        refused = _server_file_check(
            "archive-environment", entry, published.name, pub.deposition_id, published.md5,
            "that was published",
        )  # fmt: skip
        if refused is not None:
            return refused
        if not self.download:
            return Check("archive-environment", OK, f"{published.name}: md5 as published")
        from paperlink.publish.published import download

        with tempfile.TemporaryDirectory(prefix="paperlink-download-") as tmp:
            target = Path(tmp) / "file"
            download(self._client(base), pub.deposition_id, published.name, target)
            data = target.read_bytes()
        return environment_check(data, published.name, digest, stored)

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
        try:
            files = self._zenodo_files(base, deposition)
        except ZenodoError as exc:
            if exc.status == 404:
                return Check(
                    "archive",
                    NOT_ARCHIVED,
                    f"record {deposition} is not published on {base} (a draft?); finish it with "
                    "'paperlink publish'",
                )
            raise
        refused = _server_file_check(
            "archive", files.get(published.name), published.name, deposition, output.md5,
            "the record says",
        )  # fmt: skip
        if refused is not None:
            return refused
        if not self.download:
            return Check("archive", OK)
        return check_download(self._client(base), deposition, published.name, output)

    def _zenodo_files(self, base: str, deposition: str) -> dict[str, Any]:
        """The published record's files by name (read once); raises :class:`ZenodoError`."""
        key = (base, deposition)
        if key not in self._records:
            try:
                from paperlink.publish.published import get_record

                self._records[key] = get_record(self._client(base), deposition)
            except ZenodoError as exc:
                self._records[key] = exc
        found = self._records[key]
        if isinstance(found, PaperlinkError):
            raise found
        return {
            str(f.get("key") or f.get("filename")): f
            for f in found.get("files") or []
            if isinstance(f, dict)
        }

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


def environment_check(data: bytes, name: str, digest: str, stored: Environment | None) -> Check:
    """The archived environment file ``name`` (its bytes ``data``) against the record's ``digest`` and,
    given, the store's environment ``stored`` (:func:`paperlink.core.envportable.archived_problem`)."""
    problem = archived_problem(data, digest, stored)
    if problem is not None:
        return Check("archive-environment", MISMATCH, f"the archive's {name}: {problem}")
    return Check("archive-environment", OK, f"{name} is the record's environment")


def _server_file_check(
    name: str,
    entry: dict[str, Any] | None,
    file: str,
    deposition: str,
    md5: str | None,
    source: str,
) -> Check | None:
    """NOT_ARCHIVED when the server's record ``deposition`` lacks ``file`` (its ``entry``), MISMATCH when
    the server's md5 of it is not ``md5`` (what ``source`` says it is); None when it is the same."""
    if entry is None:
        return Check(name, NOT_ARCHIVED, f"{file} is not among the files of record {deposition}")
    server_md5 = str(entry.get("checksum") or "").removeprefix("md5:").lower()
    if server_md5 != (md5 or "").lower():
        return Check(
            name, MISMATCH, f"the archive's {file} is md5:{server_md5}, not the md5:{md5} {source}"
        )
    return None
