"""The read side of an archive server: a published record and its files, read with no token for public
records (``verify --doi``, reviewers, ``verify`` against the archive)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from paperlink.errors import ZenodoError
from paperlink.publish.http import UPLOAD_BLOCK, ArchiveClient, ProgressCallback, reason


def get_record(client: ArchiveClient, record_id: int | str) -> dict[str, Any]:
    """A published record (``GET /records/:id``) with ``files`` as a list of entries (``key``,
    ``size``, ``md5:`` checksum).

    Zenodo lists the files in the record itself; a plain InvenioRDM server answers with its native
    shape (``files: {"enabled": …}``), so its list is read from ``GET /records/:id/files``.
    """
    what = f"reading record {record_id}"
    data: dict[str, Any] = client.json_of(
        client.send("GET", f"records/{record_id}", what=what), what
    )
    if not isinstance(data.get("files"), list):
        listing = client.json_of(client.send("GET", f"records/{record_id}/files", what=what), what)
        entries = listing.get("entries") if isinstance(listing, dict) else None
        data = {**data, "files": [e for e in entries or [] if isinstance(e, dict)]}
    return data


def download(
    client: ArchiveClient,
    record_id: int | str,
    key: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> str:
    """Stream file ``key`` of a published record to ``dest`` (via a temporary file); returns its
    md5 and raises :class:`ZenodoError` when it differs from ``md5``."""
    url = f"{client.base_url}/records/{record_id}/files/{quote(key, safe='')}/content"
    what = f"downloading {key} of record {record_id}"
    target = Path(dest)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    deadline = time.monotonic() + client.max_retry_seconds
    attempt = 0
    try:
        while True:
            attempt += 1
            response = client.send("GET", url, what=what, deadline=deadline, stream=True)
            digest = hashlib.md5(usedforsecurity=False)
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            try:
                with tmp.open("wb") as out:
                    for chunk in response.iter_content(UPLOAD_BLOCK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if on_progress is not None:
                            on_progress(done, total)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,  # the body ended early
            ) as exc:
                client.retry_pause(attempt, deadline, what, reason(exc))
                continue
            finally:
                response.close()
            break
        got = digest.hexdigest()
        if md5 is not None and got != md5.lower().removeprefix("md5:"):
            raise ZenodoError(f"{what}: the file is md5:{got} but the record says {md5}")
        tmp.replace(target)
        return got
    finally:
        tmp.unlink(missing_ok=True)
