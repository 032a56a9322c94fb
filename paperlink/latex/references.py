"""The one resolver of a manuscript's references and ``digest=`` pins, for ``paperlink latex``, ``paperlink
verify``, the viewer and (mirrored in expl3) ``paperlink.sty``.

The rules, also in the manual (paperlink/texfiles/paperlink-doc.tex, "References"):

* A reference is ``LABEL``, ``LABEL:PATH`` or ``LABEL?FRAGMENT``, split at its first ``:``, or failing
  that at its first ``?`` (so a PATH may hold ``?`` and ``:``); spaces around the reference and around
  each part are dropped. Labels are compared as strings.
* ``LABEL`` names the record's only image output (a suffix in :data:`IMAGE_SUFFIXES`, any case).
* ``LABEL:PATH`` names the output whose path is PATH, as the record shows it (relative to the project
  root) or as ``\\includegraphics`` opens it from the manuscript's folder (``../figures/a.pdf``). PATH is
  normalised first (:func:`normalise_path`): ``.`` and empty segments are dropped and ``DIR/..`` pairs
  collapse, so ``./figures//a.pdf`` and ``figures/../figures/a.pdf`` are ``figures/a.pdf``. Names are
  compared exactly: case matters, and a file name alone is not a path. For a record imported from
  Sumatra, PATH may also be relative to Sumatra's data store (``aliases``), as Sumatra wrote it.
* ``LABEL?FRAGMENT`` names the one output whose path (as the record shows it) contains FRAGMENT, exactly
  as written.
* The outputs are the record's files, listed by path; none, or more than one, matching is an error.
* ``digest=HEX`` or ``digest=ALGO:HEX`` (ALGO ``sha256``, ``sha1`` or ``md5``; any case) pins the
  output: a bare HEX's algorithm comes from its length (64, 40, 32 digits), a prefix must agree with it,
  and the record's digest of that algorithm must be HEX. An empty ``digest=`` is an error. (At compile
  time paperlink.sty compares the pin with the digests the data file declares for the record, and the
  file itself with the record's MD5, the one digest TeX computes.)

Every failure is a :class:`UnresolvedReference` whose ``code`` is the name of paperlink.sty's message and whose
``message`` is that message's text without its leading ``Figure`` (``Figure or value`` for an unknown
label) and final period, so that ``paperlink latex`` tells an author before compiling what TeX would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol

from paperlink.core.files import FileDigest
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import RecordNotFound, UnresolvedReference
from paperlink.latex.manuscript import Reference

IMAGE_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".eps", ".ps", ".svg", ".tif", ".tiff", ".gif")
# A bare hex digest's algorithm, from its length.
DIGEST_LENGTHS = {64: "sha256", 40: "sha1", 32: "md5"}

UNKNOWN_LABEL = "unknown-label"
UNKNOWN_PATH = "unknown-path"
UNKNOWN_FRAGMENT = "unknown-fragment"
AMBIGUOUS = "ambiguous"
NO_IMAGE = "no-image"
BAD_DIGEST = "bad-digest"
DIGEST_MISMATCH = "digest-mismatch"


class Digested(Protocol):
    """An output with its digests: a record's :class:`FileDigest`, or a data file's entry."""

    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def md5(self) -> str | None: ...
    @property
    def sha1(self) -> str | None: ...


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def tex_path(root: Path, folder: Path, path: str) -> str:
    """An output's ``path`` (relative to the project ``root``, or absolute) as a manuscript in ``folder``
    names it: what ``\\includegraphics`` opens, and what ``LABEL:`` also accepts."""
    return Path(os.path.relpath(root / path, folder)).as_posix()


def normalise_path(path: str) -> str:
    """``path`` with ``.`` and empty segments dropped and ``DIR/..`` pairs collapsed (a leading ``..``
    stays, and so does a leading ``/``). paperlink.sty's ``\\__paperlink_normalise:`` does the same."""
    kept: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and kept and kept[-1] != "..":
            kept.pop()
        else:
            kept.append(part)
    return ("/" if path.startswith("/") else "") + "/".join(kept)


