"""``ro-crate-metadata.json``: which run produced which file, from which code, inputs and image.

An RO-Crate 1.1 (https://w3id.org/ro/crate/1.1) following the Process Run Crate profile: every archived file
is a ``File`` data entity with its size and sha256; every run is a ``CreateAction`` whose ``instrument`` is
the code (the commit's source archive), whose ``object`` are the inputs (contextual entities named by path
and digest, since inputs are not archived) and whose ``result`` are the output files; the container image a
run used is a ``ContainerImage`` entity, pointing at the image archive when there is one.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from typing import Any, Protocol

from paperlink import __version__
from paperlink.records import Record

CONTEXT = "https://w3id.org/ro/crate/1.1/context"
PROFILES = ["https://w3id.org/ro/crate/1.1", "https://w3id.org/ro/wfrun/process/0.5"]


class CrateFile(Protocol):
    """What the crate needs of an archived file (``bundle.BundleFile`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def labels(self) -> Sequence[str]: ...
    @property
    def source(self) -> str | None: ...
    @property
    def commit(self) -> str | None: ...


_ROLE_TEXT = {
    "output": "output of a recorded run",
    "record": "paperlink run record (JSON)",
    "code": "source code at the recorded commit (git archive)",
    "diff": "uncommitted changes the run used (git diff against the commit)",
    "image": "container image archive (docker save)",
    "readme": "how to re-run the computations",
    "pdf": "the paper",
    "site": "provenance site: the records as web pages, open provenance-site/index.html",
}


def build_crate(
    *, files: Sequence[CrateFile], records: Sequence[Record], metadata: dict[str, Any]
) -> dict[str, Any]:
    """The crate as a JSON-LD document (serialise with sorted keys for a stable digest)."""
    graph: list[dict[str, Any]] = []
    people = []
    for i, creator in enumerate(metadata.get("creators") or []):
        ident = f"https://orcid.org/{creator['orcid']}" if creator.get("orcid") else f"#creator-{i}"
        person: dict[str, Any] = {"@id": ident, "@type": "Person", "name": creator["name"]}
        if creator.get("affiliation"):
            person["affiliation"] = creator["affiliation"]
        people.append(person)
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": metadata.get("title", ""),
        "description": metadata.get("description", ""),
        "datePublished": metadata.get("publication_date", ""),
        "license": {"@id": f"https://spdx.org/licenses/{metadata.get('license', '')}"},
        "conformsTo": [{"@id": p} for p in PROFILES[1:]],
        "hasPart": [{"@id": f.name} for f in files],
        "mentions": [{"@id": f"#run-{r.label}"} for r in records],
    }
    if people:
        root["author"] = [{"@id": p["@id"]} for p in people]
    if metadata.get("keywords"):
        root["keywords"] = list(metadata["keywords"])
    graph.append(
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "conformsTo": [{"@id": p} for p in PROFILES],
            "about": {"@id": "./"},
        }
    )
    graph.append(root)
    graph.extend(people)
    graph.append(
        {
            "@id": "#paperlink",
            "@type": "SoftwareApplication",
            "name": "paperlink",
            "version": __version__,
        }
    )
    for f in files:
        entity: dict[str, Any] = {
            "@id": f.name,
            "@type": "File",
            "name": f.name,
            "contentSize": f.size,
            "sha256": f.sha256,
            "description": _ROLE_TEXT.get(f.role, f.role),
        }
        kind = mimetypes.guess_type(f.name)[0]
        if kind:
            entity["encodingFormat"] = kind
        if f.source:
            entity["alternateName"] = f.source
        if f.role == "code":
            entity["@type"] = ["File", "SoftwareSourceCode"]
            entity["version"] = f.commit
        graph.append(entity)
    by_label: dict[str, dict[str, list[str]]] = {}
    for f in files:
        for label in f.labels:
            by_label.setdefault(label, {}).setdefault(f.role, []).append(f.name)
    code_for_commit = {f.commit: f.name for f in files if f.role == "code" and f.commit}
    images: dict[str, dict[str, Any]] = {}
    for record in records:
        parts = by_label.get(record.label, {})
        action: dict[str, Any] = {
            "@id": f"#run-{record.label}",
            "@type": "CreateAction",
            "name": f"paperlink run {record.label}: {record.command}",
            "identifier": record.run_id,
            "startTime": record.start_time,
            "endTime": record.end_time,
            "actionStatus": "CompletedActionStatus"
            if record.outcome.status == "finished"
            else "FailedActionStatus",
            "agent": {"@id": "#paperlink"},
            "result": [{"@id": n} for n in parts.get("output", [])],
            "subjectOf": [{"@id": n} for n in parts.get("record", [])],
        }
        instruments = []
        if record.code.commit and record.code.commit in code_for_commit:
            instruments.append({"@id": code_for_commit[record.code.commit]})
        instruments.extend({"@id": n} for n in parts.get("diff", []))
        if instruments:
            action["instrument"] = instruments
        inputs = []
        for n, item in enumerate(record.inputs):
            ident = f"#input-{record.label}-{n}"
            graph.append(
                {
                    "@id": ident,
                    "@type": "File",
                    "name": item.path,
                    "contentSize": item.size,
                    "sha256": item.sha256,
                    "description": "input of the run (not archived; identified by its digest)",
                }
            )
            inputs.append({"@id": ident})
        if inputs:
            action["object"] = inputs
        container = record.container
        if container is not None and (container.image_id or container.reference):
            ident = f"#image-{container.image_id or container.reference}"
            if ident not in images:
                images[ident] = {
                    "@id": ident,
                    "@type": "ContainerImage",
                    "additionalType": {"@id": "https://w3id.org/ro/terms/workflow-run#DockerImage"},
                    "name": container.reference,
                }
                if container.image_id:
                    images[ident]["sha256"] = container.image_id.removeprefix("sha256:")
                archive = parts.get("image", [])
                if archive:
                    images[ident]["distribution"] = {"@id": archive[0]}
            action["containerImage"] = {"@id": ident}
        graph.append(action)
    graph.extend(images.values())
    return {"@context": CONTEXT, "@graph": graph}
