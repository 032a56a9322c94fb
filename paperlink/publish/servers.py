"""Which API an archive server speaks, and the :class:`ArchiveAPI` for it: Zenodo and its sandbox speak
the deposit API; another server is asked for it (``GET /deposit/depositions``) and, when it has none, for
InvenioRDM's records API (``GET /user/records``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from paperlink.errors import UsageError, ZenodoError
from paperlink.publish.api import ArchiveAPI
from paperlink.publish.deposit import DepositAPI
from paperlink.publish.http import ArchiveClient
from paperlink.publish.records_api import ACCEPT, RecordsAPI

API_NAMES = ("auto", "deposit", "records")
# Zenodo speaks both; the deposit API is the one its documentation describes (zenodo-api.md §0.1).
ZENODO_HOSTS = frozenset({"zenodo.org", "sandbox.zenodo.org"})


def detect_api(client: ArchiveClient, requested: str = "auto") -> str:
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


def open_api(client: ArchiveClient, requested: str = "auto") -> ArchiveAPI:
    """The :class:`ArchiveAPI` for ``client``'s server (see :func:`detect_api`)."""
    if detect_api(client, requested) == "records":
        return RecordsAPI(client)
    return DepositAPI(client)
