"""The descriptive metadata of an archive: who made it, what it is called, under which licence.

Read from ``CITATION.cff`` (authors with ORCID and affiliation, title, licence, keywords, version, the
paper's DOI), else ``.zenodo.json``, else the ``[publish]`` table of ``paperlink.toml``; the ``[publish]``
table may add related identifiers (the paper's DOI or arXiv id) in every case. The result is Zenodo's
legacy deposit metadata (``docs/zenodo-api.md`` §6). CITATION.cff is YAML 1.2 with quoting, flow and block
styles, so it is read with PyYAML rather than a hand-made subset reader that would misread valid files.
"""

from __future__ import annotations

import html
import re
from dataclasses import field
from datetime import date
from pathlib import Path
from typing import Any

from paperlink.core.config import Project
from paperlink.core.loaders import load_json_file, load_yaml_file
from paperlink.core.model import model
from paperlink.errors import ConfigError

DEFAULT_LICENSE = "cc-by-4.0"
_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$")
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
_ARXIV = re.compile(
    r"^(?:arxiv:|https?://arxiv\.org/abs/)?(\d{4}\.\d{4,5}(?:v\d+)?)$", re.IGNORECASE
)


@model
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
        metadata, source = from_publish_table(table, project.config_path), "paperlink.toml"
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


CFF_FIX = "see https://citation-file-format.github.io, and check it with 'cffconvert --validate'"


def from_citation_cff(path: Path) -> dict[str, Any]:
    """Zenodo metadata from a CITATION.cff (https://citation-file-format.github.io).

    Raises :class:`ConfigError` naming the file and the fields for anything paperlink cannot use."""
    data = load_yaml_file(path, what="CITATION.cff (YAML)", fix=CFF_FIX)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a YAML mapping", hint=CFF_FIX)
    fields = _Fields(path, data, CFF_FIX)
    out: dict[str, Any] = {}
    if fields.text("title"):
        out["title"] = fields.text("title")
    creators = [
        _cff_person(person, _Fields(path, person, CFF_FIX, f"authors[{i}]"))
        for i, person in enumerate(
            fields.mappings("authors", example="{family-names: Curie, given-names: Marie}")
        )
    ]
    if creators:
        out["creators"] = [c for c in creators if c.get("name")]
    if fields.text("abstract"):
        out["description"] = (
            "<p>" + html.escape(fields.text("abstract") or "") + "</p>"
        )  # CFF: text
    lic = data.get("license")
    if isinstance(lic, list) and lic:
        lic = _scalar(path, "license[0]", lic[0], CFF_FIX)
    elif lic is not None:
        lic = fields.text("license")
    if lic:
        out["license"] = str(lic).lower()
    if data.get("keywords"):
        out["keywords"] = fields.texts("keywords")
    if data.get("version") is not None:
        out["version"] = fields.text("version")
    if data.get("date-released"):
        out["publication_date"] = fields.text("date-released")[:10]  # YAML may give a date object
    related: list[dict[str, str]] = []
    preferred = data.get("preferred-citation")
    if preferred is not None and not isinstance(preferred, dict):
        raise fields.wrong("preferred-citation", "a mapping (type:, title:, doi: …)")
    if isinstance(preferred, dict):
        cited = _Fields(path, preferred, CFF_FIX, "preferred-citation")
        for key in ("doi", "url"):
            if cited.text(key):
                related.append(related_identifier(cited.text(key), "isSupplementTo"))
                break
    for i, ident in enumerate(
        fields.mappings("identifiers", example="{type: doi, value: 10.5281/zenodo.1234}")
    ):
        one = _Fields(path, ident, CFF_FIX, f"identifiers[{i}]")
        if one.text("type") == "doi" and one.text("value"):
            relation = one.text("relation") or "isSupplementTo"
            related.append(related_identifier(one.text("value"), relation))
    if related:
        out["related_identifiers"] = related
    return out


def _cff_person(person: dict[str, Any], fields: _Fields) -> dict[str, str]:
    family = fields.text("family-names").strip()
    given = fields.text("given-names").strip()
    particle = fields.text("name-particle").strip()
    if particle:
        family = f"{particle} {family}"
    name = f"{family}, {given}" if family and given else family or fields.text("name")
    creator = {"name": name}
    if fields.text("affiliation"):
        creator["affiliation"] = fields.text("affiliation")
    if fields.text("orcid"):
        creator["orcid"] = fields.orcid("orcid")
    return creator


def normalise_orcid(value: str) -> str:
    """``https://orcid.org/0000-0002-1825-0097`` → ``0000-0002-1825-0097``; raises on a malformed id."""
    match = _ORCID.search(value.strip())
    if not match:
        raise ConfigError(f"'{value}' is not an ORCID iD", hint="write it as 0000-0002-1825-0097")
    return match.group(1)


ZENODO_FIX = "see Zenodo's deposit metadata (developers.zenodo.org, 'Deposit metadata')"
# The fields of .zenodo.json paperlink itself reads or passes on, and the kind each must be; other fields
# go to the archive server as they are (it lists what it refuses, exit 9).
_ZENODO_TEXT = ("title", "description", "license", "version", "upload_type", "publication_date")
_ZENODO_PEOPLE = ("creators", "contributors")