def resolve_path(
    reference: Reference,
    paths: Iterable[str],
    tex_paths: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """The one of ``paths`` (record ``reference.label``'s outputs, relative to the project root) that
    ``reference`` names; ``tex_paths`` gives each as the manuscript's folder sees it, ``aliases`` as the
    tool that made an imported record named it (Sumatra: relative to its data store). Raises
    :class:`UnresolvedReference`."""
    listing = sorted(paths)
    label = reference.label
    if reference.path is not None:
        wanted = normalise_path(reference.path)
        seen = tex_paths or {}
        hits = [p for p in listing if wanted in (p, seen.get(p, p))]
        if not hits and aliases:  # Sumatra's form, relative to an imported record's data store
            hits = [p for p in listing if aliases.get(p) == wanted]
        if not hits:
            raise UnresolvedReference(
                UNKNOWN_PATH,
                f"'{reference}': record '{label}' has no output '{reference.path}' "
                f"(outputs: {_listing(listing)})",
                hint="use one of the paths listed, as the record shows it (relative to the project "
                "root) or as \\includegraphics opens it from the manuscript's folder",
            )
    elif reference.fragment is not None:
        hits = [p for p in listing if reference.fragment in p]
        if not hits:
            raise UnresolvedReference(
                UNKNOWN_FRAGMENT,
                f"'{reference}': no output of record '{label}' contains '{reference.fragment}' "
                f"(outputs: {_listing(listing)})",
                hint="use a fragment of one of the listed paths",
            )
    else:
        hits = [p for p in listing if is_image(p)]
        if not hits:
            raise UnresolvedReference(
                NO_IMAGE,
                f"'{reference}': record '{label}' has no image output (outputs: {_listing(listing)})",
                hint=f"name the output with '{label}:PATH', or check that the run wrote its figure "
                "into an output folder",
            )
    if len(hits) > 1:
        raise UnresolvedReference(
            AMBIGUOUS,
            f"'{reference}' is ambiguous: record '{label}' has several matching outputs: "
            + ", ".join(hits),
            hint=f"name one exactly with '{label}:PATH' or a longer '{label}?FRAGMENT', "
            f"e.g. '{label}:{hits[0]}'",
        )
    return hits[0]


def _listing(paths: list[str]) -> str:
    return ", ".join(paths) or "none"


def unknown_label(reference: Reference, hint: str | None = None) -> UnresolvedReference:
    """The error for a reference whose label names no record (``hint``: e.g. the store's near labels)."""
    return UnresolvedReference(
        UNKNOWN_LABEL,
        f"'{reference}': no record labelled '{reference.label}'",
        hint=hint or "check the label ('paperlink list' shows them)",
    )


def resolve_output(
    record: Record, reference: Reference, *, root: Path | None = None, folder: Path | None = None
) -> FileDigest:
    """The output of ``record`` that ``reference`` names; raises :class:`UnresolvedReference`.

    With the project ``root`` and the manuscript's ``folder``, ``LABEL:PATH`` also takes the path from the
    manuscript's folder.
    """
    outputs = {o.path: o for o in record.outputs if o.kind == "file"}
    tex_paths = (
        {p: tex_path(root, folder, p) for p in outputs}
        if root is not None and folder is not None
        else None
    )
    aliases = {p: alias for p in outputs if (alias := record.datastore_path(p)) is not None}
    return outputs[resolve_path(reference, outputs, tex_paths, aliases)]


def resolve(
    store: RecordStore,
    reference: Reference,
    *,
    root: Path | None = None,
    folder: Path | None = None,
) -> tuple[Record, FileDigest]:
    """The record and output a reference names; raises :class:`UnresolvedReference`."""
    try:
        record = store.get(reference.label)
    except RecordNotFound as exc:
        raise unknown_label(reference, exc.hint) from exc
    return record, resolve_output(record, reference, root=root, folder=folder)


def parse_digest(reference: Reference, written: str) -> tuple[str, str]:
    """``(algorithm, lowercase hex)`` of a ``digest=`` pin; raises :class:`UnresolvedReference`."""
    text = written.strip().lower()
    prefix, colon, value = text.partition(":") if ":" in text else ("", "", text)
    algorithm = DIGEST_LENGTHS.get(len(value))
    if (
        algorithm is None
        or (colon and prefix != algorithm)
        or not re.fullmatch(r"[0-9a-f]+", value)
    ):
        raise UnresolvedReference(
            BAD_DIGEST,
            f"'{reference}': digest='{written}' is not a sha1, sha256 or md5 hex digest",
            hint="give 40 (sha1), 64 (sha256) or 32 (md5) hexadecimal digits, bare or after sha1:, "
            "sha256: or md5:, as 'paperlink show' prints them",
        )
    return algorithm, value


def check_digest(reference: Reference, written: str, label: str, output: Digested) -> None:
    """``digest=written`` must be the digest record ``label`` holds for ``output``; raises
    :class:`UnresolvedReference` (``bad-digest`` or ``digest-mismatch``)."""
    algorithm, given = parse_digest(reference, written)
    recorded = str(getattr(output, algorithm) or "").lower()
    if recorded != given:
        raise UnresolvedReference(
            DIGEST_MISMATCH,
            f"'{reference}' ({output.path}): the manuscript expects {algorithm}:{given} but record "
            f"'{label}' says {algorithm}:{recorded}",
            hint="the figure was made by another run than the manuscript says: update digest= to the "
            "record's value, or cite the run that made the expected figure",
        )
