"""ZenodoClient: the HTTP core for Zenodo and InvenioRDM servers, and Zenodo's legacy deposit API.

The only module that imports ``requests``. One session, a ``paperlink/<version>`` User-Agent, a timeout on
every call, and retries for what is safe to repeat (GET, DELETE, a bucket PUT of the same name, a metadata
PUT) on 429 (honouring ``Retry-After``), 5xx, resets and timeouts, up to a bounded total time. A POST that
creates or publishes is never re-sent blindly: when its answer is lost, a GET shows whether it took effect.
The token travels in the Authorization header only; it appears in no URL, message or ``repr``.
Behaviour follows ``docs/zenodo-api.md`` (legacy deposit API, current and documented variants). The
InvenioRDM records API (``invenio.py``) runs on the same core through ``call``, ``post_settled`` and
``put_file``; ``archiveapi.py`` puts both APIs behind one interface.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import requests

from paperlink.errors import ExitCode, ZenodoError
from paperlink.version import __version__

ProgressCallback = Callable[[int, int], None]

PRODUCTION_URL = "https://zenodo.org/api"
# Where a DOI is looked up; PAPERLINK_DOI_RESOLVER replaces it (an institution's mirror, a test server).
DOI_RESOLVER = "https://doi.org"
SANDBOX_URL = "https://sandbox.zenodo.org/api"
USER_AGENT = f"paperlink/{__version__}"
# Zenodo refuses these locally anyway; checking first saves a half-made deposition (zenodo-api.md §9).
MAX_FILES = 100
MAX_TOTAL_BYTES = 50 * 10**9
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Upload reads in 1 MiB blocks: few Python calls per GiB, constant memory.
UPLOAD_BLOCK = 1 << 20


class ZenodoValidationError(ZenodoError):
    """The server refused the metadata or the deposition; ``errors`` lists ``(field, message)`` pairs.

    Its own exit code: the fix is in the metadata files, and retrying the same command cannot help."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, errors: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = errors


class ZenodoAuthError(ZenodoError):
    """The token was refused (401 or 403)."""


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


class _LostAnswer(Exception):
    """A request may have reached the server but no answer came back."""


@dataclass
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


@dataclass
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


class _ProgressReader:
    """A file object that reports how much of it was read; ``__len__`` lets requests send Content-Length."""

    def __init__(self, stream: BinaryIO, size: int, on_progress: ProgressCallback | None) -> None:
        self._stream = stream
        self._size = size
        self._done = 0
        self._on_progress = on_progress

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        # http.client asks for its small blocksize; larger reads cut the per-call overhead.
        chunk = self._stream.read(max(amount, UPLOAD_BLOCK) if amount >= 0 else -1)
        self._done += len(chunk)
        if self._on_progress is not None and chunk:
            self._on_progress(self._done, self._size)
        return chunk


def normalise_md5(value: Any) -> str | None:
    """``md5:<hex>`` (bucket, record views) and bare ``<hex>`` (deposition views) to bare lowercase hex."""
    if not isinstance(value, str) or not value:
        return None
    text = value.split(":", 1)[1] if value.startswith("md5:") else value
    return text.lower()


def _short_body(response: requests.Response) -> str:
    text = response.text if response.content else ""
    if "<html" in text[:200].lower():
        return "(an HTML error page)"
    return text[:300]


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