def from_zenodo_json(path: Path) -> dict[str, Any]:
    """Zenodo metadata from ``.zenodo.json``; raises :class:`ConfigError` naming the file and the fields
    for a value of the wrong kind."""
    data = load_json_file(path, what=".zenodo.json (JSON)", fix=ZENODO_FIX)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object of Zenodo metadata", hint=ZENODO_FIX)
    if "metadata" in data and not isinstance(data["metadata"], dict):
        raise ConfigError(f"{path}: 'metadata' must be an object", hint=ZENODO_FIX)
    data = dict(data.get("metadata", data))
    fields = _Fields(path, data, ZENODO_FIX)
    lic = data.get("license")
    if isinstance(lic, dict) and isinstance(lic.get("id"), str):
        data["license"] = lic[
            "id"
        ]  # the newer {"id": "cc-by-4.0"} form of Zenodo's GitHub integration
    for key in _ZENODO_TEXT:
        if key in data and key != "version":
            fields.text(key, strict=True)
    if "version" in data:
        data["version"] = fields.text("version")
    for key in _ZENODO_PEOPLE:
        example = '{"name": "Curie, Marie", "orcid": "0000-0002-1825-0097"}'
        for i, person in enumerate(fields.mappings(key, example=example)):
            one = _Fields(path, person, ZENODO_FIX, f"{key}[{i}]")
            if not one.text("name", strict=True):
                raise one.wrong("name", 'a non-empty string, e.g. "Curie, Marie"')
            for extra in ("affiliation", "gnd", "type"):
                one.text(extra, strict=True)
            if one.text("orcid", strict=True):
                person["orcid"] = one.orcid("orcid")
    if "keywords" in data:
        data["keywords"] = fields.texts("keywords")
    for i, item in enumerate(
        fields.mappings(
            "related_identifiers",
            example='{"identifier": "10.1234/x", "relation": "isSupplementTo"}',
        )
    ):
        one = _Fields(path, item, ZENODO_FIX, f"related_identifiers[{i}]")
        if not one.text("identifier", strict=True) or not one.text("relation", strict=True):
            raise one.wrong("identifier", "set, with a 'relation' such as isSupplementTo")
    for i, item in enumerate(
        fields.mappings("communities", example='{"identifier": "my-community"}')
    ):
        _Fields(path, item, ZENODO_FIX, f"communities[{i}]").text("identifier", strict=True)
    data.pop("prereserve_doi", None)
    data.pop("doi", None)  # a Zenodo-minted DOI must never be sent back (zenodo-api.md §6.1)
    return data


class _Fields:
    """The fields of one mapping (the file's top level, an author, an identifier) at ``prefix``."""

    def __init__(self, path: Path, data: dict[str, Any], fix: str, prefix: str = "") -> None:
        self.path, self.data, self.fix, self.prefix = path, data, fix, prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def wrong(self, key: str, wanted: str) -> ConfigError:
        return _wrong(self.path, self.name(key), self.data.get(key), wanted, self.fix)

    def text(self, key: str, *, strict: bool = False) -> str:
        """The fields as text ('' when absent); numbers and dates are accepted unless ``strict``."""
        value = self.data.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if strict or isinstance(value, (dict, list, bool)):
            raise self.wrong(key, "a string")
        return str(value)

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.wrong(key, "a list of words or phrases, e.g. [provenance, physics]")
        return [
            _scalar(self.path, f"{self.name(key)}[{i}]", v, self.fix) for i, v in enumerate(value)
        ]

    def mappings(self, key: str, *, example: str) -> list[dict[str, Any]]:
        """The field as a list of mappings ([] when absent); ``example`` shows one item."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.wrong(key, f"a list of entries such as [{example}]")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise _wrong(
                    self.path,
                    f"{self.name(key)}[{i}]",
                    item,
                    f"an entry such as {example}",
                    self.fix,
                )
        return value

    def orcid(self, key: str) -> str:
        try:
            return normalise_orcid(self.text(key))
        except ConfigError as exc:
            raise ConfigError(
                f"{self.path}: {self.name(key)}: {exc.message}", hint=exc.hint
            ) from exc


def _scalar(path: Path, name: str, value: Any, fix: str) -> str:
    if isinstance(value, (dict, list, bool)) or value is None:
        raise _wrong(path, name, value, "a single value (text)", fix)
    return str(value)


def _wrong(path: Path, name: str, value: Any, wanted: str, fix: str) -> ConfigError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    kind = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )
    return ConfigError(f"{path}: '{name}' must be {wanted}, not {kind} ({shown})", hint=fix)


def from_publish_table(table: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """Zenodo metadata from ``[publish]`` (of ``path``): title, creators, description, license,
    keywords, version. The table's keys and their types were checked when the project was loaded."""
    where = path or Path("paperlink.toml")
    fix = 'write creators = [{name = "Family, Given", orcid = "…", affiliation = "…"}] under [publish]'
    fields = _Fields(where, table, fix, "publish")
    out: dict[str, Any] = {}
    for key in ("title", "description", "license", "version", "upload_type"):
        if table.get(key):
            out[key] = str(table[key])
    if table.get("keywords"):
        out["keywords"] = fields.texts("keywords")
    creators = []
    for i, item in enumerate(table.get("creators") or []):
        if isinstance(item, str) and item.strip():
            creators.append({"name": item})
            continue
        if not isinstance(item, dict):
            raise _wrong(where, f"publish.creators[{i}]", item, "a name or a table", fix)
        one = _Fields(where, item, fix, f"publish.creators[{i}]")
        if not one.text("name", strict=True).strip():
            raise one.wrong("name", 'a non-empty string, e.g. "Curie, Marie"')
        creator = {"name": one.text("name")}
        if one.text("affiliation"):
            creator["affiliation"] = one.text("affiliation")
        if one.text("orcid"):
            creator["orcid"] = one.orcid("orcid")
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
