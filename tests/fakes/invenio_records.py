"""InvenioRDM's records API for the fake server (``docs/zenodo-api.md`` §11), mixed into its handler.

Drafts and published records with InvenioRDM-style ids (``k3v9x-2mq7d``), a parent (concept) id shared by
versions, and the native JSON shape. Create a draft (``POST /records``, 201, with an ``errors`` list for
missing required fields); ``GET``/``PUT``/``DELETE /records/:id/draft`` (a ``PUT`` replaces metadata,
access and pids and is saved even when ``errors`` come back; an omitted ``pids`` drops a reserved DOI);
``POST …/draft/pids/doi`` (201; 400 when one is reserved already); files: register ``POST …/draft/files``
``[{"key"}]`` (201; 400 for a key that exists), ``PUT …/files/:key/content`` (200; octet-stream only; a
broken transfer leaves no content), ``POST …/commit`` (200 with ``md5:`` checksum; 400 without complete
content), ``GET``/``DELETE`` an entry, list; 403 for any file change once published. Publish (202; 400 with
field errors while title, creators, publication_date or resource_type are missing or no file is
committed); new versions ``POST /records/:id/versions`` (201: a draft without files, metadata copied minus
version, no DOI; the open one if it exists; 404 for an unpublished id); ``GET /records/:id`` (published
only, public, ``files`` as a summary), ``GET /records/:id/files`` and ``…/files/:key/content``;
``GET /user/records?q=`` searching the user's drafts and records (``metadata.title:"…"``, ``parent.id:…``,
``is_published:…``). 404 for unknown ids. The handler's fault injection applies to all of it.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from vocabularies import LICENSES, RELATIONS

RDM_ID = r"[0-9a-z]+-[0-9a-z]+"
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RESOURCE_TYPES = {
    "dataset", "software", "publication-article", "publication-preprint", "publication-report",
    "publication-other", "image-figure", "image-plot", "image-other", "poster", "presentation",
    "video", "lesson", "physicalobject", "other",
}  # fmt: skip
MISSING = "Missing data for required field."
NO_FILES = (
    "Missing uploaded files. To disable files for this record please mark it as metadata-only."
)
ALLOWED_KEYS = {"metadata", "access", "files", "pids", "custom_fields", "$schema"}


def rdm_id(n: int) -> str:
    """An id shaped like InvenioRDM's (ten base-32 characters in two groups), unique per ``n``."""
    x = (n * 2654435761 + 977) % 32**10
    chars = "".join(_ALPHABET[(x >> (5 * i)) & 31] for i in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class RecordsMixin:
    """Handlers for ``/api/records…`` and ``/api/user/records`` on InvenioRDM ids."""

    # Provided by the handler this is mixed into.
    state: Any
    headers: Any
    rfile: Any
    _fault: dict[str, Any] | None
    base: Any
    send_json: Any
    error: Any
    validation: Any
    drop: Any
    read_body: Any
    read_json: Any
    read_json_body: Any
    record_status: Any
    receive_file: Any
    send_response: Any
    send_header: Any
    end_headers: Any
    wfile: Any

    # -- routing ----------------------------------------------------------------------------------
    def route_records(self, method: str, path: str, query: str) -> bool:
        """Handle ``path`` if it belongs to the records API; False when it does not."""
        if path == "/api/records" and method == "POST":
            self.rdm_create()
            return True
        if path == "/api/user/records" and method == "GET":
            self.rdm_search(query)
            return True
        m = re.fullmatch(rf"/api/records/({RDM_ID})(/.*)?", path)
        if not m:
            return False
        rec = self.state.records.get(m.group(1))
        rest = m.group(2) or ""
        if rec is None:
            self.read_body()
            self.error(404, "The persistent identifier does not exist.")
            return True
        draft = not rec["published"]
        routes: list[tuple[str, str, Any]] = [
            ("GET", "", self.rdm_get_record),
            ("GET", "/files", self.rdm_record_files),
            ("GET", "/draft", self.rdm_get_draft),
            ("PUT", "/draft", self.rdm_update),
            ("DELETE", "/draft", self.rdm_discard),
            ("POST", "/draft/pids/doi", self.rdm_reserve_doi),
            ("POST", "/draft/actions/publish", self.rdm_publish),
            ("POST", "/versions", self.rdm_new_version),
            ("GET", "/draft/files", self.rdm_list_files),
            ("POST", "/draft/files", self.rdm_register),
        ]
        for verb, suffix, handler in routes:
            if method == verb and rest == suffix:
                if suffix.startswith("/draft") and not draft:
                    self.read_body()
                    self.error(404, "The draft does not exist (the record is published).")
                else:
                    handler(rec)
                return True
        f = re.fullmatch(r"/(draft/)?files/([^/]+)(/content|/commit)?", rest)
        if f:
            key = unquote(f.group(2))
            in_draft = bool(f.group(1))
            if in_draft and not draft and method != "GET":
                self.read_body()
                self.error(403, "Permission denied.")  # published files are immutable
                return True
            if (in_draft and not draft) or (not in_draft and draft):
                self.read_body()
                self.error(404, "The persistent identifier is not registered.")
                return True
            entry = rec["files"].get(key)
            if entry is None:
                self.read_body()
                self.error(404, f"File with key {key} not found.")
                return True
            action = (method, f.group(3) or "")
            if action == ("PUT", "/content") and in_draft:
                self.rdm_content(rec, entry)
            elif action == ("POST", "/commit") and in_draft:
                self.rdm_commit(rec, entry)
            elif action == ("GET", "/content"):
                self.rdm_download(rec, entry)
            elif action == ("GET", ""):
                self.rdm_answer(200, self.rdm_file_view(rec, entry))
            elif action == ("DELETE", "") and in_draft:
                self.read_body()
                with self.state.lock:
                    del rec["files"][key]
                self.rdm_path(rec, key).unlink(missing_ok=True)
                self.send_json(204, None)
            else:
                self.read_body()
                self.error(405, "Method not allowed.")
            return True
        self.read_body()
        self.error(405, "Method not allowed.")
        return True

    def rdm_answer(self, status: int, body: Any) -> None:
        """Answer, or act and then drop the answer when the fault says ``lose``."""
        if self._fault is not None and self._fault["action"] == "lose":
            self.drop()
            return
        self.send_json(status, body)

    # -- views ------------------------------------------------------------------------------------
    def rdm_path(self, rec: dict[str, Any], key: str) -> Path:
        return Path(self.state.data_dir) / rec["id"] / key.replace("/", "%2F")

    def rdm_view(self, rec: dict[str, Any], *, errors: list[tuple[str, str]] | None = None) -> Any:
        base = self.base()
        api = f"{base}/api/records/{rec['id']}"
        published = rec["published"]
        links = {
            "self": api if published else f"{api}/draft",
            "self_html": f"{base}/records/{rec['id']}"
            if published
            else f"{base}/uploads/{rec['id']}",
            "files": f"{api}/files" if published else f"{api}/draft/files",
            "versions": f"{api}/versions",
            "publish": f"{api}/draft/actions/publish",
            "reserve_doi": f"{api}/draft/pids/doi",
        }
        doi = (rec["pids"].get("doi") or {}).get("identifier")
        if published and doi:
            links["doi"] = f"https://doi.org/{doi}"
        files = [e for e in rec["files"].values() if e["status"] == "completed"]
        out: dict[str, Any] = {
            "id": rec["id"],
            "parent": {"id": rec["parent"]},
            "created": rec["created"],
            "updated": rec["updated"],
            "revision_id": rec["revision"],
            "is_published": published,
            "is_draft": not published,
            "status": "published"
            if published
            else ("new_version_draft" if rec["version"] > 1 else "draft"),
            "versions": {"index": rec["version"]},
            "metadata": rec["metadata"],
            "access": rec["access"],
            "files": {
                "enabled": True,
                "count": len(files),
                "total_bytes": sum(e["size"] or 0 for e in files),
            },
            "pids": rec["pids"],
            "links": links,
        }
        if errors:
            out["errors"] = _grouped(errors)
        return out

    def rdm_file_view(self, rec: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        where = "files" if rec["published"] else "draft/files"
        url = f"{self.base()}/api/records/{rec['id']}/{where}/{quote(entry['key'], safe='')}"
        out: dict[str, Any] = {
            "key": entry["key"],
            "status": entry["status"],
            "created": entry["created"],
            "updated": entry["updated"],
            "mimetype": "application/octet-stream",
            "links": {"self": url, "content": f"{url}/content"},
        }
        if not rec["published"]:
            out["links"]["commit"] = f"{url}/commit"
        if entry["size"] is not None:
            out["size"] = entry["size"]
        if entry["status"] == "completed":
            out["checksum"] = f"md5:{entry['md5']}"
            out["file_id"] = entry["file_id"]
        return out

    def rdm_files_view(self, rec: dict[str, Any], *, completed_only: bool) -> dict[str, Any]:
        entries = [
            self.rdm_file_view(rec, e)
            for _, e in sorted(rec["files"].items())
            if e["status"] == "completed" or not completed_only
        ]
        return {"enabled": True, "entries": entries, "order": []}

    # -- drafts -----------------------------------------------------------------------------------
    def rdm_new(self, parent: str | None, version: int) -> dict[str, Any]:
        rec_id = rdm_id(self.state.new_id())
        rec: dict[str, Any] = {
            "id": rec_id,
            "parent": parent or rdm_id(self.state.new_id()),
            "created": _now(),
            "updated": _now(),
            "revision": 1,
            "published": False,
            "version": version,
            "metadata": {},
            "access": {"record": "public", "files": "public"},
            "pids": {},
            "files": {},
        }
        self.state.records[rec_id] = rec
        return rec

    def rdm_create(self) -> None:
        body = self.read_json_body()
        if body is None:
            return None
        with self.state.lock:
            rec = self.rdm_new(None, 1)
            if isinstance(body.get("metadata"), dict):
                rec["metadata"] = dict(body["metadata"])
            if isinstance(body.get("access"), dict):
                rec["access"] = dict(body["access"])
        self.rdm_answer(201, self.rdm_view(rec, errors=required_errors(rec)))

    def rdm_get_draft(self, rec: dict[str, Any]) -> None:
        self.rdm_answer(200, self.rdm_view(rec))

    def rdm_update(self, rec: dict[str, Any]) -> None:
        body = self.read_json()
        if not isinstance(body, dict):
            return self.validation([("_schema", "Invalid input type.")])
        unknown = sorted(k for k in body if k not in ALLOWED_KEYS)
        if unknown:
            return self.validation([(k, "Unknown field.") for k in unknown])
        with self.state.lock:
            rec["metadata"] = dict(body.get("metadata") or {})
            rec["access"] = dict(body.get("access") or {"record": "public", "files": "public"})
            rec["pids"] = dict(body.get("pids") or {})  # the document replaces: no pids, no DOI
            rec["updated"] = _now()
            rec["revision"] += 1
        self.rdm_answer(
            200, self.rdm_view(rec, errors=required_errors(rec) + vocabulary_errors(rec))
        )

    def rdm_discard(self, rec: dict[str, Any]) -> None:
        self.read_body()
        with self.state.lock:
            del self.state.records[rec["id"]]
        shutil.rmtree(Path(self.state.data_dir) / rec["id"], ignore_errors=True)
        self.send_json(204, None)

    def rdm_reserve_doi(self, rec: dict[str, Any]) -> None:
        self.read_body()
        if not self.state.datacite:
            return self.validation([("pids.doi", "No PID provider is configured for doi.")])
        if rec["pids"].get("doi"):
            return self.validation([("pids.doi", "A PID already exists for type doi.")])
        with self.state.lock:
            rec["pids"]["doi"] = {
                "identifier": f"{self.state.doi_prefix}/{rec['id']}",
                "provider": "datacite",
                "client": "datacite",
            }
        self.rdm_answer(201, self.rdm_view(rec))

    def rdm_publish(self, rec: dict[str, Any]) -> None:
        self.read_body()
        problems = required_errors(rec) + vocabulary_errors(rec)
        completed = [e for e in rec["files"].values() if e["status"] == "completed"]
        if not completed:
            problems.append(("files.enabled", NO_FILES))
        problems += [
            ("files", f"File {e['key']} is not committed.")
            for e in rec["files"].values()
            if e["status"] != "completed"
        ]
        if problems:
            return self.validation(problems)
        with self.state.lock:
            rec["published"] = True
            rec["publication"] = _now()
            if not rec["pids"].get("doi") and self.state.datacite:
                rec["pids"]["doi"] = {
                    "identifier": f"{self.state.doi_prefix}/{rec['id']}",
                    "provider": "datacite",
                }
        self.rdm_answer(202, self.rdm_view(rec))

    def rdm_new_version(self, rec: dict[str, Any]) -> None:
        self.read_body()
        with self.state.lock:
            for other in self.state.records.values():
                if other["parent"] == rec["parent"] and not other["published"]:
                    return self.rdm_answer(201, self.rdm_view(other))
            latest = max(
                r["version"] for r in self.state.records.values() if r["parent"] == rec["parent"]
            )
            draft = self.rdm_new(rec["parent"], latest + 1)
            draft["metadata"] = {k: v for k, v in rec["metadata"].items() if k != "version"}
            draft["access"] = dict(rec["access"])
        self.rdm_answer(201, self.rdm_view(draft))

    # -- the read side ----------------------------------------------------------------------------
    def rdm_get_record(self, rec: dict[str, Any]) -> None:
        if not rec["published"]:
            return self.error(404, "The persistent identifier is not registered.")
        self.rdm_answer(200, self.rdm_view(rec))

    def rdm_record_files(self, rec: dict[str, Any]) -> None:
        if not rec["published"]:
            return self.error(404, "The persistent identifier is not registered.")
        self.rdm_answer(200, self.rdm_files_view(rec, completed_only=True))

    def rdm_download(self, rec: dict[str, Any], entry: dict[str, Any]) -> None:
        if entry["status"] != "completed":
            return self.error(404, "File not found.")
        data = self.rdm_path(rec, entry["key"]).read_bytes()
        truncate = self._fault is not None and self._fault["action"] == "truncate"
        self.record_status(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.drop()
            return
        self.wfile.write(data)

    def rdm_search(self, query: str) -> None:
        params = parse_qs(query)
        q = (params.get("q") or [""])[0]
        size = int((params.get("size") or ["10"])[0])
        with self.state.lock:
            found = [r for r in self.state.records.values() if matches(r, q)]
            found.sort(key=lambda r: r["created"], reverse=True)
            hits = [self.rdm_view(r) for r in found[:size]]
        self.send_json(200, {"hits": {"hits": hits, "total": len(found)}, "links": {}})

    # -- files ------------------------------------------------------------------------------------
    def rdm_list_files(self, rec: dict[str, Any]) -> None:
        self.rdm_answer(200, self.rdm_files_view(rec, completed_only=False))

    def rdm_register(self, rec: dict[str, Any]) -> None:
        body = self.read_json()
        if not isinstance(body, list) or not all(
            isinstance(i, dict) and i.get("key") for i in body
        ):
            return self.validation([("_schema", "Invalid input type.")])
        keys = [str(i["key"]) for i in body]
        existing = [k for k in keys if k in rec["files"]]
        if existing:
            return self.error(400, f"File with key {existing[0]} already exists.")
        with self.state.lock:
            for key in keys:
                rec["files"][key] = {
                    "key": key, "status": "pending", "size": None, "md5": None,
                    "file_id": None, "created": _now(), "updated": _now(), "content": False,
                }  # fmt: skip
        entries = [self.rdm_file_view(rec, rec["files"][k]) for k in keys]
        self.rdm_answer(201, {"entries": entries, "enabled": True})

    def rdm_content(self, rec: dict[str, Any], entry: dict[str, Any]) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Content-Type") not in (None, "application/octet-stream"):
            self.rfile.read(length)
            return self.error(
                415, "Invalid 'Content-Type' header. Expected one of: application/octet-stream"
            )
        if "Content-Length" not in self.headers:
            return self.error(400, "File is smaller than expected.")
        if length == 0:
            return self.error(400, "Empty files are not accepted.")
        with self.state.lock:  # a new transfer replaces what an earlier one left
            entry.update(content=False, status="pending", md5=None, size=None)
        folder = Path(self.state.data_dir) / rec["id"]
        got = self.receive_file(folder, entry["key"], length, self._fault)
        if got is None:
            return
        digest, received = got
        with self.state.lock:
            entry.update(content=True, md5=digest, size=received, updated=_now())
        self.rdm_answer(200, self.rdm_file_view(rec, entry))

    def rdm_commit(self, rec: dict[str, Any], entry: dict[str, Any]) -> None:
        self.read_body()
        if not entry["content"]:
            return self.error(400, f"File {entry['key']} has no complete content; upload it first.")
        with self.state.lock:
            entry.update(
                status="completed", file_id=entry["file_id"] or rdm_id(self.state.new_id())
            )
        self.rdm_answer(200, self.rdm_file_view(rec, entry))


def required_errors(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """What InvenioRDM reports for a draft that lacks required fields."""
    md = rec["metadata"]
    problems: list[tuple[str, str]] = []
    if not (md.get("resource_type") or {}).get("id"):
        problems.append(("metadata.resource_type", MISSING))
    title = md.get("title")
    if not title:
        problems.append(("metadata.title", MISSING))
    elif len(title) < 3:
        problems.append(("metadata.title", "Shorter than minimum length 3."))
    creators = md.get("creators")
    if not creators:
        problems.append(("metadata.creators", MISSING))
    for i, creator in enumerate(creators or []):
        person = creator.get("person_or_org") or {}
        if person.get("type") == "organizational":
            if not person.get("name"):
                problems.append(
                    (f"metadata.creators.{i}.person_or_org.name", "Name cannot be blank.")
                )
        elif not person.get("family_name"):
            problems.append(
                (f"metadata.creators.{i}.person_or_org.family_name", "Family name cannot be blank.")
            )
    if not md.get("publication_date"):
        problems.append(("metadata.publication_date", MISSING))
    return problems


def vocabulary_errors(rec: dict[str, Any]) -> list[tuple[str, str]]:
    md = rec["metadata"]
    problems: list[tuple[str, str]] = []
    rtype = (md.get("resource_type") or {}).get("id")
    if rtype and rtype not in RESOURCE_TYPES:
        problems.append(("metadata.resource_type.id", f"Invalid value {rtype}."))
    for i, right in enumerate(md.get("rights") or []):
        if right.get("id") not in LICENSES:
            problems.append((f"metadata.rights.{i}.id", f"Invalid license {right.get('id')}."))
    relations = {r.lower() for r in RELATIONS}
    for i, rel in enumerate(md.get("related_identifiers") or []):
        if (rel.get("relation_type") or {}).get("id") not in relations:
            problems.append((f"metadata.related_identifiers.{i}.relation_type", "Invalid value."))
        if rel.get("scheme") not in ("doi", "arxiv", "url"):
            problems.append((f"metadata.related_identifiers.{i}.scheme", "Invalid scheme."))
    for i, subject in enumerate(md.get("subjects") or []):
        if not subject.get("subject"):
            problems.append((f"metadata.subjects.{i}.subject", MISSING))
    return problems


def matches(rec: dict[str, Any], query: str) -> bool:
    """A small subset of the search syntax: ``field:"phrase"``, ``field:value`` and bare words (title)."""
    for field, phrase, word in re.findall(r'(?:([\w.]+):)?(?:"([^"]*)"|(\S+))', query):
        value = phrase or word
        if field == "metadata.title" or not field:
            if value not in str(rec["metadata"].get("title") or ""):
                return False
        elif field == "parent.id":
            if rec["parent"] != value:
                return False
        elif field == "is_published":
            if str(rec["published"]).lower() != value.lower():
                return False
        else:
            return False
    return True


def _grouped(errors: list[tuple[str, str]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[str]] = {}
    for field, message in errors:
        grouped.setdefault(field, []).append(message)
    return [{"field": f, "messages": ms} for f, ms in grouped.items()]
