"""``paperlink.bib`` beside the manuscript: citations of the archive and of the software, for BibTeX and biber.

Each record the manuscript uses gets an entry (key ``paperlink:LABEL``) once its archive has a DOI (reserved by
``paperlink publish --draft`` or minted on publishing), or once it is published on a server that gives none;
the entry cites the archive as its landing page and DOI show it: the authors (with their ORCID iDs), title and
version from ``CITATION.cff`` (or ``.zenodo.json`` / ``[publish]``), the year, the archive (Zenodo or the
InvenioRDM host) as publisher, the DOI and the URL. A folder written by ``publish --to DIR`` is no public
archive, so it gets no entry. When the project has a ``CITATION.cff``, the software it describes gets one
more entry, ``paperlink-software`` (a label cannot hold ``-software`` after ``paperlink-``: label keys have
a ``:``), so a paper can cite the code before anything is archived.

The text is written here rather than by a BibTeX library, because what matters is what bibtex and biber make
of it: BibTeX has no comments (an ``@`` anywhere outside an entry starts one, so the header never holds one),
counts every brace, escaped or not (so a ``{`` in a title becomes ``\\textbraceleft{}``, never ``\\{``), and
sees a name list in ``and``. Field values are brace-delimited and balanced by construction. ORCID iDs go in a
biblatex data annotation (``author+an:orcid``), which biber reads and BibTeX ignores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml
from pylatexenc.latexencode import unicode_to_latex

from paperlink.core.config import Project
from paperlink.core.model import model
from paperlink.core.records import Publication, Record
from paperlink.version import __version__

SOFTWARE_KEY = "paperlink-software"
_SPECIAL = {
    "\\": "\\textbackslash{}",
    "{": "\\textbraceleft{}",
    "}": "\\textbraceright{}",
    "%": "\\%",
    "#": "\\#",
    "$": "\\$",
    "&": "\\&",
    "_": "\\_",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
    "<": "\\textless{}",
    ">": "\\textgreater{}",
    "|": "\\textbar{}",
}
# What may stand in a url or doi field as it is (\url and biber read it verbatim); braces, backslashes and
# spaces would not survive, so they are percent-encoded.
_URL_SAFE = ":/?#[]@!$&'*+,;=~-._"
_AND = re.compile(r"\band\b", re.IGNORECASE)


def bib_text(value: str) -> str:
    """``value`` as balanced BibTeX field text that typesets as itself.

    TeX's special characters become commands without braces of their own that BibTeX would count, letters
    pylatexenc knows (é, ß, €) become ``{\\'e}``-style special characters, which BibTeX keeps whole when it
    changes case or abbreviates; other characters stay as UTF-8; line breaks and controls become spaces.
    """
    out = []
    for ch in " ".join(value.split()):
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch == '"':
            out.append("''")  # a straight quote has no glyph in LaTeX's default font encoding
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0:
            out.append(" ")
        else:
            latex = str(unicode_to_latex(ch, non_ascii_only=True, unknown_char_warning=False))
            latex = latex.strip()
            if latex != ch and not (latex.startswith("{") and latex.endswith("}")):
                latex = "{" + latex + "}"
            out.append(latex)
    return "".join(out)


def bib_url(url: str) -> str:
    """``url`` percent-encoded wherever a character would upset ``\\url`` or BibTeX."""
    return quote(url, safe=_URL_SAFE + "%")


def bib_name(name: str) -> str:
    """One author: ``Family, Given`` stays a personal name, anything else (``The Tide Consortium``) is
    braced whole, so BibTeX neither splits it nor reads "Consortium" as a family name."""
    family, comma, given = name.partition(",")
    if not comma:
        return "{" + bib_text(name) + "}"
    family, given = bib_text(family.strip()), bib_text(given.strip().replace(",", " "))
    if _AND.search(family) or " " in family:
        family = "{" + family + "}"
    if _AND.search(given):
        given = "{" + given + "}"
    return f"{family}, {given}" if given else family


@model
class Citation:
    """The descriptive part of an entry: who, what, which version (the same for every record)."""

    title: str = ""
    authors: list[dict[str, str]] = field(default_factory=list)  # name ("Family, Given"), orcid
    version: str = ""
    year: str = ""
    url: str = ""
    doi: str = ""


@model
class BibEntry:
    kind: str
    key: str
    fields: list[tuple[str, str]]  # (name, already-escaped value), in order

    def render(self) -> str:
        body = "".join(f"  {name} = {{{value}}},\n" for name, value in self.fields)
        return f"@{self.kind}{{{self.key},\n{body}}}\n"


def citation_key(record: Record) -> str:
    return f"paperlink:{record.label}"


def archive_name(publication: Publication) -> str:
    """ "Zenodo" for Zenodo and its sandbox, else the archive server's host (an institution's InvenioRDM)."""
    host = urlsplit(publication.server or "").hostname or ""
    if not host or host == "zenodo.org" or host.endswith(".zenodo.org"):
        return "Zenodo"
    return host


def is_archived(publication: Publication | None) -> bool:
    """Whether ``publication`` is a public archive to cite: a DOI, or a page on a server (not a folder)."""
    if publication is None or publication.service == "directory":
        return False
    return bool(publication.doi or (publication.published and publication.url))


def _common_fields(citation: Citation) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    if citation.authors:
        fields.append(("author", " and ".join(bib_name(a["name"]) for a in citation.authors)))
        orcids = [
            f'{n}="https://orcid.org/{a["orcid"]}"'
            for n, a in enumerate(citation.authors, start=1)
            if a.get("orcid")
        ]
        if orcids:
            fields.append(("author+an:orcid", "; ".join(orcids)))
    if citation.title:
        # Double braces: the title keeps its capitals in styles that lower-case titles.
        fields.append(("title", "{" + bib_text(citation.title) + "}"))
    if citation.version:
        fields.append(("version", bib_text(citation.version)))
    return fields


def archive_entry(record: Record, citation: Citation) -> BibEntry | None:
    """The entry citing the archive that holds ``record``, or None while it is in no public archive."""
    publication = record.publication
    if publication is None or not is_archived(publication):
        return None
    fields = _common_fields(citation)
    year = (publication.published or citation.year or date.today().isoformat())[:4]
    if year.isdigit():
        fields.append(("year", year))
    host = bib_text(archive_name(publication))
    fields += [("publisher", host), ("howpublished", host)]
    if publication.doi:
        fields.append(("doi", bib_url(publication.doi)))
        fields.append(("url", bib_url(f"https://doi.org/{publication.doi}")))
    elif publication.url:
        fields.append(("url", bib_url(publication.url)))
    return BibEntry("misc", citation_key(record), fields)


def software_entry(citation: Citation) -> BibEntry | None:
    """The entry citing the software CITATION.cff describes (None without a title)."""
    if not citation.title:
        return None
    fields = _common_fields(citation)
    if citation.year.isdigit():
        fields.append(("year", citation.year))
    if citation.doi:
        fields.append(("doi", bib_url(citation.doi)))
    if citation.url:
        fields.append(("url", bib_url(citation.url)))
    fields.append(("note", "Software"))
    return BibEntry("misc", SOFTWARE_KEY, fields)


def software_citation(cff: Path) -> Citation | None:
    """The software CITATION.cff describes (title, authors, version, date, DOI, repository), or None when
    there is no such file. Raises :class:`ConfigError` for a file that is no CITATION.cff."""
    from paperlink.core.metadata import from_citation_cff

    if not cff.is_file():
        return None
    described = from_citation_cff(cff)
    raw: Any = yaml.safe_load(cff.read_text(encoding="utf-8"))  # valid: from_citation_cff read it
    doi = str(raw.get("doi") or "")
    if not doi:
        for ident in raw.get("identifiers") or []:
            if isinstance(ident, dict) and ident.get("type") == "doi" and not ident.get("relation"):
                doi = str(ident.get("value") or "")
                break
    url = str(raw.get("repository-code") or raw.get("url") or raw.get("repository") or "")
    released = str(raw.get("date-released") or "")
    return Citation(
        title=str(described.get("title") or ""),
        authors=list(described.get("creators") or []),
        version=str(described.get("version") or ""),
        year=released[:4],
        url=url,
        doi=doi,
    )


def archive_citation(project: Project, records: list[Record]) -> Citation:
    """Title, authors and version the archive was (or will be) published with."""
    from paperlink.core.metadata import load_metadata

    metadata = load_metadata(project, labels=[r.label for r in records]).metadata
    return Citation(
        title=str(metadata.get("title") or ""),
        authors=[c for c in metadata.get("creators") or [] if c.get("name")],
        version=str(metadata.get("version") or ""),
        year=str(metadata.get("publication_date") or "")[:4],
    )


def bibliography_entries(project: Project, records: Iterable[Record]) -> list[BibEntry]:
    """One entry per archived record (in label order), then the software's entry."""
    records = sorted(records, key=lambda r: r.label)
    entries: list[BibEntry] = []
    archived = [r for r in records if is_archived(r.publication)]
    if archived:
        citation = archive_citation(project, archived)
        entries += [e for e in (archive_entry(r, citation) for r in archived) if e is not None]
    software = software_citation(project.root / "CITATION.cff")
    if software is not None:
        entry = software_entry(software)
        if entry is not None:
            entries.append(entry)
    return entries


def render_bibliography(project: Project, records: Iterable[Record]) -> str:
    """The text of ``paperlink.bib``."""
    # No at-sign in the header: BibTeX would read it as the start of an entry.
    header = (
        f"% paperlink.bib: generated by paperlink {__version__}; do not edit (run 'paperlink latex').\n"
        "% One entry per archived record the manuscript uses (key paperlink:LABEL, citing the archive\n"
        f"% and its DOI), and {SOFTWARE_KEY} for the software CITATION.cff describes.\n"
    )
    entries = bibliography_entries(project, records)
    if not entries:
        return (
            header
            + "% No record used here is archived yet ('paperlink publish --draft' reserves a DOI).\n"
        )
    return header + "".join("\n" + entry.render() for entry in entries)
