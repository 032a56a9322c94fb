"""Whether a URL can be opened by a reader of the paper: not the author's machine, network or disk.

A PDF, a .bib or an archive outlives the machine that made it, so every address paperlink writes into one
must be public: ``http(s)`` on a host that the internet can resolve, never loopback (``127.0.0.1``,
``localhost``), a private or link-local network, a single-label or ``.local`` host, or a ``file:`` URL.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Names that resolve only on the author's machine or network (RFC 6761, 6762, 8375 and common practice).
_LOCAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home.arpa",
    ".localdomain",
    ".test",
)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a public address a reader can open, or None when it is one."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"it is a {parts.scheme or 'relative'} address, not http(s)"
    if not host:
        return "it names no host"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
            return f"{host} is a name on the local machine or network"
        if "." not in host:
            return f"{host} is a single-label name that resolves only on a local network"
        return None
    if address.is_loopback:
        return f"{host} is this machine (loopback)"
    if address.is_private or address.is_link_local or address.is_unspecified or address.is_reserved:
        return f"{host} is a private or reserved network address"
    return None


def is_public_url(url: str) -> bool:
    return url_problem(url) is None
