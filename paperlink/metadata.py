"""The descriptive metadata of an archive: who made it, what it is called, under which licence.

Read from ``CITATION.cff`` (authors with ORCID and affiliation, title, licence, keywords, version, the
paper's DOI), else ``.zenodo.json``, else the ``[publish]`` table of ``paperlink.toml``; the ``[publish]``
table may add related identifiers (the paper's DOI or arXiv id) in every case. The result is Zenodo's
legacy deposit metadata (``docs/zenodo-api.md`` §6). CITATION.cff is YAML 1.2 with quoting, flow and block
styles, so it is read with PyYAML rather than a hand-made subset reader that would misread valid files.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from paperlink.config import Project
from paperlink.errors import ConfigError

DEFAULT_LICENSE = "cc-by-4.0"
_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$")
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
_ARXIV = re.compile(
    r"^(?:arxiv:|https?://arxiv\.org/abs/)?(\d{4}\.\d{4,5}(?:v\d+)?)$", re.IGNORECASE
)


@dataclass
class ArchiveMetadata:
    """Zenodo metadata plus where it came from and what is missing for publishing."""

    metadata: dict[str, Any]
    source: str
    problems: list[str] = field(default_factory=list)


def load_metadata(project: Project, *, labels: list[str]) -> ArchiveMetadata:
    """The metadata for an archive of ``labels`` in ``project``; raises :class:`ConfigError` on bad files."""
    root = project.root
    table = _publish_table(project)
    cff = root / "CITATION.cff"
    zenodo_json = root / ".zenodo.json"
    if cff.is_file():
        metadata, source = from_citation_cff(cff), "CITATION.cff"
    elif zenodo_json.is_file():
        metadata, source = from_zenodo_json(zenodo_json), ".zenodo.json"
    else:
        metadata, source = from_publish_table(table), "paperlink.toml"
    related = list(metadata.get("related_identifiers") or [])
    related.extend(related_from_table(table))
    if related:
        metadata["related_identifiers"] = _unique(related)
    metadata.setdefault("upload_type", str(table.get("upload_type", "dataset")))
    metadata.setdefault("title", f"{project.name}: figures, run records and code")
    metadata.setdefault("access_right", "open")
    metadata.setdefault("license", DEFAULT_LICENSE)
    metadata.setdefault("publication_date", date.today().isoformat())
    # The description is HTML on Zenodo: the project's name and the labels are text, never markup.
    run_list = html.escape(", ".join(labels[:20]) + (" …" if len(labels) > 20 else ""))
    metadata.setdefault(
        "description",
        f"<p>The results of {html.escape(project.name)} with the records of the runs that made them "
        f"({run_list}), "
        "the code at each recorded commit, and the container image where one was used. "
        "Archived with paperlink; see README.md for how to re-run each computation.</p>",
    )
    if table.get("communities"):
        metadata["communities"] = [{"identifier": str(c)} for c in table["communities"]]
    problems = []
    if not metadata.get("creators"):
        problems.append(
            "no authors: add them to CITATION.cff (authors:) or to [publish] creators in "
            'paperlink.toml, e.g. creators = [{name = "Curie, Marie", orcid = "0000-…"}]'
        )
    return ArchiveMetadata(metadata=metadata, source=source, problems=problems)


def _publish_table(project: Project) -> dict[str, Any]:
    table = project.settings.get("publish", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{project.config_path}: [publish] must be a table")
    return table


def from_citation_cff(path: Path) -> dict[str, Any]:
    """Zenodo metadata from a CITATION.cff (https://citation-file-format.github.io)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", hint="check it with 'cffconvert --validate'"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} does not hold a YAML mapping", hint="see citation-file-format.github.io"
        )
    out: dict[str, Any] = {}
    if data.get("title"):
        out["title"] = str(data["title"])
    creators = [_cff_person(p) for p in data.get("authors") or [] if isinstance(p, dict)]
    if creators:
        out["creators"] = [c for c in creators if c.get("name")]
    if data.get("abstract"):
        out["description"] = "<p>" + html.escape(str(data["abstract"])) + "</p>"  # CFF: plain text
    if data.get("license"):
        lic = data["license"]
        out["license"] = str(lic[0] if isinstance(lic, list) else lic).lower()
    if data.get("keywords"):
        out["keywords"] = [str(k) for k in data["keywords"]]
    if data.get("version") is not None:
        out["version"] = str(data["version"])
    if data.get("date-released"):
        out["publication_date"] = str(data["date-released"])[:10]  # YAML may give a date object
    related: list[dict[str, str]] = []
    preferred = data.get("preferred-citation")
    if isinstance(preferred, dict):
        for key in ("doi", "url"):
            if preferred.get(key):
                related.append(related_identifier(str(preferred[key]), "isSupplementTo"))
                break
    for ident in data.get("identifiers") or []:
        if isinstance(ident, dict) and ident.get("type") == "doi" and ident.get("value"):
            relation = str(ident.get("relation", "isSupplementTo"))
            related.append(related_identifier(str(ident["value"]), relation))
    if related:
        out["related_identifiers"] = related
    return out