class ZenodoClient:
    """A client for one server's deposit API, e.g. ``ZenodoClient("https://sandbox.zenodo.org/api", tok)``.

    ``max_retry_seconds`` bounds the total time spent waiting and retrying one call; ``backoff`` is the
    first wait of the exponential back-off (doubling, with jitter, capped at 60 s); ``again`` is the
    hint's advice when retrying did not help (``publish`` says it continues where it stopped).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: tuple[float, float] = (15.0, 120.0),
        max_retry_seconds: float = 300.0,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        again: str = "run the same command again later, or allow longer with --max-retry-time SECONDS",
    ) -> None:
        if token is not None and not token.strip():
            raise ZenodoAuthError(
                "no Zenodo token",
                hint="create one with the deposit:write and deposit:actions scopes and set ZENODO_TOKEN",
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retry_seconds = max_retry_seconds
        self.backoff = backoff
        self._sleep = sleep
        self.again = again  # what to do when retrying does not help, as the caller knows it
        self._session = requests.Session()
        # The API never needs cookies; a cookie without a valid token can turn into a CSRF 400.
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        # As session auth (not a default header): requests then never lets a ~/.netrc entry replace
        # it, and drops it when a redirect leaves the host.
        if token is not None:  # None: read public records only (verify, reviewers)
            self._session.auth = _BearerAuth(token.strip())

    def __repr__(self) -> str:
        return f"ZenodoClient({self.base_url!r}, token=<hidden>)"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ZenodoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def web_url(self) -> str:
        """The web UI's base: the API base without its ``/api``."""
        return self.base_url[: -len("/api")] if self.base_url.endswith("/api") else self.base_url

    # -- the HTTP core ----------------------------------------------------------------------------
    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        retry: bool = True,
        deadline: float | None = None,
        rewind: Callable[[], Any] | None = None,
        what: str = "",
        stream: bool = False,
    ) -> requests.Response:
        """One call with retries; returns a response with status < 400 or raises :class:`ZenodoError`.

        With ``retry=False`` a lost answer (connection dropped, timeout, 5xx) raises :class:`_LostAnswer`
        so the caller can look before sending again.
        """
        url = self._url(url)
        what = what or f"{method} {_display(url)}"
        deadline = deadline or (time.monotonic() + self.max_retry_seconds)
        attempt = 0
        while True:
            attempt += 1
            if rewind is not None and attempt > 1:
                rewind()
            try:
                response = self._session.request(
                    method,
                    url,
                    json=json_body,
                    data=data,
                    headers=headers,
                    params=params,
                    timeout=self.timeout,
                    allow_redirects=method == "GET",
                    stream=stream,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not retry:
                    raise _LostAnswer(f"{what}: {_reason(exc)}") from None
                wait = self._wait_time(attempt, None)
                self._pause(wait, deadline, what, f"{_reason(exc)}")
                continue
            except requests.RequestException as exc:
                raise ZenodoError(f"{what} failed: {_reason(exc)}", url=_display(url)) from None
            if response.status_code < 400:
                self._respect_rate_limit(response, deadline)
                return response
            if response.status_code in RETRY_STATUSES:
                if response.status_code != 429 and not retry:
                    raise _LostAnswer(f"{what}: HTTP {response.status_code}")
                wait = self._wait_time(attempt, response)
                self._pause(wait, deadline, what, f"HTTP {response.status_code}")
                continue
            if response.status_code in (404, 405) and url.rstrip("/").endswith(
                "/deposit/depositions"
            ):
                raise ZenodoError(
                    f"{what}: {_display(url)} answered HTTP {response.status_code}: this server "
                    "offers no Zenodo deposit API",
                    status=response.status_code,
                    url=_display(url),
                    hint="for a plain InvenioRDM server use its records API (--api records, or "
                    "--api auto to detect it); check the API base (e.g. https://zenodo.org/api), or "
                    "use --to DIR for a local archive",
                )
            raise self._error(response, what, url)

    def _wait_time(self, attempt: int, response: requests.Response | None) -> float:
        if response is not None:
            retry_after = response.headers.get("Retry-After")
            if retry_after is not None:
                try:
                    return max(0.0, float(retry_after))
                except ValueError:
                    pass
            reset = response.headers.get("X-RateLimit-Reset")
            if response.status_code == 429 and reset is not None:
                try:
                    return max(0.0, float(reset) - time.time())
                except ValueError:
                    pass
        base = min(60.0, self.backoff * 2.0 ** (attempt - 1))
        return base * (0.75 + random.random() / 2)

    def _respect_rate_limit(self, response: requests.Response, deadline: float) -> None:
        """When the budget is spent, wait for its reset now rather than collect a 429 next time."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        try:
            if remaining is None or reset is None or int(remaining) > 0:
                return
            wait = min(float(reset) - time.time(), 60.0, deadline - time.monotonic())
        except ValueError:
            return
        if wait > 0:
            self._sleep(wait)

    def _pause(self, wait: float, deadline: float, what: str, why: str) -> None:
        left = deadline - time.monotonic()
        if wait > left:
            raise ZenodoError(
                f"{what} on {_display(self.base_url)} kept failing ({why}); gave up after retrying "
                f"for {self.max_retry_seconds:.0f} s",
                hint=f"the server is busy or unreachable (check the address and your network); "
                f"{self.again}",
            )
        self._sleep(wait)

    def _error(self, response: requests.Response, what: str, url: str) -> ZenodoError:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        server_message = body.get("message") if isinstance(body, dict) else None
        errors = parse_errors(body)
        if errors:
            return refused(what, errors, status=status, url=url, body=_short_body(response))
        if status in (401, 403):
            return ZenodoAuthError(
                f"{what}: permission denied (HTTP {status})"
                + (f": {server_message}" if server_message else ""),
                status=status,
                url=_display(url),
                body=_short_body(response),
                hint="check that the token is valid for this server (sandbox and production need "
                "their own) and has the deposit:write and deposit:actions scopes",
            )
        detail = server_message or _short_body(response) or response.reason
        return ZenodoError(
            f"{what}: HTTP {status}: {detail}",
            status=status,
            url=_display(url),
            body=_short_body(response),
        )

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ZenodoError(
                f"{what}: the server's answer is not JSON", body=_short_body(response)
            ) from None

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One call that is safe to repeat (GET, PUT, DELETE), retried as :meth:`_send` says; returns
        the answer's JSON (None for an empty answer)."""
        response = self._send(
            method, path, json_body=json_body, params=params, headers=headers, what=what
        )
        return self._json(response, what) if response.content else None

    def put_file(
        self,
        url: str,
        path: str | os.PathLike[str],
        *,
        what: str,
        headers: dict[str, str] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Any:
        """Stream ``path`` as the body of a PUT (``application/octet-stream``, real Content-Length).

        Retried as a whole (the file is read again from the start): a PUT of the same content to the
        same place replaces it. Returns the answer's JSON, or ``{}`` when it has none.
        """
        size = Path(path).stat().st_size
        with Path(path).open("rb") as stream:
            body = _ProgressReader(stream, size, on_progress)

            def rewind() -> None:
                stream.seek(0)
                body._done = 0

            response = self._send(
                "PUT",
                url,
                data=body,
                headers={**(headers or {}), "Content-Type": "application/octet-stream"},
                rewind=rewind,
                what=what,
            )
        try:
            return response.json()
        except ValueError:
            return {}

    # -- depositions ------------------------------------------------------------------------------
    def get_deposition(self, deposition_id: int | str) -> dict[str, Any]:
        what = f"reading deposition {deposition_id}"
        response = self._send("GET", f"deposit/depositions/{deposition_id}", what=what)
        data: dict[str, Any] = self._json(response, what)
        return data

    def list_drafts(self) -> list[dict[str, Any]]:
        """The account's unpublished depositions (newest first; the listing lags behind creation)."""
        response = self._send(
            "GET",
            "deposit/depositions",
            params={"status": "draft", "sort": "mostrecent", "size": "100"},
            what="listing draft depositions",
        )
        data = self._json(response, "listing draft depositions")
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def create_deposition(self, marker: str, *, lookups: int = 3) -> dict[str, Any]:
        """Create a deposition titled ``marker`` (a unique string the caller keeps before calling).

        If the answer is lost, the account's drafts are searched for ``marker`` (a few times, since the
        listing lags) before the POST is sent again, so a lost answer never leaves two depositions.
        """
        return self.post_settled(
            "deposit/depositions",
            "creating a deposition",
            json_body={"metadata": {"title": marker}},
            settle=lambda: self.find_draft(marker),
            lookups=lookups,
        )

    def find_draft(self, marker: str) -> dict[str, Any] | None:
        """The draft whose title is ``marker``; strays with the same marker (a re-sent create) are deleted."""
        matches = sorted(
            (d for d in self.list_drafts() if d.get("title") == marker),
            key=lambda d: int(d.get("id", 0)),
        )
        for stray in matches[1:]:
            self.delete_deposition(stray["id"])
        return self.get_deposition(matches[0]["id"]) if matches else None

    def delete_deposition(self, deposition_id: int | str) -> None:
        self._send(
            "DELETE",
            f"deposit/depositions/{deposition_id}",
            what=f"deleting deposition {deposition_id}",
        )

    def update_metadata(self, deposition_id: int | str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Replace the whole metadata (the server does not merge); field errors raise
        :class:`ZenodoValidationError`."""
        what = f"setting the metadata of deposition {deposition_id}"
        response = self._send(
            "PUT",
            f"deposit/depositions/{deposition_id}",
            json_body={"metadata": metadata},
            what=what,
        )
        data: dict[str, Any] = self._json(response, what)
        return data

    def publish(self, deposition_id: int | str) -> dict[str, Any]:
        """Publish; a lost answer is settled by reading the deposition before any second POST."""

        def settle() -> dict[str, Any] | None:
            current = self.get_deposition(deposition_id)
            return current if is_published(current) else None

        return self.post_settled(
            f"deposit/depositions/{deposition_id}/actions/publish",
            f"publishing deposition {deposition_id}",
            settle=settle,
        )

    def new_version(self, published_id: int | str) -> dict[str, Any]:
        """A draft for a new version of published deposition ``published_id`` (reusing an open one).

        Returns the new draft itself, whichever era's answer the server gives (``links.latest_draft``).
        """
        what = f"opening a new version of deposition {published_id}"
        published = self.get_deposition(published_id)
        concept = str(published.get("conceptrecid") or "")
        existing = self._open_version_draft(concept, published_id)
        if existing is not None:
            return existing

        def answer(response: requests.Response) -> dict[str, Any]:
            data = self._json(response, what)
            latest = (data.get("links") or {}).get("latest_draft")
            if latest:
                draft: dict[str, Any] = self._json(self._send("GET", latest, what=what), what)
                return draft
            return dict(data)

        return self.post_settled(
            f"deposit/depositions/{published_id}/actions/newversion",
            what,
            settle=lambda: self._open_version_draft(concept, published_id),
            answer=answer,
        )

    def post_settled(
        self,
        path: str,
        what: str,
        *,
        settle: Callable[[], dict[str, Any] | None],
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        lookups: int = 1,
        answer: Callable[[requests.Response], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """POST something that must not happen twice (create, publish, new version, commit).

        When the answer is lost (dropped connection, timeout, 5xx), ``settle`` reads whether the POST took
        effect and returns its result, or None; it is asked ``lookups`` times (with short pauses, for
        listings that lag) before the POST is sent again, with backoff, until the deadline. 429 is
        retried at once: the server did not act on it.
        """
        deadline = time.monotonic() + self.max_retry_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(
                    "POST",
                    path,
                    json_body=json_body,
                    headers=headers,
                    retry=False,
                    deadline=deadline,
                    what=what,
                )
                if answer is not None:
                    return answer(response)
                data: dict[str, Any] = self._json(response, what)
                return data
            except _LostAnswer as lost:
                for look in range(lookups):
                    settled = settle()
                    if settled is not None:
                        return settled
                    if look + 1 < lookups:
                        self._pause(self.backoff * (look + 1), deadline, what, str(lost))
                self._pause(self._wait_time(attempt, None), deadline, what, str(lost))

    def _open_version_draft(self, concept: str, published_id: int | str) -> dict[str, Any] | None:
        if not concept:
            return None
        for draft in self.list_drafts():
            if str(draft.get("conceptrecid")) == concept and str(draft.get("id")) != str(
                published_id
            ):
                return self.get_deposition(draft["id"])
        return None

    # -- files ------------------------------------------------------------------------------------
    def upload(
        self,
        deposition: dict[str, Any],
        name: str,
        path: str | os.PathLike[str],
        *,
        md5: str,
        on_progress: ProgressCallback | None = None,
    ) -> UploadedFile:
        """Stream ``path`` to the deposition's bucket as ``name`` and check the server's md5 and size.

        A retried upload re-sends the whole file (same name = replace). When the answer carries no
        checksum, the deposition's file list confirms it.
        """
        bucket = (deposition.get("links") or {}).get("bucket")
        if not bucket:
            raise ZenodoError(
                f"deposition {deposition.get('id')} has no bucket link; the server may not support "
                "the bucket files API",
                hint="for a server without it, use the InvenioRDM records API (--api records)",
            )
        url = f"{bucket.rstrip('/')}/{quote(name, safe='')}"
        what = f"uploading {name}"
        answer = self.put_file(url, path, what=what, on_progress=on_progress)
        got_md5 = normalise_md5(answer.get("checksum")) if isinstance(answer, dict) else None
        got_size = answer.get("size") if isinstance(answer, dict) else None
        if got_md5 is None:
            listed = self.file_checksums(deposition["id"]).get(name)
            got_md5, got_size = listed if listed else (None, None)
        return confirm_upload(what, name, path, md5, got_md5, got_size)

    def file_checksums(self, deposition_id: int | str) -> dict[str, tuple[str | None, int | None]]:
        """``{name: (md5, size)}`` of the files the deposition holds now."""
        deposition = self.get_deposition(deposition_id)
        return deposition_files(deposition)

    def delete_file(self, deposition: dict[str, Any], name: str) -> None:
        bucket = (deposition.get("links") or {}).get("bucket")
        if not bucket:
            raise ZenodoError(f"deposition {deposition.get('id')} has no bucket link")
        self._send(
            "DELETE", f"{bucket.rstrip('/')}/{quote(name, safe='')}", what=f"deleting {name}"
        )

    # -- the read side (published records; no token needed for public ones) ------------------------
    def get_record(self, record_id: int | str) -> dict[str, Any]:
        """A published record (``GET /records/:id``) with ``files`` as a list of entries (``key``,
        ``size``, ``md5:`` checksum).

        Zenodo lists the files in the record itself; a plain InvenioRDM server answers with its native
        shape (``files: {"enabled": …}``), so its list is read from ``GET /records/:id/files``.
        """
        what = f"reading record {record_id}"
        data: dict[str, Any] = self._json(
            self._send("GET", f"records/{record_id}", what=what), what
        )
        if not isinstance(data.get("files"), list):
            listing = self._json(self._send("GET", f"records/{record_id}/files", what=what), what)
            entries = listing.get("entries") if isinstance(listing, dict) else None
            data = {**data, "files": [e for e in entries or [] if isinstance(e, dict)]}
        return data

    def download(
        self,
        record_id: int | str,
        key: str,
        dest: str | os.PathLike[str],
        *,
        md5: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Stream file ``key`` of a published record to ``dest`` (via a temporary file); returns its
        md5 and raises :class:`ZenodoError` when it differs from ``md5``."""
        import hashlib

        url = f"{self.base_url}/records/{record_id}/files/{quote(key, safe='')}/content"
        what = f"downloading {key} of record {record_id}"
        target = Path(dest)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        deadline = time.monotonic() + self.max_retry_seconds
        attempt = 0
        try:
            while True:
                attempt += 1
                response = self._send("GET", url, what=what, deadline=deadline, stream=True)
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
                    self._pause(self._wait_time(attempt, None), deadline, what, _reason(exc))
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
        url=_display(url),
        body=body,
        hint="fix these fields (CITATION.cff, .zenodo.json or [publish] in paperlink.toml) "
        "and run the command again",
    )


def deposition_files(deposition: dict[str, Any]) -> dict[str, tuple[str | None, int | None]]:
    """``{name: (md5, size)}`` from a deposition's ``files`` (names under ``filename`` or ``key``)."""
    found: dict[str, tuple[str | None, int | None]] = {}
    for item in deposition.get("files") or []:
        if not isinstance(item, dict):
            continue
        name = item.get("filename") or item.get("key")
        if name:
            size = item.get("filesize", item.get("size"))
            found[str(name)] = (
                normalise_md5(item.get("checksum")),
                int(size) if size is not None else None,
            )
    return found


def is_published(deposition: dict[str, Any]) -> bool:
    """Published: ``submitted`` with state ``done``, or a registered ``doi``."""
    return bool(
        (deposition.get("submitted") and deposition.get("state") == "done") or deposition.get("doi")
    )


def record_url(client: ZenodoClient, deposition: dict[str, Any]) -> str:
    """The landing page of a published deposition (``record_url`` is gone from the current layer)."""
    links = deposition.get("links") or {}
    for key in ("record_html", "latest_html"):
        if links.get(key):
            return str(links[key])
    if deposition.get("record_url"):
        return str(deposition["record_url"])
    return f"{client.web_url}/records/{deposition.get('id')}"


def resolve_doi(doi: str, resolver: str = DOI_RESOLVER, *, timeout: float = 30.0) -> str:
    """The page ``doi`` resolves to: the resolver's redirects followed, without a token.

    Raises :class:`ZenodoError` when the resolver cannot be reached or does not know the DOI.
    """
    url = f"{resolver.rstrip('/')}/{quote(doi, safe='/')}"
    with requests.Session() as session:
        session.headers["User-Agent"] = USER_AGENT
        try:
            response = session.head(url, allow_redirects=True, timeout=timeout)
            if response.status_code in (405, 501):  # a landing page that refuses HEAD
                response = session.get(url, allow_redirects=True, timeout=timeout, stream=True)
                response.close()
        except requests.RequestException as exc:
            raise ZenodoError(
                f"cannot resolve DOI {doi} at {_display(resolver)}: {_reason(exc)}",
                url=_display(url),
                hint="check the network, or give the record's URL (https://HOST/records/ID) "
                "or the server with --zenodo-url",
            ) from None
    if not response.history and response.status_code >= 400:
        raise ZenodoError(
            f"DOI {doi} is not known to {_display(resolver)} (HTTP {response.status_code})",
            status=response.status_code,
            url=_display(url),
            hint="check the DOI; a DOI reserved for an unpublished draft resolves only once published",
        )
    return str(response.url)


def _display(url: str) -> str:
    """A URL without any query string, so nothing sensitive that might be in one is shown."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _reason(exc: BaseException) -> str:
    """A short cause for a network error; requests' own text can be long and repeats the URL."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or was reset"
    return type(exc).__name__
