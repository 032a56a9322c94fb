"""A self-contained copy of a manuscript: its sources, the generated files and every figure it uses.

``paperlink latex --tex main.tex --bundle DIR`` copies the manuscript and the files it inputs (keeping their
layout), the figures (under ``figures/`` inside the bundle, named by their record path), paperlink.sty,
sumatra.sty, paperlink.bib and a paperlink-data.tex rewritten for the bundle's layout, then packs DIR into a
deterministic ``DIR.tar.gz`` (sorted names, fixed times and owners, the files at the top level as arXiv
wants them), which compiles on arXiv or Overleaf as it is. arXiv runs no BibTeX or biber, so a manuscript with
a bibliography gets its ``.bbl`` made here (see :mod:`paperlink.latex.bibliography`).
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from paperlink.core.config import atomic_write_bytes, atomic_write_text
from paperlink.core.model import model
from paperlink.errors import LatexError
from paperlink.latex.bibliography import has_bibliography, make_bbl
from paperlink.latex.entries import FigureEntry, LatexData
from paperlink.latex.generate import BIB_FILE, DATA_FILE, STY_FILES, render_data_tex

if TYPE_CHECKING:
    from paperlink.latex.generate import LatexResult

# Things a manuscript commonly reads besides \input'ed .tex files.
_EXTRA_SUFFIXES = (".bib", ".bst", ".cls", ".sty", ".bbl")
_INPUT = re.compile(
    r"\\(?:input|include|subfile|bibliography|addbibresource|usepackage|documentclass)\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}"
)


@model
class ManuscriptBundle:
    """What ``bundle_manuscript`` made: the folder, its .tar.gz, the files in it and notes for the author."""

    folder: Path
    archive: Path
    files: list[str]
    notes: list[str]


# What must never be in a bundle that leaves the author's machine (see references to loopback in the issue
# tracker: a reader's PDF linked to http://127.0.0.1:8008 and file:///tmp/...).
_LOCAL_URL = re.compile(
    rb"file:/|https?://(?:localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)(?=[:/\s\x7d]|$)",
    re.IGNORECASE,
)


def _sources(tex: Path, uses_files: set[Path]) -> set[Path]:
    """The manuscript, every file the scan visited, and local .bib/.sty/.cls files it names."""
    base = tex.resolve().parent
    found = {tex.resolve(), *uses_files}
    queue = list(found)
    while queue:
        current = queue.pop()
        try:
            text = current.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for match in _INPUT.finditer(text):
            for name in match.group(1).split(","):
                name = name.strip()
                for candidate in (
                    base / name,
                    *(base / f"{name}{s}" for s in (".tex", *_EXTRA_SUFFIXES)),
                ):
                    if candidate.is_file() and candidate.resolve() not in found:
                        path = candidate.resolve()
                        found.add(path)
                        if path.suffix == ".tex":
                            queue.append(path)
    return {p for p in found if p.is_relative_to(base)}


def bundle_manuscript(tex: Path, folder: Path, result: LatexResult) -> ManuscriptBundle:
    """Gather ``tex`` and everything it needs into ``folder`` and ``folder.tar.gz``.

    Raises :class:`LatexError` when ``folder`` exists and is not empty, a figure is missing, the
    bibliography cannot be made into a ``.bbl``, or a generated file would carry a local path or URL.
    """
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        raise LatexError(
            f"bundle folder {folder} exists and is not empty", hint="remove it or name a new one"
        )
    base = tex.resolve().parent
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files = []
        generated = {base / name for name in (*STY_FILES, DATA_FILE, BIB_FILE)}
        for source in sorted(_sources(tex, {u.file for u in result.uses}) - generated):
            relative = source.relative_to(base)
            _copy(source, staging / relative)
            files.append(relative.as_posix())
        figures = []
        used = {
            (entry.label, entry.path)
            for _, entry in result.resolved
            if isinstance(entry, FigureEntry)
        }
        for entry in result.data.figures:
            inside = _bundled_path(entry.path)
            if (entry.label, entry.path) in used:
                source = (result.folder / entry.file).resolve()
                if not source.is_file():
                    raise LatexError(f"figure {entry.path} of record '{entry.label}' is missing")
                _copy(source, staging / inside)
                files.append(inside)
            figures.append(replace(entry, file=inside))
        data = LatexData(figures, result.data.values, result.data.references)
        for name in (*STY_FILES, BIB_FILE):
            _copy(result.folder / name, staging / name)
            files.append(name)
        atomic_write_text(
            staging / DATA_FILE,
            render_data_tex(data, project=_project_name(result), manuscript=tex.name),
        )
        files.append(DATA_FILE)
        notes: list[str] = []
        if has_bibliography(staging, files):
            bbl, note = make_bbl(staging, tex.name, files, base / f"{tex.stem}.bbl")
            if bbl not in files:
                files.append(bbl)
            notes.append(note)
        roots = _local_roots(base, result.folder)
        _refuse_local_references(staging, generated={*STY_FILES, BIB_FILE, DATA_FILE}, roots=roots)
        notes.extend(_local_references_in_sources(staging, files, roots))
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    archive = folder.with_name(f"{folder.name}.tar.gz")
    atomic_write_bytes(archive, deterministic_tarball(folder, sorted(files)))
    return ManuscriptBundle(folder, archive, sorted(files), notes)


def _local_roots(*folders: Path) -> list[str]:
    """The folders whose absolute paths must not appear in a bundle: the given ones and the project's root
    (the nearest folder above them holding paperlink.toml)."""
    roots = {str(f.resolve()) for f in folders}
    for folder in folders:
        for parent in folder.resolve().parents:
            if (parent / "paperlink.toml").is_file():
                roots.add(str(parent))
                break
    return sorted(r for r in roots if r != "/")


def _local_hits(data: bytes, roots: list[str]) -> list[str]:
    hits = [m.group(0).decode("ascii", "replace") for m in _LOCAL_URL.finditer(data)]
    return hits + [root for root in roots if root.encode() in data]


def _refuse_local_references(staging: Path, *, generated: set[str], roots: list[str]) -> None:
    """paperlink's own files in the bundle must not point at the author's machine."""
    for name in sorted(generated):
        path = staging / name
        if path.is_file() and (hits := _local_hits(path.read_bytes(), roots)):
            raise LatexError(
                f"the bundle's {name} refers to this machine ({hits[0]}), which a reader cannot reach",
                hint="publish (or reserve a DOI with 'paperlink publish --tex MAIN.tex --draft') or set a "
                "public base URL, then run 'paperlink latex' again",
            )


def _local_references_in_sources(staging: Path, files: list[str], roots: list[str]) -> list[str]:
    """The author's own files are theirs to change: local paths and URLs in them are reported."""
    notes = []
    for name in files:
        path = staging / name
        if path.suffix in (".tex", ".bib", ".bbl") and (
            hits := _local_hits(path.read_bytes(), roots)
        ):
            notes.append(f"{name} refers to this machine ({hits[0]}): a reader cannot follow it")
    return notes


def _project_name(result: LatexResult) -> str:
    text = (result.folder / DATA_FILE).read_text(encoding="utf-8").split("\n", 1)[0]
    match = re.search(r"for project '(.*)'\.", text)
    return match.group(1) if match else "paperlink"


def _bundled_path(record_path: str) -> str:
    """A record path inside the bundle: ``figures/`` keeps it, ``../x`` or absolute paths are flattened."""
    parts = [p for p in PurePosixPath(record_path).parts if p not in ("/", "..", ".")]
    return str(PurePosixPath("figures", *parts[-3:])) if parts[0] != "figures" else "/".join(parts)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def deterministic_tarball(folder: Path, names: list[str]) -> bytes:
    """The files ``names`` of ``folder``, at the archive's top level, as .tar.gz bytes that depend only on
    their names and contents."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            path = folder / name
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as stream:
                tar.addfile(info, stream)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()
