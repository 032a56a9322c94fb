"""The files of one published archive, as a reviewer sees them: listed by the server, fetched on demand.

Every name the server lists passes :func:`paperlink.core.safenames.safe_member_name` before anything is
downloaded, and each download is stored under its index in a private temporary folder, never under the
server's name. The archive's RO-Crate (``ro-crate-metadata.json``, written by ``paperlink publish``) says
which file holds which run's output, code, diff, image and the paper, so names that publish had to
de-duplicate (``x__y.bin`` and ``x/y.bin`` → ``x__y-2.bin``) are found as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from paperlink.core.model import model
from paperlink.core.records import Record, check_label
from paperlink.core.safenames import safe_member_name
from paperlink.errors import UnsafeArchive, UsageError
from paperlink.publish.bundle_files import flat, flat_name
from paperlink.publish.published import download

CRATE = "ro-crate-metadata.json"
_HEX = re.compile(r"^[0-9a-f]{32,64}$")


@model
class CrateIndex:
    """What the RO-Crate says about each file: per run label its outputs (by recorded path), records,
    code, diffs and image, and which files are the paper."""

    outputs: dict[tuple[str, str], str] = field(default_factory=dict)
    roles: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # label -> role -> names
    papers: list[str] = field(default_factory=list)


class PublishedArchive:
    """The files of record ``record_id`` on ``client``'s server; ``work`` is a private temporary folder.

    Raises :class:`UnsafeArchive` at once when a listed name is not a plain file name.
    """

    def __init__(self, client: Any, record_id: str, published: dict[str, Any], work: Path) -> None:
        self.client = client
        self.record_id = record_id
        self.where = f"record {record_id} on {client.base_url}"
        self.work = work
        self.files: dict[str, str | None] = {}  # name -> md5 the server lists
        for entry in published.get("files") or []:
            if not isinstance(entry, dict):
                continue
            name = entry.get("key") or entry.get("filename")
            if name is None:
                continue
            checked = safe_member_name(name, where=self.where)
            checksum = str(entry.get("checksum") or "")
            md5 = checksum.removeprefix("md5:").lower() or None
            self.files[checked] = md5
        self._fetched: dict[str, Path] = {}
        self.crate = CrateIndex()

    def fetch(self, name: str) -> Path:
        """Download ``name`` (once; its md5 checked against the listing) and return where it is."""
        if name not in self.files:
            raise UsageError(f"{self.where} has no file {name!r}")
        if name not in self._fetched:
            target = self.work / f"file-{len(self._fetched) + 1}"
            download(self.client, self.record_id, name, target, md5=self.files[name])
            self._fetched[name] = target
        return self._fetched[name]

    def records(self) -> list[tuple[str, Record]]:
        """The run records (``*.record.json``) the archive holds, each parsed and checked."""
        found = []
        for name in sorted(n for n in self.files if n.endswith(".record.json")):
            found.append((name, parse_record(self.fetch(name), f"{name} of {self.where}")))
        return found

    def read_crate(self) -> None:
        """Read the RO-Crate, when the archive has one; a crate that does not parse is left unused (the
        flat names publish gives are tried instead), as an archive without one."""
        if CRATE not in self.files:
            return
        try:
            data = json.loads(self.fetch(CRATE).read_text(encoding="utf-8"))
            graph = [e for e in data["@graph"] if isinstance(e, dict)]
        except (ValueError, KeyError, TypeError):
            return
        self.crate = crate_index(graph, set(self.files))

    def output_name(self, label: str, path: str) -> str:
        """The archive's file for output ``path`` of run ``label``: the crate's, else publish's flat name."""
        return self.crate.outputs.get((label, path)) or flat_name(label, path)

    def role_names(self, label: str, role: str) -> list[str]:
        return list(self.crate.roles.get(label, {}).get(role, []))

    def code_name(self, record: Record) -> str | None:
        named = [n for n in self.role_names(record.label, "code") if n in self.files]
        fallback = f"code-{(record.code.commit or '')[:12]}.tar.gz"
        return named[0] if named else (fallback if fallback in self.files else None)

    def diff_name(self, record: Record) -> str | None:
        named = [n for n in self.role_names(record.label, "diff") if n in self.files]
        fallback = f"{flat(record.label)}.code.diff"
        return named[0] if named else (fallback if fallback in self.files else None)

    def image_name(self, record: Record) -> str | None:
        named = [n for n in self.role_names(record.label, "image") if n in self.files]
        return named[0] if named else None

    def paper_names(self, records: list[Record]) -> list[str]:
        """The paper's PDF(s): as the crate says, else every ``.pdf`` that is no run's output."""
        if self.crate.papers:
            return [n for n in self.crate.papers if n in self.files]
        outputs = {self.output_name(r.label, o.path) for r in records for o in r.outputs}
        return sorted(n for n in self.files if n.lower().endswith(".pdf") and n not in outputs)


