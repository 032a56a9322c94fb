"""The viewer as a WSGI application, served by the standard library's ``wsgiref`` in threads.

Read-only by construction: only GET and HEAD are answered, the store is opened for each request and
closed after it (SQLite in WAL mode, reads only, so a ``paperlink run`` writing at the same time neither
waits nor fails), and a file is served only when it is one of the record's outputs and lies inside the
project once symlinks are followed.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import socket
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import IO, Any
from urllib.parse import parse_qs, quote, unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from paperlink.core.store import RecordStore
from paperlink.errors import PaperlinkError, RecordNotFound, ViewerError
from paperlink.web import figures, outputs, pages
from paperlink.web.links import Links

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

# No script at all, only our own stylesheet and images: even a page with a rendering bug cannot run
# code that came from a record.
PAGE_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Output files are the user's own, but an HTML or SVG output must not run scripts in the viewer's origin.
FILE_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
CHUNK = 256 * 1024


class Response:
    def __init__(
        self,
        status: str,
        body: bytes | Iterable[bytes],
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type), *(headers or [])]


class ViewerApp:
    """The WSGI application: ``ViewerApp(store_path, project_root, tex)``."""

    def __init__(self, store_path: Path | str, root: Path, tex: Path | None = None) -> None:
        self.store_path = store_path
        self.root = Path(root)
        self.tex = Path(tex) if tex else None
        self.renderer = pages.Renderer()
        self.links = Links()
        # Host headers accepted; None accepts any (a viewer listening beyond loopback).
        self.allowed_hosts: set[str] | None = None
        # Fail at start-up, not on the first request, when the store or the manuscript is missing.
        with RecordStore(self.store_path) as store:
            figures.load_figures(store, self.root, self.tex)

    # -- WSGI -------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self.respond(environ)
        body = response.body
        if environ.get("REQUEST_METHOD") == "HEAD":
            if hasattr(body, "close"):
                body.close()
            body = [b""]
        elif isinstance(body, bytes):
            response.headers.append(("Content-Length", str(len(body))))
            body = [body]
        start_response(response.status, response.headers)
        return body

    def respond(self, environ: dict[str, Any]) -> Response:
        host = environ.get("HTTP_HOST", "").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            # A web page elsewhere could point a name of its own at 127.0.0.1 (DNS rebinding) and read
            # the records through the visitor's browser; a loopback viewer only answers its own names.
            return self._error(
                "421 Misdirected Request",
                f"this viewer answers only to {', '.join(sorted(self.allowed_hosts))}",
            )
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._error(
                "405 Method Not Allowed", "the viewer only shows records; it changes nothing"
            )
        # The raw path keeps %2F inside a label apart from the / between segments.
        raw = environ.get("paperlink.raw_path") or quote(environ.get("PATH_INFO", "/"))
        path, _, query = raw.partition("?")
        query = query or environ.get("QUERY_STRING", "")
        segments = [unquote(part) for part in path.split("/")[1:]]
        while len(segments) > 1 and segments[-1] == "":
            segments.pop()
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            return self._route(segments, params)
        except RecordNotFound as exc:
            return self._error("404 Not Found", exc.message, exc.hint)
        except PaperlinkError as exc:
            return self._error("500 Internal Server Error", exc.message, exc.hint)
        except Exception:  # a bug: keep serving, show no traceback to the browser
            traceback.print_exc(file=sys.stderr)
            return self._error(
                "500 Internal Server Error",
                "the viewer failed on this page (a bug in paperlink; the traceback is in the terminal "
                "running 'paperlink serve')",
            )

    # -- routing ----------------------------------------------------------------------------------
    def _route(self, segments: list[str], params: dict[str, str]) -> Response:
        head, rest = segments[0], segments[1:]
        if head == "static" and rest == ["paperlink.css"]:
            return Response("200 OK", self.renderer.css(), "text/css; charset=utf-8")
        if head in ("", "records") and not rest:
            return self._page(lambda s: pages.records_page(s, pages.RecordQuery.parse(params)))
        if head == "records" and len(rest) == 1:
            return self._record(rest[0])
        if head == "records" and len(rest) >= 3 and rest[1] == "files":
            return self._file(rest[0], "/".join(rest[2:]))
        if head == "figures" and not rest:
            return self._page(lambda s: figures.figures_page(self._figures(s), self.tex))
        if head == "figures" and len(rest) >= 2:
            label, path = rest[0], "/".join(rest[1:])
            return self._page(
                lambda s: figures.figure_page(
                    self._figures(s) or [], self.tex, self.root, label, path
                )
            )
        if head == "compare" and not rest:
            left, right = params.get("left", "").strip(), params.get("right", "").strip()
            if not left or not right:
                return self._error(
                    "400 Bad Request", "choose two records to compare", "give both labels"
                )
            location = self.links.compare(left, right) or "/"
            return Response("303 See Other", b"", "text/plain", [("Location", location)])
        if head == "compare" and len(rest) == 2:
            return self._page(lambda s: pages.compare_page(s, self.root, rest[0], rest[1]))
        raise RecordNotFound("there is no page at this address", hint="start from the records page")

    def _figures(self, store: RecordStore) -> list[figures.FigureView] | None:
        return figures.load_figures(store, self.root, self.tex)

    def _record(self, name: str) -> Response:
        with RecordStore(self.store_path) as store:
            if not store.exists(name) and name.endswith(".json") and store.exists(name[:-5]):
                body = store.get(name[:-5]).to_json(indent=2).encode() + b"\n"
                return Response("200 OK", body, "application/json; charset=utf-8", _no_cache())
            figures = self._figures(store)
            template, context = pages.record_page(store, self.root, name, figures)
            return self._html(template, context)

    def _page(self, build: Callable[[RecordStore], tuple[str, dict[str, Any]]]) -> Response:
        with RecordStore(self.store_path) as store:
            template, context = build(store)
        return self._html(template, context)

    def _html(self, template: str, context: dict[str, Any], status: str = "200 OK") -> Response:
        html = self.renderer.render(template, context, self.links).encode()
        headers = [("Content-Security-Policy", PAGE_POLICY), *_no_cache(), *_safety()]
        return Response(status, html, "text/html; charset=utf-8", headers)

    def _error(self, status: str, message: str, hint: str | None = None) -> Response:
        template, context = pages.error_page(status, message, hint)
        return self._html(template, context, status)

    def _file(self, label: str, path: str) -> Response:
        missing = RecordNotFound(
            f"record '{label}' has no output file '{path}' inside the project",
            hint="the record page lists its outputs",
        )
        with RecordStore(self.store_path) as store:
            record = store.get(label)
            item = record.output(path)
            if item is None or item.kind != "file":
                raise missing
            located = outputs.inside_project(self.root, item.fs_path)
            if located is None or not located.is_file():
                raise missing
            view = outputs.output_views(self.root, store, record)[record.outputs.index(item)]
        if view.state != outputs.STATE_OK:
            # Serving today's file under the run's URL would pass it off as what the run made.
            return self._error(
                "410 Gone",
                f"{path} has changed since record '{label}' made it "
                f"(it is now sha256:{view.current_sha256}, the record says sha256:{item.sha256})",
                f"re-run the command with 'paperlink rerun {label}', or restore the file",
            )
        try:
            handle = located.open("rb")
        except OSError as exc:
            raise missing from exc
        size = located.stat().st_size
        suffix = located.suffix.lower()
        kind = outputs.IMAGE_TYPES.get(suffix) or mimetypes.guess_type(located.name)[0]
        headers = [
            ("Content-Length", str(size)),
            ("Content-Security-Policy", FILE_POLICY),
            # The record's name: valid UTF-8 even where the file's own name is not.
            ("Content-Disposition", f"inline; filename*=UTF-8''{quote(item.path.rsplit('/')[-1])}"),
            *_no_cache(),
            *_safety(),
        ]
        return Response("200 OK", _chunks(handle), kind or "application/octet-stream", headers)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _no_cache() -> list[tuple[str, str]]:
    # Records, files and their states change while the viewer runs.
    return [("Cache-Control", "no-store")]


def _safety() -> list[tuple[str, str]]:
    return [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]


# -- the server -------------------------------------------------------------------------------------
class _Handler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["paperlink.raw_path"] = self.path
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request log line per image would bury the URL the user needs."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that gives up on a request (navigating away, cancelling an image) is no error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning to show when the viewer listens beyond this machine."""
    if is_loopback(host):
        return None
    return (
        f"the viewer has no authentication: anyone who can reach {host} can read every record, "
        "output file and stdout of this project. Use the default --host 127.0.0.1 unless you mean it."
    )


def serve_app(
    app: ViewerApp, host: str, port: int, *, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve ``app`` on ``host:port`` (0: any free port) until interrupted; ``on_ready(url)`` is called
    once it listens. Raises :class:`ViewerError` when the address cannot be used."""
    bare = host.strip("[]")
    server_class = _ThreadingServer6 if ":" in bare else _ThreadingServer
    try:
        server = make_server(bare, port, app, server_class=server_class, handler_class=_Handler)
    except OSError as exc:
        raise ViewerError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port (--port 0 picks a free one), or check --host",
        ) from exc
    if is_loopback(bare):
        names = (
            {bare, "localhost", "127.0.0.1", "[::1]"}
            if ":" not in bare
            else {f"[{bare}]", "localhost"}
        )
        app.allowed_hosts = {f"{name}:{server.server_port}" for name in names}
        if server.server_port == 80:
            app.allowed_hosts |= names
    try:
        shown = f"[{bare}]" if ":" in bare else bare
        if on_ready is not None:
            on_ready(f"http://{shown}:{server.server_port}/")
        server.serve_forever()
    finally:
        server.server_close()
