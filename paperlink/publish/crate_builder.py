"""The parts every entity of the RO-Crate is made with: the crate's terms, licences and media types, and
:class:`CrateBuilder`, which creates each entity once per id."""

from __future__ import annotations

import mimetypes
import re
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from paperlink.core.publicurl import url_problem
from paperlink.publish.readme import ArchiveFile

RO_CRATE_VERSION = "1.1"
PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
WFRUN = "https://w3id.org/ro/terms/workflow-run#"
# Terms the crate uses beyond the RO-Crate 1.1 context (https://w3id.org/ro/terms/workflow-run).
EXTRA_TERMS = {
    "sha256": f"{WFRUN}sha256",
    "containerImage": f"{WFRUN}containerImage",
    "ContainerImage": f"{WFRUN}ContainerImage",
    "registry": f"{WFRUN}registry",
    "tag": f"{WFRUN}tag",
}
SCHEMA = "http://schema.org/"
# SPDX identifiers are case-sensitive; Zenodo and CITATION.cff readers often lower-case them.
_SPDX = {
    spdx.lower(): spdx
    for spdx in (  # noqa: SIM905 - one string keeps the list readable
        "0BSD AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-2.0 Artistic-2.0 BSD-2-Clause "
        "BSD-3-Clause BSD-3-Clause-Clear BSL-1.0 CC-BY-1.0 CC-BY-2.0 CC-BY-2.5 CC-BY-3.0 "
        "CC-BY-4.0 CC-BY-NC-4.0 CC-BY-NC-ND-4.0 CC-BY-NC-SA-4.0 CC-BY-ND-4.0 CC-BY-SA-3.0 "
        "CC-BY-SA-4.0 CC0-1.0 CECILL-2.1 ECL-2.0 EPL-1.0 EPL-2.0 EUPL-1.1 EUPL-1.2 GPL-2.0-only "
        "GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later ISC LGPL-2.1-only LGPL-2.1-or-later "
        "LGPL-3.0-only LGPL-3.0-or-later LPPL-1.3c MIT MIT-0 MPL-2.0 MS-PL ODbL-1.0 ODC-By-1.0 "
        "OFL-1.1 PDDL-1.0 PostgreSQL Unlicense UPL-1.0 Zlib "
    ).split()
}
# Zenodo's licence ids that are not SPDX ones.
_ZENODO_LICENSES = {
    "gpl-3.0": "GPL-3.0-only",
    "gpl-2.0": "GPL-2.0-only",
    "lgpl-3.0": "LGPL-3.0-only",
}


class CrateFile(ArchiveFile, Protocol):
    """What the crate needs of an archived file besides what the README does (``bundle_files.BundleFile`` has
    it)."""

    @property
    def size(self) -> int: ...
    @property
    def commit(self) -> str | None: ...


ROLE_TEXT = {
    "output": "output of a recorded run",
    "record": "paperlink run record (JSON)",
    "code": "source code at the recorded commit (git archive)",
    "diff": "uncommitted changes the run used (git diff against the commit)",
    "image": "container image archive (docker save, or the Apptainer SIF file)",
    "readme": "how to re-run the computations",
    "pdf": "the paper",
    "site": "provenance site: the records as web pages, open provenance-site/index.html",
    "checksums": "sha256 of every file of the archive, for sha256sum -c",
    "environment": "re-creates the environment of a recorded run (paperlink env)",
    "environment-json": "the environment of a recorded run: packages by manager and lock files, "
    "without local paths (JSON; its portable_digest is the sha256 of its canonical environment member)",
}
_MEDIA_TYPES = {
    ".tar.gz": "application/gzip",
    ".tgz": "application/gzip",
    ".diff": "text/x-diff",
    ".patch": "text/x-diff",
    ".md": "text/markdown",
    ".json": "application/json",
    ".csv": "text/csv",
    ".svg": "image/svg+xml",
}


def media_type(name: str) -> str:
    """The IANA media type of a file name, ``application/octet-stream`` when unknown."""
    lowered = name.lower()
    for suffix, kind in _MEDIA_TYPES.items():
        if lowered.endswith(suffix):
            return kind
    if name == "SHA256SUMS":
        return "text/plain"
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def spdx_id(license_id: str) -> str:
    """``mit`` → ``MIT``, ``cc-by-4.0`` → ``CC-BY-4.0``: the SPDX spelling of a licence id."""
    key = license_id.strip().lower()
    return _ZENODO_LICENSES.get(key) or _SPDX.get(key) or license_id.strip()


def crate_time(timestamp: str) -> str:
    """A record's UTC time (``…T05:06:07.123456Z``) as Process Run Crate writes it
    (``…T05:06:07.123+00:00``)."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z", timestamp)
    if not match:
        return timestamp
    return f"{match.group(1)}.{(match.group(2) or '').ljust(3, '0')[:3]}+00:00"


def public_repository(remote: str | None) -> str | None:
    """A git remote as a public https URL without credentials, or None (ssh remotes, local paths)."""
    if not remote or url_problem(remote):
        return None
    parts = urlsplit(remote)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def fragment(text: str) -> str:
    """``text`` (a label) as part of a ``#…`` identifier: percent-encoded, so it stays one IRI."""
    return quote(text, safe="-._~")


class CrateBuilder:
    """Builds one crate; entities are created once per id and referenced by object."""

    def __init__(self, organizations: dict[str, str]) -> None:
        self.crate = ROCrate(version=RO_CRATE_VERSION)
        self.crate.metadata.extra_terms = dict(EXTRA_TERMS)
        self.organizations = organizations

    def organization(self, name: str, fallback_id: str, **properties: Any) -> ContextEntity:
        """An organisation, named by its address when ``[publish] organizations`` gives one."""
        url = self.organizations.get(name)
        return self.entity(url or fallback_id, "Organization", name=name, url=url, **properties)

    def entity(self, ident: str, kind: str | list[str], **properties: Any) -> ContextEntity:
        found = self.crate.get(ident)
        if isinstance(found, ContextEntity):
            return found
        item = ContextEntity(self.crate, ident, properties={"@type": kind})
        for key, value in properties.items():
            if value not in (None, "", []):
                item[key] = value
        self.crate.add(item)
        return item

    def generate(self) -> dict[str, Any]:
        document: dict[str, Any] = self.crate.metadata.generate()
        for node in document["@graph"]:
            for key, value in list(node.items()):
                # RO-Crate 1.1 asks for single values rather than singleton arrays.
                if isinstance(value, list) and len(value) == 1:
                    node[key] = value[0]
        return document


def one(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items
