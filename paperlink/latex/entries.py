"""What ``paperlink-data.tex`` declares: one entry per figure (label, path, digests, links) and per value,
in the order paperlink.sty reads them."""

from __future__ import annotations

from dataclasses import field

from paperlink.core.model import model


@model(frozen=True)
class FigureEntry:
    """One record output as the manuscript sees it."""

    label: str
    path: str  # relative to the project root, as the record shows it
    file: str  # relative to the manuscript's folder: what \includegraphics opens
    kind: str  # image | file
    sha256: str
    md5: str
    sha1: str
    url: str
    doi: str = ""
    image: str = ""
    rerun: str = ""
    # Relative to the data store root of a record imported from Sumatra: its LABEL:PATH form.
    alias: str = ""

    def tooltip(self) -> str:
        text = f"sha256:{self.sha256} record {self.label}"
        return f"{text} image {self.image}" if self.image else text

    def manifest(self) -> dict[str, str]:
        return {
            "label": self.label,
            "path": self.path,
            "sha256": self.sha256,
            "md5": self.md5,
            "sha1": self.sha1,
            "record_url": self.url,
            "doi": self.doi,
            "image": self.image,
        }


@model(frozen=True)
class ValueEntry:
    """One named value a run produced."""

    label: str
    name: str
    value: str
    url: str
    doi: str = ""

    def tooltip(self) -> str:
        return f"record {self.label} value {self.name} = {self.value}"

    def manifest(self) -> dict[str, str]:
        return {
            "label": self.label,
            "name": self.name,
            "value": self.value,
            "record_url": self.url,
            "doi": self.doi,
        }


@model
class LatexData:
    figures: list[FigureEntry] = field(default_factory=list)
    values: list[ValueEntry] = field(default_factory=list)
    # A figure reference as the manuscript writes it -> (label, path) of the output it resolves to.
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
