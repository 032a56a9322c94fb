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

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from rocrate.model.contextentity import ContextEntity

from paperlink.core.config import Project
from paperlink.core.envpackages import Environment
from paperlink.core.publicurl import url_problem
from paperlink.core.records import Record
from paperlink.errors import ConfigError
from paperlink.publish.crate_builder import (
    PROCESS_RUN_CRATE,
    ROLE_TEXT,
    SCHEMA,
    CrateBuilder,
    CrateFile,
    crate_time,
    fragment,
    media_type,
    one,
    public_repository,
    slug,
    spdx_id,
)
from paperlink.publish.crate_software import environment_entity, image_entity

ZENODO_HOSTS = ("zenodo.org", "sandbox.zenodo.org")


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
    builder = CrateBuilder(organizations or {})
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
        root["author"] = one(authors)
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
            "description": ROLE_TEXT.get(f.role, f.role),
        }
        if f.source:
            properties["alternateName"] = f.source
        entities[f.name] = crate.add_file(dest_path=f.name, properties=properties)
    actions = [
        _action(builder, record, files, entities, authors, environments or {})
        for record in sorted(records, key=lambda r: (r.start_time, r.label))
    ]
    if actions:
        root["mentions"] = one(actions)
    return builder.generate()


def _plain(text: str) -> str:
    """Zenodo's HTML description as text."""
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def _authors(builder: CrateBuilder, metadata: dict[str, Any]) -> list[ContextEntity]:
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
            ident = f"#{'person' if person else 'organization'}-{n}-{slug(name)}"
        affiliation = None
        if creator.get("affiliation"):
            text = str(creator["affiliation"])
            affiliation = builder.organization(text, f"#organization-{slug(text)}")
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
    builder: CrateBuilder, server: str | None, authors: list[ContextEntity]
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
    builder: CrateBuilder,
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
        tools.append(environment_entity(builder, record, environment, mine, entities))
    outputs = [entities[f.name] for f in mine if f.role == "output"]
    description = f"'{record.command}' in {record.working_directory or '.'}"
    if record.reason:
        description += f", because: {record.reason}"
    action = builder.entity(
        f"#run-{fragment(record.label)}",
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
        agent=one(authors) if authors else None,
        instrument=one(tools),
        result=one(outputs) if outputs else None,
        subjectOf=one([entities[f.name] for f in mine if f.role == "record"]) or None,
    )
    inputs = _inputs(builder, record, files, entities)
    if inputs:
        action["object"] = one(inputs)
    image = image_entity(builder, record, mine, entities)
    if image is not None:
        action["containerImage"] = image
    return action


def _code(
    builder: CrateBuilder, record: Record, mine: list[CrateFile], entities: dict[str, Any]
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
        ident = f"#program-{fragment(record.label)}"
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
        encoding=one(archive + diff) if archive or diff else None,
    )


def _inputs(
    builder: CrateBuilder, record: Record, files: Sequence[CrateFile], entities: dict[str, Any]
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
                f"#input-{fragment(record.label)}-{n}",
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