def _cff_person(person: dict[str, Any]) -> dict[str, str]:
    family = str(person.get("family-names") or "").strip()
    given = str(person.get("given-names") or "").strip()
    particle = str(person.get("name-particle") or "").strip()
    if particle:
        family = f"{particle} {family}"
    name = f"{family}, {given}" if family and given else family or str(person.get("name") or "")
    creator = {"name": name}
    if person.get("affiliation"):
        creator["affiliation"] = str(person["affiliation"])
    if person.get("orcid"):
        creator["orcid"] = normalise_orcid(str(person["orcid"]))
    return creator


def normalise_orcid(value: str) -> str:
    """``https://orcid.org/0000-0002-1825-0097`` → ``0000-0002-1825-0097``; raises on a malformed id."""
    match = _ORCID.search(value.strip())
    if not match:
        raise ConfigError(f"'{value}' is not an ORCID iD", hint="write it as 0000-0002-1825-0097")
    return match.group(1)


def from_zenodo_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object of Zenodo metadata")
    data = dict(data.get("metadata", data))
    data.pop("prereserve_doi", None)
    data.pop("doi", None)  # a Zenodo-minted DOI must never be sent back (zenodo-api.md §6.1)
    return data


def from_publish_table(table: dict[str, Any]) -> dict[str, Any]:
    """Zenodo metadata from ``[publish]``: title, creators, description, license, keywords, version."""
    out: dict[str, Any] = {}
    for key in ("title", "description", "license", "version", "upload_type"):
        if table.get(key):
            out[key] = str(table[key])
    if table.get("keywords"):
        out["keywords"] = [str(k) for k in table["keywords"]]
    creators = []
    for item in table.get("creators") or []:
        if isinstance(item, str):
            creators.append({"name": item})
        elif isinstance(item, dict) and item.get("name"):
            creator = {"name": str(item["name"])}
            if item.get("affiliation"):
                creator["affiliation"] = str(item["affiliation"])
            if item.get("orcid"):
                creator["orcid"] = normalise_orcid(str(item["orcid"]))
            creators.append(creator)
    if creators:
        out["creators"] = creators
    return out


def related_from_table(table: dict[str, Any]) -> list[dict[str, str]]:
    """``paper = "10.1234/x"`` / ``arxiv = "2401.01234"`` / ``related = [...]`` → isSupplementTo etc."""
    found = []
    for key in ("paper", "paper_doi", "arxiv"):
        if table.get(key):
            found.append(related_identifier(str(table[key]), "isSupplementTo"))
    for item in table.get("related") or []:
        if isinstance(item, str):
            found.append(related_identifier(item, "isSupplementTo"))
        elif isinstance(item, dict) and item.get("identifier"):
            found.append(
                related_identifier(str(item["identifier"]), str(item.get("relation", "references")))
            )
    return found


def related_identifier(value: str, relation: str) -> dict[str, str]:
    """A related identifier with its DOI or arXiv id normalised (Zenodo detects the scheme)."""
    value = value.strip()
    doi = _DOI.match(value)
    if doi:
        return {"identifier": doi.group(1), "relation": relation, "scheme": "doi"}
    arxiv = _ARXIV.match(value)
    if arxiv:
        return {"identifier": f"arXiv:{arxiv.group(1)}", "relation": relation, "scheme": "arxiv"}
    if value.startswith(("http://", "https://")):
        return {"identifier": value, "relation": relation, "scheme": "url"}
    raise ConfigError(
        f"related identifier '{value}' is neither a DOI, an arXiv id nor a URL",
        hint="write e.g. 10.1234/journal.5678, arXiv:2401.01234 or https://…",
    )


def _unique(items: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        key = (item["identifier"].lower(), item["relation"])
        if key not in seen:
            seen.add(key)
            out.append({"identifier": item["identifier"], "relation": item["relation"]})
    return out
