"""What ``publish`` sees of an archive server, whichever API it speaks: :class:`ArchiveAPI` (create or find
a draft, read it, open a new version, upload and delete files, set the metadata, publish), each call
returning a :class:`Deposit`. :class:`paperlink.publish.deposit.DepositAPI` implements it with Zenodo's
legacy deposit API, :class:`paperlink.publish.records_api.RecordsAPI` with InvenioRDM's records API;
:func:`paperlink.publish.servers.open_api` picks one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from paperlink.core.model import model
from paperlink.errors import ZenodoError

ProgressCallback = Callable[[int, int], None]

PRODUCTION_URL = "https://zenodo.org/api"
SANDBOX_URL = "https://sandbox.zenodo.org/api"


@model
class UploadedFile:
    name: str
    size: int
    md5: str


DOI_PATTERN = re.compile(r"10\.\d{4,9}/[^\s\x00-\x1f\"<>\\{}|^`]+")


def public_http_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) URL with a host and no user or password in it, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
    ):
        return None
    if any(ord(c) < 0x21 or c in '"<>\\^`{|}' for c in url):
        return None
    return url


@model
class Deposit:
    """A draft or published record as ``publish`` sees it, whichever API the server speaks.

    ``doi`` is the reserved DOI of a draft or the registered one of a published record; ``url`` the
    draft's page or the record's landing page; ``files`` ``{name: (md5, size)}`` of what the server
    holds (an md5 of None: a file it has not finished receiving); ``raw`` the server's own answer.
    """

    id: str
    published: bool
    doi: str | None
    url: str | None
    files: dict[str, tuple[str | None, int | None]]
    raw: dict[str, Any]

    def __post_init__(self) -> None:
        # What a server says goes into the paper's links, the .bib and the site: only a DOI that looks
        # like one, and only a plain http(s) URL (never javascript:, data:, file: or credentials).
        self.doi = self.doi if self.doi and DOI_PATTERN.fullmatch(self.doi) else None
        self.url = public_http_url(self.url)


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


def normalise_md5(value: Any) -> str | None:
    """``md5:<hex>`` (bucket, record views) and bare ``<hex>`` (deposition views) to bare lowercase hex."""
    if not isinstance(value, str) or not value:
        return None
    text = value.split(":", 1)[1] if value.startswith("md5:") else value
    return text.lower()


def confirm_upload(
    what: str,
    name: str,
    path: str | os.PathLike[str],
    md5: str,
    got_md5: str | None,
    got_size: Any,
) -> UploadedFile:
    """Compare what the server says it stored (md5, size) with the local file; raise on a difference."""
    size = Path(path).stat().st_size
    if got_md5 is None:
        raise ZenodoError(
            f"{what}: the server did not confirm a checksum for the file",
            hint="run the command again; the file will be sent again and checked",
        )
    if got_md5 != md5.lower() or (got_size is not None and int(got_size) != size):
        raise ZenodoError(
            f"{what}: the server stored md5:{got_md5} ({got_size} bytes) but the file is "
            f"md5:{md5} ({size} bytes); the transfer was corrupted",
            hint="run the command again; the file will be sent again",
        )
    return UploadedFile(name=name, size=size, md5=got_md5)
