"""``ro-crate-metadata.json``: which run produced which file, from which code, inputs and image.

An RO-Crate 1.1 (https://w3id.org/ro/crate/1.1) that conforms to the Process Run Crate 0.5 profile
(https://w3id.org/ro/wfrun/process/0.5), written with ro-crate-py (PyPI ``rocrate``) so that the JSON-LD is
the library's, and checked in the tests by the official validator (``roc-validator``) at REQUIRED and
RECOMMENDED level for both profiles. Every archived file is a ``File`` data entity with its size, sha256
and media type; every run is a ``CreateAction`` whose ``instrument`` is the code that ran (a
``SoftwareSourceCode`` at the recorded commit, with the uncommitted changes when there were any, encoded by
the commit's source archive and the diff), whose ``object`` are its inputs (the archived file when another
run made it, else a contextual entity named by path and digest) and whose ``result`` are its output files;
its ``agent`` are the authors; the container image it ran in is a ``ContainerImage`` (registry, name, tag,
sha256) whose ``distribution`` is the image archive when there is one. Terms the RO-Crate 1.1 context lacks
(``sha256``, ``containerImage`` …) are added to the crate's context from the Workflow Run vocabulary.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from paperlink.core.config import Project
from paperlink.core.envpackages import MANAGER_TITLES, Environment
from paperlink.core.publicurl import url_problem
from paperlink.core.records import Record
from paperlink.errors import ConfigError
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
ZENODO_HOSTS = ("zenodo.org", "sandbox.zenodo.org")
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
    """What the crate needs of an archived file besides what the README does (``bundle.BundleFile`` has
    it)."""

    @property
    def size(self) -> int: ...
    @property
    def commit(self) -> str | None: ...


_ROLE_TEXT = {
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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _fragment(text: str) -> str:
    """``text`` (a label) as part of a ``#…`` identifier: percent-encoded, so it stays one IRI."""
    return quote(text, safe="-._~")


def organization_urls(project: Project) -> dict[str, str]:
    """``[publish] organizations`` of ``paperlink.toml``: the web address of each organisation an author
    belongs to or is, by name (CITATION.cff gives affiliations as names only), e.g.
    ``organizations = {"Sorbonne Université" = "https://ror.org/02en5vm52"}``.

    Raises :class:`ConfigError` for a table that is not names to public addresses."""
    table = project.settings.get("publish", {})
    found = table.get("organizations", {}) if isinstance(table, dict) else {}
    where = f"{project.config_path}: [publish] organizations"
    if not isinstance(found, dict):
        raise ConfigError(
            f"{where} must be a table of names and URLs",
            hint='write e.g. organizations = {"Sorbonne Université" = "https://ror.org/02en5vm52"}',
        )
    urls = {}
    for name, url in found.items():
        problem = url_problem(url) if isinstance(url, str) else "it is not a string"
        if problem:
            raise ConfigError(
                f"{where}: {name!r} = {url!r} is no public web address: {problem}",
                hint="give the organisation's https:// address (its ROR id or its website)",
            )
        urls[str(name)] = str(url)
    return urls


class _Crate:
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


