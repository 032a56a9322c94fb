"""ArchiveClient: the HTTP core shared by Zenodo's deposit API and InvenioRDM's records API.

The only module that imports ``requests``. One session, a ``paperlink/<version>`` User-Agent, a timeout on
every call, and retries for what is safe to repeat (GET, DELETE, a bucket PUT of the same name, a metadata
PUT) on 429 (honouring ``Retry-After``), 5xx, resets and timeouts, up to a bounded total time. A POST that
creates or publishes is never re-sent blindly: when its answer is lost, a GET shows whether it took effect
(:meth:`ArchiveClient.post_settled`). The token travels in the Authorization header only; it appears in no
URL, message or ``repr``. Behaviour follows ``docs/zenodo-api.md``. The read side (published records, file
downloads, DOI resolution) needs no token.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import requests

from paperlink.errors import ZenodoAuthError, ZenodoError
from paperlink.publish.answers import parse_errors, refused, url_without_query
from paperlink.version import __version__

ProgressCallback = Callable[[int, int], None]

# Where a DOI is looked up; PAPERLINK_DOI_RESOLVER replaces it (an institution's mirror, a test server).
DOI_RESOLVER = "https://doi.org"
USER_AGENT = f"paperlink/{__version__}"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Upload reads in 1 MiB blocks: few Python calls per GiB, constant memory.
UPLOAD_BLOCK = 1 << 20


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


class LostAnswer(Exception):
    """A request may have reached the server but no answer came back."""


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


def _short_body(response: requests.Response) -> str:
    text = response.text if response.content else ""
    if "<html" in text[:200].lower():
        return "(an HTML error page)"
    return text[:300]


class ArchiveClient:
    """The HTTP core for one Zenodo or InvenioRDM server, e.g. ``ArchiveClient("https://sandbox.zenodo.org/api", tok)``.

    The APIs (:class:`paperlink.publish.deposit.DepositAPI`, :class:`paperlink.publish.records_api.RecordsAPI`)
    make their calls through it; it reads published records and their files itself (``verify`` needs no API).

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
        return f"ArchiveClient({self.base_url!r}, token=<hidden>)"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ArchiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def web_url(self) -> str:
        """The web UI's base: the API base without its ``/api``."""
        return self.base_url[: -len("/api")] if self.base_url.endswith("/api") else self.base_url

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def send(
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

        With ``retry=False`` a lost answer (connection dropped, timeout, 5xx) raises :class:`LostAnswer`
        so the caller can look before sending again.
        """
        url = self._url(url)
        what = what or f"{method} {url_without_query(url)}"
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
                    raise LostAnswer(f"{what}: {reason(exc)}") from None
                wait = self._wait_time(attempt, None)
                self._pause(wait, deadline, what, f"{reason(exc)}")
                continue
            except requests.RequestException as exc:
                raise ZenodoError(
                    f"{what} failed: {reason(exc)}", url=url_without_query(url)
                ) from None
            if response.status_code < 400:
                self._respect_rate_limit(response, deadline)
                return response
            if response.status_code in RETRY_STATUSES:
                if response.status_code != 429 and not retry:
                    raise LostAnswer(f"{what}: HTTP {response.status_code}")
                wait = self._wait_time(attempt, response)
                self._pause(wait, deadline, what, f"HTTP {response.status_code}")
                continue
            if response.status_code in (404, 405) and url.rstrip("/").endswith(
                "/deposit/depositions"
            ):
                raise ZenodoError(
                    f"{what}: {url_without_query(url)} answered HTTP {response.status_code}: this server "
                    "offers no Zenodo deposit API",
                    status=response.status_code,
                    url=url_without_query(url),
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
                f"{what} on {url_without_query(self.base_url)} kept failing ({why}); gave up after retrying "
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
                url=url_without_query(url),
                body=_short_body(response),
                hint="check that the token is valid for this server (sandbox and production need "
                "their own) and has the deposit:write and deposit:actions scopes",
            )
        detail = server_message or _short_body(response) or response.reason
        return ZenodoError(
            f"{what}: HTTP {status}: {detail}",
            status=status,
            url=url_without_query(url),
            body=_short_body(response),
        )

    def json_of(self, response: requests.Response, what: str) -> Any:
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
        response = self.send(
            method, path, json_body=json_body, params=params, headers=headers, what=what
        )
        return self.json_of(response, what) if response.content else None

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

            response = self.send(
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
                response = self.send(
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
                data: dict[str, Any] = self.json_of(response, what)
                return data
            except LostAnswer as lost:
                for look in range(lookups):
                    settled = settle()
                    if settled is not None:
                        return settled
                    if look + 1 < lookups:
                        self._pause(self.backoff * (look + 1), deadline, what, str(lost))
                self._pause(self._wait_time(attempt, None), deadline, what, str(lost))

    def retry_pause(self, attempt: int, deadline: float, what: str, why: str) -> None:
        """Wait before attempt ``attempt + 1`` of a call that failed with ``why``, or raise when the
        deadline would pass first (for callers that retry a whole exchange, e.g. a download)."""
        self._pause(self._wait_time(attempt, None), deadline, what, why)


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
                f"cannot resolve DOI {doi} at {url_without_query(resolver)}: {reason(exc)}",
                url=url_without_query(url),
                hint="check the network, or give the record's URL (https://HOST/records/ID) "
                "or the server with --zenodo-url",
            ) from None
    if not response.history and response.status_code >= 400:
        raise ZenodoError(
            f"DOI {doi} is not known to {url_without_query(resolver)} (HTTP {response.status_code})",
            status=response.status_code,
            url=url_without_query(url),
            hint="check the DOI; a DOI reserved for an unpublished draft resolves only once published",
        )
    return str(response.url)


def reason(exc: BaseException) -> str:
    """A short cause for a network error; requests' own text can be long and repeats the URL."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or was reset"
    return type(exc).__name__
