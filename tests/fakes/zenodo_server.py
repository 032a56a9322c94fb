"""A stand-alone Zenodo deposit-API server for tests: ``python zenodo_server.py --port 0 --token T``.

Implements the calls paperlink uses, as ``docs/zenodo-api.md`` describes the current server: create / get /
list / update / delete depositions, bucket PUT (201 with ``md5:`` checksum, 415 on a wrong Content-Type,
400 on empty files, 403 once published), publish (202; field errors with ``messages`` lists, or the old
``message`` shape with ``--legacy-errors``), new versions (the new draft, files carried over). 403 for a
missing or wrong token. Prints ``PORT <n>`` on stdout once listening. InvenioRDM's records API
(``invenio_records.py``) is served beside it on the same ids counter; ``--records-only`` (or
``{"apis": "records"}`` on ``/_control/config``) answers 404 on every deposit and bucket route, as a plain
InvenioRDM does.

Faults on demand (``POST /_control/faults``, a list of objects ``{"method", "path" (regex), "action",
"times", ...}``): ``429`` (with ``retry_after``), ``500``, ``502`` (HTML body), ``reset`` (drop the
connection before acting; for uploads after reading half the body), ``lose`` (act, then drop the
connection without answering), ``no_md5`` (answer an upload without checksum), ``corrupt`` (store a wrong
checksum), ``stall`` (read half an upload, then wait ``seconds``), ``slow`` (wait ``seconds`` before
answering), ``truncate`` (a download
drops the connection halfway), ``budget_spent`` (answer normally with ``X-RateLimit-Remaining: 0`` and a reset 2 s ahead). ``GET /_control/log`` lists every request received (method, path with query, headers);
``GET /_control/state`` the depositions, ``GET /_control/records`` the records API's drafts and records;
``POST /_control/reset`` forgets everything.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from invenio_records import RDM_ID, RecordsMixin
from vocabularies import LICENSES, RELATIONS


class State:
    def __init__(self, token: str, data_dir: Path, legacy_errors: bool, doi_prefix: str) -> None:
        self.token = token
        self.data_dir = data_dir
        self.legacy_errors = legacy_errors
        self.doi_prefix = doi_prefix
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.next_id = 1000
            self.depositions: dict[int, dict[str, Any]] = {}
            self.records: dict[str, dict[str, Any]] = {}  # the records API's drafts and records
            self.apis = "both"  # or "records": a plain InvenioRDM without Zenodo's deposit API
            self.datacite = True  # False: an InvenioRDM without a DOI provider (no DOIs at all)
            self.buckets: dict[str, int] = {}
            self.log: list[dict[str, Any]] = []
            self.faults: list[dict[str, Any]] = []
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            self.data_dir.mkdir(parents=True)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("method", method) == method and re.search(fault.get("path", ""), path):
                    fault["times"] = fault.get("times", 1) - 1
                    if fault["times"] <= 0:
                        self.faults.remove(fault)
                    return dict(fault)
        return None


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Handler(RecordsMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.server.state

    def base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.record_status(
            status
        )  # before answering, so a client never sees an answer not yet logged
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-RateLimit-Limit", "1000")
        extra = getattr(self, "_extra_headers", None) or {"X-RateLimit-Remaining": "999"}
        self._extra_headers = None
        for key, value in {**extra, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_html(self, status: int) -> None:
        data = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.record_status(status)
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        body: dict[str, Any] = {"status": status, "message": message}
        if errors is not None:
            body["errors"] = errors
        self.send_json(status, body)

    def validation(self, errors: list[tuple[str, str]]) -> None:
        if self.state.legacy_errors:
            self.error(400, "Validation error.", [{"field": f, "message": m} for f, m in errors])
        else:
            grouped: dict[str, list[str]] = {}
            for f, m in errors:
                grouped.setdefault(f, []).append(m)
            self.error(
                400,
                "A validation error occurred.",
                [{"field": f, "messages": ms} for f, ms in grouped.items()],
            )

    def drop(self) -> None:
        """Close the connection without an answer (what a reset or a lost answer looks like)."""
        self.close_connection = True
        self.record_status(None)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def record_status(self, status: int | None) -> None:
        entry = getattr(self, "_entry", None)
        if entry is not None:
            entry["status"] = status

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json_body(self) -> Any:
        """The JSON body of a create; None after answering 415 to another Content-Type, as Zenodo does."""
        if self.headers.get("Content-Type", "application/json") != "application/json":
            self.read_body()
            self.error(415, "Invalid 'Content-Type' header. Expected one of: application/json")
            return None
        return self.read_json()

    def read_json(self) -> Any:
        raw = self.read_body()
        if not raw:
            return {}
        return json.loads(raw)

    # -- dispatch ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith("/_control/"):
            self.control(method, path)
            return
        self._entry = {
            "method": method,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "time": time.time(),
        }
        with self.state.lock:
            self.state.log.append(self._entry)
        fault = self.state.take_fault(method, path)
        if fault is not None:
            action = fault["action"]
            if action == "429":
                self.read_body()
                retry_after = str(fault.get("retry_after", 1))
                self.send_json(
                    429,
                    {"status": 429, "message": "100 per 1 minute"},
                    {"Retry-After": retry_after},
                )
                return
            if action in ("500", "503"):
                self.read_body()
                self.error(
                    int(action),
                    "The server encountered an internal error and was unable to "
                    "complete your request.",
                )
                return
            if action == "502":
                self.read_body()
                self.send_html(502)
                return
            if action == "reset":
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length // 2)
                self.drop()
                return
            if action == "slow":
                time.sleep(float(fault.get("seconds", 5)))
            if action == "budget_spent":
                self._extra_headers = {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time()) + 2),
                }
        if method in ("GET", "HEAD") and self.public_page(method, path):
            return
        if self.state.apis == "records" and path.startswith(("/api/deposit/", "/api/files/")):
            self.read_body()  # a plain InvenioRDM has no such routes, whoever asks
            self.error(404, "The requested URL was not found on the server.")
            return
        # Published records are public (zenodo-api.md 5.7: no token needed); everything else needs it.
        public = method == "GET" and re.fullmatch(
            rf"/api/records/(\d+|{RDM_ID})(/files(/[^/]+/content)?)?", path
        )
        if not public and self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self.read_body()
            self.error(403, "Permission denied.")
            return
        self._fault = fault
        try:
            self.route(method, path, parts.query)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    # -- the web side: a DOI resolver (/doi/…, as doi.org) and the records' landing pages ---------------
    def public_page(self, method: str, path: str) -> bool:
        doi = re.fullmatch(r"/doi/(10\.\d+/.+)", unquote(path))
        landing = re.fullmatch(rf"/records/(\d+|{RDM_ID})", path)
        if doi:
            found = self.published_with_doi(doi.group(1))
            if found is None:
                self.send_page(method, 404, "DOI Not Found")
            else:
                self.send_page(method, 302, "", {"Location": f"{self.base()}/records/{found}"})
            return True
        if landing:
            key = landing.group(1)
            with self.state.lock:
                dep = self.state.depositions.get(int(key)) if key.isdigit() else None
                rec = self.state.records.get(key)
            known = (dep is not None and dep.get("submitted")) or (
                rec is not None and rec["published"]
            )
            self.send_page(method, 200 if known else 404, f"record {key}")
            return True
        return False

    def published_with_doi(self, doi: str) -> str | None:
        with self.state.lock:
            for dep in self.state.depositions.values():
                if dep.get("doi") == doi:
                    return str(dep["id"])
            for rec in self.state.records.values():
                if rec["published"] and (rec["pids"].get("doi") or {}).get("identifier") == doi:
                    return str(rec["id"])
        return None

    def send_page(
        self, method: str, status: int, text: str, headers: dict[str, str] | None = None
    ) -> None:
        data = f"<html><body>{text}</body></html>".encode()
        self.record_status(status)
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def route(self, method: str, path: str, query: str) -> None:
        if self.route_records(method, path, query):
            return None
        m = re.fullmatch(r"/api/deposit/depositions", path)
        if m and method == "POST":
            return self.create()
        if m and method == "GET":
            return self.list_depositions(query)
        m = re.fullmatch(r"/api/deposit/depositions/(\d+)", path)
        if m:
            dep = self.state.depositions.get(int(m.group(1)))
            if dep is None:
                self.read_body()
                return self.error(404, "The persistent identifier does not exist.")
            if method == "GET":
                return self.answer(200, dep)
            if method == "PUT":
                return self.update(dep)
            if method == "DELETE":
                return self.delete(dep)
        m = re.fullmatch(r"/api/deposit/depositions/(\d+)/actions/(\w+)", path)
        if m and method == "POST":
            dep = self.state.depositions.get(int(m.group(1)))
            self.read_body()
            if dep is None:
                return self.error(404, "The persistent identifier does not exist.")
            if m.group(2) == "publish":
                return self.publish(dep)
            if m.group(2) == "newversion":
                return self.newversion(dep)
        m = re.fullmatch(r"/api/records/(\d+)(?:/files/([^/]+)/content)?", path)
        if m and method == "GET":
            dep = self.state.depositions.get(int(m.group(1)))
            if dep is None or not dep["submitted"]:
                return self.error(404, "The persistent identifier is not registered.")
            if m.group(2) is None:
                return self.send_json(200, self.record_view(dep))
            name = unquote(m.group(2))
            if name not in dep["_files"]:
                return self.error(404, "File not found.")
            data = (self.state.data_dir / dep["_bucket"] / name.replace("/", "%2F")).read_bytes()
            if self._fault is not None and self._fault["action"] == "truncate":
                self.record_status(200)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                return self.drop()
            self.record_status(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        m = re.fullmatch(r"/api/files/([0-9a-f-]+)/([^/]+)", path)
        if m:
            dep_id = self.state.buckets.get(m.group(1))
            if dep_id is None:
                self.read_body()
                return self.error(404, "Bucket does not exist.")
            dep = self.state.depositions[dep_id]
            name = unquote(m.group(2))
            if method == "PUT":
                return self.upload(dep, name)
            if method == "DELETE":
                return self.delete_file(dep, name)
        self.read_body()
        self.error(405 if path.startswith("/api/") else 404, "Not found.")

    def answer(self, status: int, dep: dict[str, Any]) -> None:
        """Send a deposition, or act and then drop the answer when the fault says ``lose``."""
        if self._fault is not None and self._fault["action"] == "lose":
            self.drop()
            return
        self.send_json(status, self.view(dep))

    # -- the deposit API --------------------------------------------------------------------------
    def view(self, dep: dict[str, Any]) -> dict[str, Any]:
        base = self.base()
        dep_id = dep["id"]
        out = {k: v for k, v in dep.items() if not k.startswith("_")}
        out["title"] = dep["metadata"].get("title", "")
        out["files"] = [
            {
                "id": f["id"],
                "filename": name,
                "filesize": f["size"],
                "checksum": f["md5"],
                "links": {"self": f"{base}/api/deposit/depositions/{dep_id}/files/{f['id']}"},
            }
            for name, f in sorted(dep["_files"].items())
        ]
        api = f"{base}/api/deposit/depositions/{dep_id}"
        links = {
            "self": api,
            "html": f"{base}/deposit/{dep_id}",
            "bucket": f"{base}/api/files/{dep['_bucket']}",
            "files": f"{api}/files",
            "publish": f"{api}/actions/publish",
            "edit": f"{api}/actions/edit",
            "discard": f"{api}/actions/discard",
            "newversion": f"{api}/actions/newversion",
            "latest_draft": api,
        }
        if dep["submitted"]:
            links["self"] = f"{base}/api/records/{dep_id}"
            links["html"] = f"{base}/records/{dep_id}"
            links["record_html"] = f"{base}/records/{dep_id}"
            links["doi"] = f"https://doi.org/{dep['doi']}"
        out["links"] = links
        out["metadata"] = dict(dep["metadata"])
        out["metadata"]["prereserve_doi"] = {"doi": f"10.5281/zenodo.{dep_id}", "recid": dep_id}
        return out

    def record_view(self, dep: dict[str, Any]) -> dict[str, Any]:
        """``GET /records/:id`` in Zenodo JSON: files with ``key`` and ``md5:`` checksums."""
        base = self.base()
        return {
            "id": dep["id"],
            "recid": str(dep["id"]),
            "conceptrecid": dep["conceptrecid"],
            "doi": dep["doi"],
            "conceptdoi": dep["conceptdoi"],
            "status": "published",
            "metadata": dep["metadata"],
            "files": [
                {
                    "id": f["id"],
                    "key": name,
                    "size": f["size"],
                    "checksum": f"md5:{f['md5']}",
                    "links": {"self": f"{base}/api/records/{dep['id']}/files/{name}/content"},
                }
                for name, f in sorted(dep["_files"].items())
            ],
            "links": {"self_html": f"{base}/records/{dep['id']}"},
        }

    def new_deposition(self, concept: str | None = None) -> dict[str, Any]:
        dep_id = self.state.new_id()
        if concept is None:
            concept = str(self.state.new_id())
        bucket = str(uuid.uuid4())
        dep: dict[str, Any] = {
            "id": dep_id,
            "record_id": dep_id,
            "conceptrecid": concept,
            "created": now(),
            "modified": now(),
            "owner": 1,
            "state": "unsubmitted",
            "submitted": False,
            "metadata": {},
            "_files": {},
            "_bucket": bucket,
            "_metadata_sent": False,
        }
        self.state.depositions[dep_id] = dep
        self.state.buckets[bucket] = dep_id
        return dep

    def create(self) -> None:
        body = self.read_json_body()
        if body is None:
            return None
        with self.state.lock:
            dep = self.new_deposition()
            if isinstance(body.get("metadata"), dict):
                dep["metadata"] = dict(body["metadata"])
                dep["_metadata_sent"] = True
        self.answer(201, dep)

    def list_depositions(self, query: str) -> None:
        status = dict(p.partition("=")[::2] for p in query.split("&") if p).get("status")
        with self.state.lock:
            deps = sorted(self.state.depositions.values(), key=lambda d: -d["id"])
            if status == "draft":
                deps = [d for d in deps if not d["submitted"]]
            elif status == "published":
                deps = [d for d in deps if d["submitted"]]
            views = [self.view(d) for d in deps]
        self.send_json(200, views)

    def update(self, dep: dict[str, Any]) -> None:
        body = self.read_json()
        if dep["submitted"]:
            return self.error(404, "The persistent identifier is not registered.")
        unknown = [k for k in body if k != "metadata"]
        if unknown:
            return self.validation([(k, "Unknown field.") for k in unknown])
        metadata = body.get("metadata") or {}
        problems: list[tuple[str, str]] = []
        lic = metadata.get("license")
        if lic is not None and str(lic).lower() not in LICENSES:
            problems.append(("metadata.rights.0.id", f"Invalid license provided: {lic}"))
        related = metadata.get("related_identifiers", [])
        if not isinstance(related, list):
            problems.append(("metadata.related_identifiers", "Not a valid list."))
        else:
            for i, item in enumerate(related):
                if not isinstance(item, dict) or item.get("relation") not in RELATIONS:
                    problems.append(
                        (f"metadata.related_identifiers.{i}.relation_type", "Invalid value.")
                    )
        if problems:
            return self.validation(problems)
        with self.state.lock:
            dep["metadata"] = {k: v for k, v in metadata.items() if k != "prereserve_doi"}
            dep["metadata"].setdefault("publication_date", date.today().isoformat())
            dep["_metadata_sent"] = True
            dep["modified"] = now()
        self.answer(200, dep)

    def delete(self, dep: dict[str, Any]) -> None:
        self.read_body()
        if dep["submitted"]:
            return self.error(404, "The persistent identifier is not registered.")
        with self.state.lock:
            del self.state.depositions[dep["id"]]
            shutil.rmtree(self.state.data_dir / dep["_bucket"], ignore_errors=True)
        self.send_json(204, None)

    def publish(self, dep: dict[str, Any]) -> None:
        if dep["submitted"]:
            return self.error(404, "The persistent identifier is not registered.")
        md = dep["metadata"]
        problems: list[tuple[str, str]] = []
        if not md.get("upload_type"):
            problems.append(("metadata.resource_type", "Missing data for required field."))
        title = md.get("title")
        if not title:
            problems.append(("metadata.title", "Missing data for required field."))
        elif len(title) < 3:
            problems.append(("metadata.title", "Shorter than minimum length 3."))
        creators = md.get("creators")
        if not creators:
            problems.append(("metadata.creators", "Missing data for required field."))
        else:
            for i, creator in enumerate(creators):
                if not creator.get("name"):
                    problems.append(
                        (
                            f"metadata.creators.{i}.person_or_org.family_name",
                            "Family name cannot be blank.",
                        )
                    )
        if not dep["_metadata_sent"]:
            problems.append(("metadata.publication_date", "Missing data for required field."))
        if not dep["_files"]:
            problems.append(
                (
                    "files.enabled",
                    "Missing uploaded files. To disable files for this record please mark it as "
                    "metadata-only.",
                )
            )
        if problems:
            return self.validation(problems)
        with self.state.lock:
            dep["submitted"] = True
            dep["state"] = "done"
            dep["doi"] = f"{self.state.doi_prefix}/zenodo.{dep['id']}"
            dep["doi_url"] = f"https://doi.org/{dep['doi']}"
            dep["conceptdoi"] = f"{self.state.doi_prefix}/zenodo.{dep['conceptrecid']}"
            dep["metadata"]["doi"] = dep["doi"]
            dep["published"] = now()
        self.answer(202, dep)

    def newversion(self, dep: dict[str, Any]) -> None:
        if not dep["submitted"]:
            return self.error(404, "The persistent identifier is not registered.")
        with self.state.lock:
            for other in self.state.depositions.values():
                if other["conceptrecid"] == dep["conceptrecid"] and not other["submitted"]:
                    if other["_files"]:
                        return self.validation(
                            [("files.enabled", "Please remove all files first.")]
                        )
                    other["_files"] = dict(dep["_files"])
                    return self.answer(201, other)
            draft = self.new_deposition(concept=dep["conceptrecid"])
            draft["metadata"] = {
                k: v for k, v in dep["metadata"].items() if k not in ("doi", "version")
            }
            draft["metadata"]["publication_date"] = date.today().isoformat()
            draft["_metadata_sent"] = True
            # Files are carried over (shared content; a fresh file entry per name).
            draft["_files"] = {name: dict(f) for name, f in dep["_files"].items()}
        self.answer(201, draft)

    def upload(self, dep: dict[str, Any], name: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        content_type = self.headers.get("Content-Type")
        if content_type not in (None, "application/octet-stream"):
            self.rfile.read(length)
            return self.error(
                415, "Invalid 'Content-Type' header. Expected one of: application/octet-stream"
            )
        if "Content-Length" not in self.headers:
            return self.error(400, "File is smaller than expected.")
        if dep["submitted"]:
            self.rfile.read(length)
            return self.error(403, "Permission denied.")
        if length == 0:
            return self.error(400, "Empty files are not accepted.")
        fault = self._fault
        got = self.receive_file(self.state.data_dir / dep["_bucket"], name, length, fault)
        if got is None:
            return
        digest, received = got
        with self.state.lock:
            dep["_files"][name] = {"id": str(uuid.uuid4()), "size": received, "md5": digest}
        if fault and fault["action"] == "lose":
            self.drop()
            return
        answer: dict[str, Any] = {
            "key": name,
            "mimetype": "application/octet-stream",
            "checksum": f"md5:{digest}",
            "version_id": str(uuid.uuid4()),
            "size": received,
            "created": now(),
            "updated": now(),
            "is_head": True,
            "delete_marker": False,
            "links": {"self": f"{self.base()}/api/files/{dep['_bucket']}/{name}"},
        }
        if fault and fault["action"] == "no_md5":
            del answer["checksum"]
        self.send_json(201, answer)

    def receive_file(
        self, folder: Path, name: str, length: int, fault: dict[str, Any] | None
    ) -> tuple[str, int] | None:
        """Read an upload body of ``length`` bytes into ``folder/name``; returns (md5, size), or None
        (and stores nothing) when the transfer broke. Applies the ``stall`` and ``corrupt`` faults."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{uuid.uuid4()}.part"
        md5 = hashlib.md5()
        received = 0
        stall_at = length // 2 if fault and fault["action"] == "stall" else -1
        with tmp.open("wb") as out:
            while received < length:
                if received >= stall_at >= 0:
                    with self.state.lock:
                        self._entry["stalled"] = True
                    time.sleep(float(fault.get("seconds", 30)) if fault else 0)
                    stall_at = -1
                want = min(1 << 20, length - received)
                if stall_at > received:
                    want = min(want, stall_at - received)
                chunk = self.rfile.read(want)
                if not chunk:
                    break
                md5.update(chunk)
                out.write(chunk)
                received += len(chunk)
        if received < length:
            # A broken transfer leaves nothing (the server rolls back).
            tmp.unlink(missing_ok=True)
            self.close_connection = True
            self.record_status(None)
            return None
        digest = md5.hexdigest()
        if fault and fault["action"] == "corrupt":
            digest = hashlib.md5(b"corrupted" + digest.encode()).hexdigest()
        tmp.replace(folder / name.replace("/", "%2F"))
        return digest, received

    def delete_file(self, dep: dict[str, Any], name: str) -> None:
        self.read_body()
        if dep["submitted"]:
            return self.error(403, "Permission denied.")
        with self.state.lock:
            if dep["_files"].pop(name, None) is None:
                return self.error(404, "Object does not exist.")
        (self.state.data_dir / dep["_bucket"] / name.replace("/", "%2F")).unlink(missing_ok=True)
        self.send_json(204, None)

    # -- control ----------------------------------------------------------------------------------
    def control(self, method: str, path: str) -> None:
        state = self.state
        if path == "/_control/log" and method == "GET":
            with state.lock:
                return self.send_json(200, state.log)
        if path == "/_control/state" and method == "GET":
            with state.lock:
                deps = []
                for dep in state.depositions.values():
                    view = {k: v for k, v in dep.items() if k not in ("_files",)}
                    view["files"] = dep["_files"]
                    view["bucket_dir"] = str(state.data_dir / dep["_bucket"])
                    deps.append(view)
                return self.send_json(200, deps)
        if path == "/_control/records" and method == "GET":
            with state.lock:
                recs = []
                for rec in state.records.values():
                    view = dict(rec)
                    view["dir"] = str(state.data_dir / rec["id"])
                    view["doi"] = (rec["pids"].get("doi") or {}).get("identifier")
                    recs.append(view)
                return self.send_json(200, recs)
        if path == "/_control/faults" and method == "POST":
            faults = self.read_json()
            with state.lock:
                state.faults.extend(faults)
            return self.send_json(200, {"faults": len(state.faults)})
        if path == "/_control/config" and method == "POST":
            settings = self.read_json()
            with state.lock:
                state.legacy_errors = bool(settings.get("legacy_errors", state.legacy_errors))
                state.apis = str(settings.get("apis", state.apis))
                state.datacite = bool(settings.get("datacite", state.datacite))
            return self.send_json(200, settings)
        if path == "/_control/reset" and method == "POST":
            self.read_body()
            state.reset()
            state.apis = self.server.default_apis
            return self.send_json(200, {"reset": True})
        self.error(404, "unknown control path")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State
    default_apis = "both"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--legacy-errors", action="store_true")
    parser.add_argument("--doi-prefix", default="10.5281")
    parser.add_argument(
        "--records-only", action="store_true", help="offer only the records API (plain InvenioRDM)"
    )
    args = parser.parse_args(argv)
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.token, args.data_dir, args.legacy_errors, args.doi_prefix)
    server.default_apis = "records" if args.records_only else "both"
    server.state.apis = server.default_apis
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
