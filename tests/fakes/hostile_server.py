"""A hostile archive server for tests: ``python hostile_server.py --port 0``; prints ``PORT <n>``.

It answers the read side of the Zenodo/InvenioRDM API that ``paperlink verify --doi`` uses, with whatever
archive a test configures: file keys such as ``../../../../tmp/x.record.json``, ``/tmp/x``, ``a\\b``,
``.hidden`` or ``x\\0y``, links with odd URLs (``file:///etc/passwd``, another host), checksums that lie.
The fake Zenodo server cannot hold such keys (it stores files by name); this one keeps them in memory.

``POST /_control/archive`` sets the archive: ``{"id": "777", "invenio": false, "files": [{"key": K,
"content_b64": B, "checksum": optional "md5:…", "links": optional {...}}]}``; ``GET /_control/log`` lists
the requests received (method and raw path); ``POST /_control/reset`` forgets everything.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

ODD_LINKS = {
    "self": "file:///etc/passwd",
    "content": "http://192.0.2.1/steal",
    "download": "../../../../etc/shadow",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, data: Any) -> None:
        self.send(status, json.dumps(data).encode())

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        with self.server.lock:
            if path == "/_control/archive":
                self.server.archive = self.read_json()
                return self.send_json(200, {"ok": True})
            if path == "/_control/reset":
                self.read_json()
                self.server.archive = {"id": "", "files": []}
                self.server.log.clear()
                return self.send_json(200, {"ok": True})
        self.send_json(404, {"status": 404, "message": "Not found."})

    def do_GET(self) -> None:
        raw = urlsplit(self.path).path
        if raw == "/_control/log":
            with self.server.lock:
                return self.send_json(200, list(self.server.log))
        with self.server.lock:
            self.server.log.append({"method": "GET", "path": self.path})
            archive = self.server.archive
        record_id = str(archive.get("id", ""))
        files = archive.get("files") or []
        m = re.fullmatch(r"/api/records/([^/]+)(/files)?", raw)
        if m and m.group(1) == record_id:
            entries = [self.entry(record_id, f) for f in files]
            if m.group(2):
                return self.send_json(200, {"entries": entries, "enabled": True})
            if archive.get("invenio"):
                return self.send_json(200, {"id": record_id, "files": {"enabled": True}})
            return self.send_json(200, {"id": record_id, "files": entries, "links": ODD_LINKS})
        # The key is one quoted segment (the client quotes '/' too): split before unquoting.
        m = re.fullmatch(r"/api/records/([^/]+)/files/([^/]+)/content", raw)
        if m and m.group(1) == record_id:
            key = unquote(m.group(2))
            for f in files:
                if f["key"] == key:
                    return self.send(
                        200, base64.b64decode(f.get("content_b64", "")), "application/octet-stream"
                    )
        self.send_json(404, {"status": 404, "message": "The persistent identifier does not exist."})

    @staticmethod
    def entry(record_id: str, f: dict[str, Any]) -> dict[str, Any]:
        content = base64.b64decode(f.get("content_b64", ""))
        return {
            "key": f["key"],
            "size": len(content),
            "checksum": f.get("checksum") or f"md5:{hashlib.md5(content).hexdigest()}",
            "links": f.get("links") or ODD_LINKS,
        }


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.lock = threading.Lock()
        self.archive: dict[str, Any] = {"id": "", "files": []}
        self.log: list[dict[str, Any]] = []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = Server(("127.0.0.1", args.port))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