def _one(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items


def build_crate(
    *,
    files: Sequence[CrateFile],
    records: Sequence[Record],
    metadata: dict[str, Any],
    publisher: str | None = None,
    organizations: dict[str, str] | None = None,
    environments: Mapping[str, Environment] | None = None,
) -> dict[str, Any]:
    """The crate as a JSON-LD document (serialise with sorted keys for a stable digest).

    ``environments`` are the records' environments by digest: each run's is an ``instrument`` beside
    its code, a ``SoftwareApplication`` made of one per manager, whose ``softwareRequirements`` are the
    packages (``SoftwareApplication`` with ``softwareVersion`` and a package URL as ``identifier``).

    ``publisher`` is the API base of the archive server (None for a folder: the crate then names the
    authors' organisation, as a self-published archive); ``organizations`` gives the web address of
    organisations by name (:func:`organization_urls`)."""
    builder = _Crate(organizations or {})
    crate = builder.crate
    root = crate.root_dataset
    authors = _authors(builder, metadata)
    root["name"] = str(metadata.get("title") or "")
    root["description"] = _plain(str(metadata.get("description") or root["name"]))
    root["datePublished"] = str(metadata.get("publication_date") or "")
    if metadata.get("version"):
        root["version"] = str(metadata["version"])
    if metadata.get("keywords"):
        root["keywords"] = ", ".join(str(k) for k in metadata["keywords"])
    if authors:
        root["author"] = _one(authors)
    spdx = spdx_id(str(metadata.get("license") or "CC-BY-4.0"))
    root["license"] = builder.entity(
        f"https://spdx.org/licenses/{spdx}", "CreativeWork", name=spdx, identifier=spdx
    )
    organisation = _publisher(builder, publisher, authors)
    if organisation is not None:
        root["publisher"] = organisation
    root["conformsTo"] = builder.entity(
        PROCESS_RUN_CRATE, "CreativeWork", name="Process Run Crate", version="0.5"
    )
    entities = {}
    for f in files:
        properties: dict[str, Any] = {
            "name": f.name,
            "contentSize": str(f.size),
            "sha256": f.sha256,
            "encodingFormat": media_type(f.name),
            "description": _ROLE_TEXT.get(f.role, f.role),
        }
        if f.source:
            properties["alternateName"] = f.source
        entities[f.name] = crate.add_file(dest_path=f.name, properties=properties)
    actions = [
        _action(builder, record, files, entities, authors, environments or {})
        for record in sorted(records, key=lambda r: (r.start_time, r.label))
    ]
    if actions:
        root["mentions"] = _one(actions)
    return builder.generate()


def _plain(text: str) -> str:
    """Zenodo's HTML description as text."""
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def _authors(builder: _Crate, metadata: dict[str, Any]) -> list[ContextEntity]:
    """Persons (``Family, Given``, with their ORCID iD and affiliation) and organisations."""
    found = []
    for n, creator in enumerate(metadata.get("creators") or []):
        name = str(creator.get("name") or "")
        if not name:
            continue
        person = "," in name
        if creator.get("orcid"):
            ident = f"https://orcid.org/{creator['orcid']}"
        else:
            ident = f"#{'person' if person else 'organization'}-{n}-{_slug(name)}"
        affiliation = None
        if creator.get("affiliation"):
            text = str(creator["affiliation"])
            affiliation = builder.organization(text, f"#organization-{_slug(text)}")
        if person:
            family, _, given = name.partition(",")
            entity = builder.entity(
                ident,
                "Person",
                name=f"{given.strip()} {family.strip()}".strip(),
                familyName=family.strip(),
                givenName=given.strip(),
                affiliation=affiliation,
            )
        else:
            entity = builder.organization(name, ident, parentOrganization=affiliation)
        found.append(entity)
    return found


def _publisher(
    builder: _Crate, server: str | None, authors: list[ContextEntity]
) -> ContextEntity | None:
    if server:
        host = urlsplit(server).hostname or server
        if host in ZENODO_HOSTS:
            return builder.entity(
                f"https://{host}/", "Organization", name="Zenodo", url=f"https://{host}/"
            )
        return builder.entity(f"https://{host}/", "Organization", name=host, url=f"https://{host}/")
    for author in authors:
        if author.type == "Organization":
            return author
    for author in authors:
        affiliation = author.get("affiliation")
        if isinstance(affiliation, ContextEntity):
            return affiliation
    return None


def _action(
    builder: _Crate,
    record: Record,
    files: Sequence[CrateFile],
    entities: dict[str, Any],
    authors: list[ContextEntity],
    environments: Mapping[str, Environment],
) -> ContextEntity:
    mine = [f for f in files if record.label in f.labels]
    code = _code(builder, record, mine, entities)
    environment = environments.get(record.environment_digest or "")
    tools = [code]
    if environment is not None and environment.count():
        tools.append(_environment(builder, record, environment, mine, entities))
    outputs = [entities[f.name] for f in mine if f.role == "output"]
    description = f"'{record.command}' in {record.working_directory or '.'}"
    if record.reason:
        description += f", because: {record.reason}"
    action = builder.entity(
        f"#run-{_fragment(record.label)}",
        "CreateAction",
        name=f"paperlink run {record.label}",
        description=f"Run {record.label} of {record.project}: {description}",
        identifier=record.run_id,
        startTime=crate_time(record.start_time),
        endTime=crate_time(record.end_time or record.start_time),
        # The IRI as a string, as Process Run Crate writes it (the 1.1 context gives it no @id type).
        actionStatus=f"{SCHEMA}CompletedActionStatus"
        if record.outcome.status == "finished"
        else f"{SCHEMA}FailedActionStatus",
        agent=_one(authors) if authors else None,
        instrument=_one(tools),
        result=_one(outputs) if outputs else None,
        subjectOf=_one([entities[f.name] for f in mine if f.role == "record"]) or None,
    )
    inputs = _inputs(builder, record, files, entities)
    if inputs:
        action["object"] = _one(inputs)
    image = _image(builder, record, mine, entities)
    if image is not None:
        action["containerImage"] = image
    return action


def _code(
    builder: _Crate, record: Record, mine: list[CrateFile], entities: dict[str, Any]
) -> ContextEntity:
    """The program that ran: the project's code at the recorded commit (and uncommitted changes).

    With a public repository the code is named by it (``REPOSITORY#COMMIT``, a distinct IRI per version
    that opens the repository), else by a local identifier: the archive then holds the only copy."""
    code = record.code
    program = code.main_script.path if code.main_script else (record.argv or ["?"])[0]
    archive = [entities[f.name] for f in mine if f.role == "code"]
    diff = [entities[f.name] for f in mine if f.role == "diff"]
    repository = public_repository(code.remote)
    if code.commit:
        dirty = f"+dirty.{code.diff_sha256[:12]}" if code.diff_sha256 else ""
        version = code.commit + dirty
        local = f"#code-{code.commit[:12]}" + (
            f"-{code.diff_sha256[:12]}" if code.diff_sha256 else ""
        )
        ident = f"{repository}#{version}" if repository else local
        what = f"{record.project} at commit {code.commit[:12]}"
        if dirty:
            what += " with uncommitted changes (apply the diff to the commit's source archive)"
    else:
        version = record.executable.version or "unknown"
        ident = f"#program-{_fragment(record.label)}"
        repository = None
        what = f"{program} (not under version control; not archived)"
    return builder.entity(
        ident,
        "SoftwareSourceCode",
        name=what,
        version=version,
        description=f"the code of {record.project}; the run started {program}",
        codeRepository=repository,
        url=repository,
        encoding=_one(archive + diff) if archive or diff else None,
    )


# Package URL types (https://github.com/package-url/purl-spec) by manager.
_PURL_TYPES = {"conda": "conda", "dpkg": "deb", "pip": "pypi", "r": "cran", "julia": "julia"}


def _environment(
    builder: _Crate,
    record: Record,
    environment: Environment,
    mine: list[CrateFile],
    entities: dict[str, Any],
) -> ContextEntity:
    """The software environment a run used: a ``SoftwareApplication`` made of one ``Collection`` per
    manager, whose parts are the packages (``SoftwareApplication`` with ``softwareVersion``)."""
    digest = str(record.environment_digest)
    hexdigest = digest.removeprefix("sha256:")
    groups = []
    for manager in environment.managers():
        title = MANAGER_TITLES.get(manager, manager)
        packages = [
            builder.entity(
                page,
                "SoftwareApplication",
                name=p.name,
                url=page,
                softwareVersion=p.version + (f"={p.build}" if p.build else ""),
                identifier=_purl(manager, p.name, p.version, p.build, p.architecture),
            )
            for p in environment.packages[manager]
            for page in [_package_page(manager, p.name, p.version, p.build, p.architecture, p.url)]
        ]
        what = (
            f"conda environment '{environment.conda_name}'"
            if manager == "conda" and environment.conda_name
            else title
        )
        groups.append(
            builder.entity(
                f"#environment-{hexdigest[:12]}-{manager}",
                "Collection",
                name=f"{what}: {len(packages)} packages",
                hasPart=packages,
            )
        )
    recipes = [entities[f.name] for f in mine if f.role == "environment"]
    # As for the code: an address under the public repository when there is one (RO-Crate asks
    # software for an absolute URI), else a local identifier.
    repository = public_repository(record.code.remote)
    local = f"#environment-{hexdigest[:12]}"
    return builder.entity(
        f"{repository}{local}" if repository else local,
        "SoftwareApplication",
        name=f"software environment {digest}",
        description="the packages of the run's environment, by manager (paperlink env re-creates it)",
        softwareVersion=digest,
        identifier=digest,
        url=repository,
        hasPart=groups,
        subjectOf=_one(recipes) if recipes else None,
    )


def _package_page(
    manager: str,
    name: str,
    version: str,
    build: str | None,
    architecture: str | None,
    url: str | None,
) -> str:
    """An http address for a package version (RO-Crate asks software for one): where conda fetched it,
    else the index's page of the package with the version as fragment."""
    if url and url.startswith(("https://", "http://")):
        return url
    n, v = quote(name, safe=""), quote(version, safe="")
    if manager == "pip":
        return f"https://pypi.org/project/{n}/{v}/"
    if manager == "dpkg":
        return f"https://snapshot.debian.org/binary/{n}/#{v}" + (
            f"_{quote(architecture, safe='')}" if architecture else ""
        )
    if manager == "r":
        return f"https://cran.r-project.org/package={n}#{v}"
    if manager == "julia":
        return f"https://juliahub.com/ui/Packages/General/{n}#{v}"
    return f"https://anaconda.org/search?q={n}#{v}" + (f"={quote(build, safe='')}" if build else "")


def _purl(
    manager: str, name: str, version: str, build: str | None, architecture: str | None
) -> str:
    """The package URL (https://github.com/package-url/purl-spec) of a package."""
    kind = _PURL_TYPES.get(manager, manager)
    namespace = "debian/" if kind == "deb" else ""
    text = f"pkg:{kind}/{namespace}{quote(name, safe='')}@{quote(version, safe='')}"
    qualifiers = [f"arch={quote(architecture, safe='')}"] if architecture else []
    qualifiers += [f"build={quote(build, safe='')}"] if build else []
    return text + ("?" + "&".join(qualifiers) if qualifiers else "")


def _inputs(
    builder: _Crate, record: Record, files: Sequence[CrateFile], entities: dict[str, Any]
) -> list[Any]:
    """Each input: the archived output of another run when it is one, else a description by digest."""
    archived = {(f.source, f.sha256): entities[f.name] for f in files if f.role == "output"}
    found = []
    for n, item in enumerate(record.inputs):
        hit = archived.get((item.path, item.sha256 or ""))
        if hit is not None:
            found.append(hit)
            continue
        found.append(
            builder.entity(
                f"#input-{_fragment(record.label)}-{n}",
                "CreativeWork",
                name=_portable_path(item.path),
                contentSize=str(item.size) if item.size is not None else None,
                sha256=item.sha256,
                description="input of the run (not archived; identified by its digest)",
            )
        )
    return found


def _portable_path(path: str) -> str:
    """A path as the archive may show it: project paths as they are, others by their file name."""
    return path.rsplit("/", 1)[-1] if path.startswith("/") else path


def _image(
    builder: _Crate, record: Record, mine: list[CrateFile], entities: dict[str, Any]
) -> ContextEntity | None:
    container = record.container
    if container is None or not (container.image_id or container.reference):
        return None
    registry, name, tag = split_reference(
        container.pinned_reference or container.reference or "", container.reference or ""
    )
    archive = [entities[f.name] for f in mine if f.role == "image"]
    if container.sif is not None:  # an Apptainer image: the SIF file is the image and its archive
        return builder.entity(
            f"#image-sha256:{container.sif.sha256}",
            "ContainerImage",
            additionalType={"@id": f"{WFRUN}SIFImage"},
            name=container.sif.path.rsplit("/", 1)[-1],
            sha256=container.sif.sha256,
            distribution=archive[0] if archive else None,
        )
    return builder.entity(
        f"#image-{quote(container.image_id or container.reference or '', safe=':/@-._~')}",
        "ContainerImage",
        additionalType={"@id": f"{WFRUN}DockerImage"},
        name=name or container.image_id,
        registry=registry,
        tag=tag,
        sha256=(container.image_id or "").removeprefix("sha256:") or None,
        distribution=archive[0] if archive else None,
    )


def split_reference(pinned: str, reference: str) -> tuple[str, str, str | None]:
    """``registry``, repository ``name`` and ``tag`` of an image reference (Docker's defaults:
    ``docker.io``, ``library/NAME``)."""
    text = (reference or pinned).split("@", 1)[0]
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    if not text:
        return "docker.io", "", tag
    return "docker.io", text if slash else f"library/{text}", tag
