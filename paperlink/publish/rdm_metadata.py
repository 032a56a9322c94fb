"""Zenodo's legacy deposit metadata (what ``metadata.py`` builds) in the form of InvenioRDM's records API.

A pure conversion (``docs/zenodo-api.md`` §6 → §11): ``upload_type`` becomes ``resource_type: {"id": …}``,
``"Family, Given"`` creators become ``person_or_org`` entries with ORCID identifiers and affiliations,
``license`` becomes ``rights``, keywords ``subjects``, related identifiers get a ``scheme`` and a
``relation_type: {"id": …}``, and ``access_right`` becomes the record's ``access``. Communities are not
carried over: InvenioRDM adds a record to a community by a review request, not by metadata.
"""

from __future__ import annotations

import re
from typing import Any

# Legacy upload types whose InvenioRDM id has a subtype (``publication-article``, ``image-figure``).
_SUBTYPED = {"publication": "publication_type", "image": "image_type"}
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV = re.compile(r"^arxiv:", re.IGNORECASE)


def rdm_record(metadata: dict[str, Any], *, publisher: str) -> dict[str, Any]:
    """The ``metadata`` and ``access`` parts of an InvenioRDM draft for legacy ``metadata``.

    ``publisher`` is used when the metadata names none (``imprint_publisher``); InvenioRDM instances
    default to their own name.
    """
    out: dict[str, Any] = {"resource_type": {"id": resource_type(metadata)}}
    for key in ("title", "description", "version", "publication_date"):
        if metadata.get(key):
            out[key] = str(metadata[key])
    out["publisher"] = str(metadata.get("imprint_publisher") or publisher)
    creators = [rdm_creator(c) for c in metadata.get("creators") or [] if isinstance(c, dict)]
    if creators:
        out["creators"] = creators
    if metadata.get("license"):
        out["rights"] = [{"id": str(metadata["license"]).lower()}]
    keywords = [str(k) for k in metadata.get("keywords") or [] if str(k).strip()]
    if keywords:
        out["subjects"] = [{"subject": k} for k in keywords]
    related = [
        rdm_related(r) for r in metadata.get("related_identifiers") or [] if isinstance(r, dict)
    ]
    if related:
        out["related_identifiers"] = related
    if metadata.get("language"):
        out["languages"] = [{"id": str(metadata["language"]).lower()}]
    if metadata.get("notes"):
        out["additional_descriptions"] = [
            {"description": str(metadata["notes"]), "type": {"id": "notes"}}
        ]
    return {"metadata": out, "access": rdm_access(metadata)}


def resource_type(metadata: dict[str, Any]) -> str:
    """``dataset``, ``software``, ``publication-article``, ``image-figure``, … (default ``dataset``)."""
    upload_type = str(metadata.get("upload_type") or "dataset").lower()
    subtype_key = _SUBTYPED.get(upload_type)
    if subtype_key is not None:
        return f"{upload_type}-{str(metadata.get(subtype_key) or 'other').lower()}"
    return upload_type


def rdm_creator(creator: dict[str, Any]) -> dict[str, Any]:
    """``{"name": "Curie, Marie", "orcid": …, "affiliation": …}`` as an InvenioRDM creator.

    A name with a comma is a person (family name first, as Zenodo reads it); a name without one is
    an organisation (CITATION.cff entities such as "The Tide Consortium"), unless an ORCID says it is
    a person, whose whole name is then the family name.
    """
    name = str(creator.get("name") or "").strip()
    family, comma, given = name.partition(",")
    person: dict[str, Any]
    if comma or creator.get("orcid"):
        person = {"type": "personal", "family_name": family.strip()}
        if given.strip():
            person["given_name"] = given.strip()
    else:
        person = {"type": "organizational", "name": name}
    if creator.get("orcid"):
        person["identifiers"] = [{"scheme": "orcid", "identifier": str(creator["orcid"])}]
    out: dict[str, Any] = {"person_or_org": person}
    if creator.get("affiliation"):
        out["affiliations"] = [{"name": str(creator["affiliation"])}]
    return out


def rdm_related(item: dict[str, Any]) -> dict[str, Any]:
    """A related identifier with its scheme (doi, arxiv or url) and a lower-case relation id."""
    identifier = str(item.get("identifier") or "")
    scheme = str(item.get("scheme") or identifier_scheme(identifier))
    relation = str(item.get("relation") or "references").lower()
    return {"identifier": identifier, "scheme": scheme, "relation_type": {"id": relation}}


def identifier_scheme(identifier: str) -> str:
    if _DOI.match(identifier):
        return "doi"
    if _ARXIV.match(identifier):
        return "arxiv"
    return "url"


def rdm_access(metadata: dict[str, Any]) -> dict[str, Any]:
    """``access_right`` → record and files access: open is public; embargoed and restricted keep the
    files restricted (the landing page stays public, as Zenodo does)."""
    right = str(metadata.get("access_right") or "open").lower()
    if right == "embargoed":
        until = str(metadata.get("embargo_date") or "")
        return {
            "record": "public",
            "files": "restricted",
            "embargo": {"active": True, "until": until},
        }
    if right in ("restricted", "closed"):
        return {"record": "public", "files": "restricted"}
    return {"record": "public", "files": "public"}
