"""Run the official RO-Crate validator (PyPI roc-validator) on a crate, offline: ``python rocrate_validate.py
CRATE_DIR PROFILE SEVERITY OUT.json`` writes ``{"passed": …, "issues": […], "served": […], "refused": […]}``
to OUT.json (the validator prints its own report on stdout).

The validator resolves the crate's ``@context`` over HTTP. Here it runs in its own offline mode (only its
HTTP cache answers), with the cache filled beforehand from local copies of the context documents
(``tests/data/*-context.jsonld``, each answering the URL its ``@id`` names), and every socket connection
of this process refused, so a validation can neither reach the network nor pass without the context.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
refused: list[str] = []


def _no_network(self: socket.socket, address: Any) -> None:
    refused.append(str(address))
    raise OSError(f"rocrate_validate: network access refused ({address})")


def fill_cache(cache: Path) -> list[str]:
    """Store each local context document in a requests_cache database as the answer to its URL."""
    import requests
    import urllib3
    from requests_cache import CachedSession

    session = CachedSession(cache_name=str(cache), backend="sqlite", expire_after=-1)
    urls = []
    for path in sorted(DATA.glob("*-context.jsonld")):
        body = path.read_bytes()
        url = str(json.loads(body)["@id"])
        for accept in ("application/ld+json, application/json", "application/ld+json"):
            response = requests.Response()
            response.status_code = 200
            response.url = url
            response._content = body
            response.headers["Content-Type"] = "application/ld+json"
            response.raw = urllib3.HTTPResponse(
                body=io.BytesIO(body),
                headers=dict(response.headers),
                status=200,
                preload_content=False,
                request_url=url,
            )
            response.request = requests.Request("GET", url, headers={"Accept": accept}).prepare()
            response.encoding = "utf-8"
            session.cache.save_response(response)
        urls.append(url)
    session.close()
    return urls


def main(crate: str, profile: str, severity: str, out: str) -> int:
    with tempfile.TemporaryDirectory(prefix="rocrate-validate-") as tmp:
        cache = Path(tmp) / "http-cache"
        served = fill_cache(cache)
        socket.socket.connect = _no_network  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = _no_network  # type: ignore[method-assign,assignment]
        from rocrate_validator import services

        settings = services.ValidationSettings(
            rocrate_uri=crate,
            profile_identifier=profile,
            requirement_severity=severity.upper(),
            skip_availability_check=True,
            offline=True,
            cache_path=cache,
        )
        result = services.validate(settings)
        issues = [
            {
                "severity": str(issue.severity.name),
                "check": issue.check.identifier if issue.check else "",
                "name": issue.check.name if issue.check else "",
                "message": issue.message,
                "focus": str(getattr(issue, "violatingEntity", "") or ""),
            }
            for issue in result.get_issues()
        ]
        summary = {
            "passed": result.passed(),
            "issues": issues,
            "served": served,
            "refused": refused,
        }
        Path(out).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