def crate_index(graph: list[dict[str, Any]], names: set[str]) -> CrateIndex:
    """Read the File entities and CreateActions of a crate ``build_crate`` wrote (names it lists but the
    archive does not hold are dropped)."""
    index = CrateIndex()
    entities = {str(e.get("@id")): e for e in graph}
    for entity in graph:
        if entity.get("description") == "the paper" and entity.get("@id") in names:
            index.papers.append(str(entity["@id"]))
    for action in graph:
        ident = str(action.get("@id") or "")
        if action.get("@type") != "CreateAction" or not ident.startswith("#run-"):
            continue
        label = ident.removeprefix("#run-")
        roles = index.roles.setdefault(label, {})
        for ref in _ids(action.get("result")):
            source = entities.get(ref, {}).get("alternateName")
            if ref in names and isinstance(source, str):
                index.outputs[(label, source)] = ref
                roles.setdefault("output", []).append(ref)
        # The code is the instrument's encoding (a SoftwareSourceCode entity: the source archive and
        # the diff); crates from before that named the files as the instrument itself.
        for tool in _ids(action.get("instrument")):
            for ref in [tool, *_ids(entities.get(tool, {}).get("encoding"))]:
                if ref in names:
                    role = "diff" if ref.endswith(".code.diff") else "code"
                    roles.setdefault(role, []).append(ref)
        image = entities.get(next(iter(_ids(action.get("containerImage"))), ""), {})
        for ref in _ids(image.get("distribution")):
            if ref in names:
                roles.setdefault("image", []).append(ref)
    return index


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(i["@id"]) for i in items if isinstance(i, dict) and isinstance(i.get("@id"), str)]


def parse_record(path: Path, what: str) -> Record:
    """A run record from an archive, with the fields paperlink acts on checked for their types (on the
    JSON itself: the dataclass conversion would turn a string into a list of characters); raises
    :class:`UnsafeArchive` for anything else (a hostile or broken archive, not a bug of ours)."""
    record: Record | None = None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        problem = _record_problem(data)
        if problem is None:
            record = Record.from_dict(data)
            check_label(record.label)
    except (ValueError, TypeError, AttributeError, KeyError, UsageError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if problem is not None or record is None:
        raise UnsafeArchive(
            f"{what} is not a paperlink run record ({problem})",
            hint="the archive was not made by 'paperlink publish', or it was tampered with",
        )
    return record


def _record_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"it is a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("label"), str):
        return "it has no label"
    argv = data.get("argv", [])
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return "argv is not a list of strings"
    if not isinstance(data.get("working_directory", ""), str):
        return "working_directory is not a string"
    code = data.get("code") or {}
    if not isinstance(code, dict):
        return "code is not an object"
    commit = code.get("commit")
    if commit is not None and not (
        isinstance(commit, str) and re.fullmatch(r"[0-9a-f]{7,64}", commit)
    ):
        return "code.commit is not a commit id"
    for kind in ("input", "output"):
        items = data.get(f"{kind}s", [])
        if not isinstance(items, list):
            return f"{kind}s is not a list"
        for item in items:
            if not isinstance(item, dict):
                return f"an {kind} is not an object"
            if not isinstance(item.get("path"), str):
                return f"an {kind} has no path"
            for key in ("sha256", "md5"):
                digest = item.get(key)
                if digest is not None and not (isinstance(digest, str) and _HEX.match(digest)):
                    return f"{kind} {item['path']!r} has a malformed digest"
            size = item.get("size")
            if not isinstance(item.get("kind", "file"), str) or not (
                size is None or (isinstance(size, int) and not isinstance(size, bool))
            ):
                return f"{kind} {item['path']!r} has a malformed kind or size"
    return None
