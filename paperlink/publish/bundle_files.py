"""The files of an archive bundle, their flat names (Zenodo allows no ``/``) and the portable form of the
records and paths they hold: nothing in an archive names the author's folders."""

from __future__ import annotations

import os
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from paperlink.core.files import fit_file_name
from paperlink.core.model import model
from paperlink.core.records import Record


@model
class BundleFile:
    name: str
    # output | record | code | diff | image | environment | environment-json | site | rocrate | readme
    # | pdf | checksums
    role: str
    path: Path
    size: int
    md5: str
    sha256: str
    labels: list[str] = field(default_factory=list)
    source: str | None = None  # the project path of an output, image or PDF
    commit: str | None = None  # for code archives

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "size": self.size,
            "md5": self.md5,
            "sha256": self.sha256,
            "labels": list(self.labels),
            "source": self.source,
        }


@model
class Bundle:
    records: list[Record]
    files: list[BundleFile]
    warnings: list[str]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def flat(text: str) -> str:
    """A label or path as part of a flat file name (labels may hold ``/`` too). The result is a plain
    name a reviewer's ``verify --doi`` accepts (:func:`paperlink.core.safenames.safe_member_name`): ``\\``
    becomes ``__`` as ``/`` does, control characters ``_``, and a leading dot ``_``."""
    name = text.strip("/").replace("/", "__").replace("\\", "__")
    name = re.sub(r"[\x00-\x1f\x7f]", "_", name)
    return "_" + name[1:] if name.startswith(".") else name


def flat_name(label: str, path: str) -> str:
    """The archive's name for output ``path`` of record ``label``: valid UTF-8 (``path`` is the record's
    text form of a name that is not) and at most 255 bytes, so that it can be a file in ``--to DIR``."""
    return fit_file_name(f"{flat(label)}__{flat(path)}")


def portable_path(root: Path, path: Path) -> str:
    """A file as the archive names it: relative to the project, else by its name alone, never by where
    it lies on the author's machine."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.name


def portable_record(root: Path, record: Record) -> Record:
    """The record as the archive holds it: without its publication (the mutable part: the archive holds
    what the run recorded), and with the author's folders in its paths (the environment, the executable)
    written relative: the project's folder as ``.``, the home folder as ``~``."""
    data = record.to_dict()
    data["publication"] = None
    prefixes = [(str(root), ".")]
    real = os.path.realpath(root)
    if real != str(root):
        prefixes.append((real, "."))
    home = record.environment.get("HOME") or str(Path.home())
    if home.rstrip("/"):
        prefixes.append((home.rstrip("/"), "~"))
    # Longest first: the project usually lies inside the home folder.
    prefixes.sort(key=lambda item: -len(item[0]))
    prefixes = [(prefix, short) for prefix, short in prefixes if prefix.strip("/")]
    pattern = re.compile("|".join(f"{re.escape(prefix)}(?=/|:|$)" for prefix, _ in prefixes))
    replacement = dict(prefixes)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and prefixes:
            return pattern.sub(lambda m: replacement[m.group(0)], value)
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    portable = Record.from_dict(rewrite(data))
    container = portable.container
    if container is not None and container.sif is not None:
        # A SIF image outside the project is named by its file name, as the archive's copy is.
        if Path(container.sif.path).is_absolute():
            container.sif.path = Path(container.sif.path).name
        if container.reference is not None and Path(container.reference).is_absolute():
            container.reference = Path(container.reference).name
    return portable
