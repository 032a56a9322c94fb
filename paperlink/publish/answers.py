"""What a server's refusal says: the field errors of either API era, the error that lists them, and URLs as
messages show them (without a query string, where something sensitive might be)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from paperlink.errors import ZenodoValidationError


def parse_errors(body: Any) -> list[tuple[str, str]]:
    """Field errors from either era: ``messages`` (a list, current) or ``message`` (a string, old)."""
    found: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return found
    for entry in body.get("errors") or []:
        if not isinstance(entry, dict):
            continue
        where = str(entry.get("field") or "(record)")
        messages = entry.get("messages")
        if isinstance(messages, list):
            found.extend((where, str(m)) for m in messages)
        elif entry.get("message"):
            found.append((where, str(entry["message"])))
    return found


def refused(
    what: str,
    errors: list[tuple[str, str]],
    *,
    status: int | None,
    url: str,
    body: str | None = None,
) -> ZenodoValidationError:
    """The error for field errors (a 400, or an InvenioRDM draft saved with an ``errors`` list)."""
    lines = "\n".join(f"  {field}: {message}" for field, message in errors)
    answered = f" (HTTP {status})" if status else ""
    return ZenodoValidationError(
        f"{what}: the server refused the deposition{answered}:\n{lines}",
        errors,
        status=status,
        url=url_without_query(url),
        body=body,
        hint="fix these fields (CITATION.cff, .zenodo.json or [publish] in paperlink.toml) "
        "and run the command again",
    )


def url_without_query(url: str) -> str:
    """A URL without any query string, so nothing sensitive that might be in one is shown."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
