"""Resolve a manuscript's reference (``LABEL``, ``LABEL:PATH``, ``LABEL?FRAGMENT``) to a record's output.

Sumatra's meaning: ``LABEL`` is the record's only image output, ``LABEL:PATH`` the output with exactly that
path (relative to the project root, as the record shows it, or to the manuscript's folder, as
``\\includegraphics`` would open it, or for a record imported from Sumatra relative to its data store),
``LABEL?FRAGMENT`` the one output whose path contains the fragment. Every way this can fail is a :class:`ReferenceError` that says what to write instead.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from paperlink.errors import RecordNotFound
from paperlink.manuscript import Reference
from paperlink.records import FileDigest, Record
from paperlink.store import RecordStore

IMAGE_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".eps", ".ps", ".svg", ".tif", ".tiff", ".gif")


class ReferenceError(RecordNotFound):
    """A reference that names no output, or more than one."""


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def tex_path(root: Path, folder: Path, path: str) -> str:
    """An output's ``path`` (relative to the project ``root``, or absolute) as a manuscript in ``folder``
    names it: what ``\\includegraphics`` opens, and what paperlink.sty also accepts after ``LABEL:``."""
    return Path(os.path.relpath(root / path, folder)).as_posix()


def resolve_output(
    record: Record, reference: Reference, *, root: Path | None = None, folder: Path | None = None
) -> FileDigest:
    """The output of ``record`` that ``reference`` names; raises :class:`ReferenceError`.

    With the project ``root`` and the manuscript's ``folder``, ``LABEL:PATH`` also takes the path from the
    manuscript's folder, as paperlink.sty does.
    """
    outputs = [o for o in record.outputs if o.kind == "file"]
    if reference.path is not None:
        wanted = reference.path[2:] if reference.path.startswith("./") else reference.path
        for item in outputs:
            if item.path == wanted or (
                root is not None
                and folder is not None
                and tex_path(root, folder, item.path) == reference.path
            ):
                return item
        # Sumatra's form: the path relative to an imported record's data store root.
        for item in outputs:
            if record.datastore_path(item.path) == wanted:
                return item
        raise ReferenceError(
            f"'{reference}': record '{record.label}' has no output '{reference.path}'",
            hint=_outputs_hint(record),
        )
    if reference.fragment is not None:
        found = [o for o in outputs if reference.fragment in o.path]
        if len(found) == 1:
            return found[0]
        if not found:
            raise ReferenceError(
                f"'{reference}': no output of record '{record.label}' has '{reference.fragment}' in its path",
                hint=_outputs_hint(record),
            )
        raise ReferenceError(
            f"'{reference}' is ambiguous: {len(found)} outputs of '{record.label}' match "
            f"({', '.join(o.path for o in found)})",
            hint=f"write the exact path, e.g. '{record.label}:{found[0].path}'",
        )
    images = [o for o in outputs if is_image(o.path)]
    if len(images) == 1:
        return images[0]
    if not images:
        raise ReferenceError(
            f"'{reference}': record '{record.label}' has no image output",
            hint=_outputs_hint(record),
        )
    raise ReferenceError(
        f"'{reference}': record '{record.label}' has {len(images)} image outputs "
        f"({', '.join(o.path for o in images)})",
        hint=f"name one, e.g. '{record.label}:{images[0].path}'",
    )


def resolve(store: RecordStore, reference: Reference) -> tuple[Record, FileDigest]:
    """The record and output a reference names (unknown labels raise :class:`RecordNotFound`)."""
    record = store.get(reference.label)
    return record, resolve_output(record, reference)


def _outputs_hint(record: Record) -> str:
    paths = [o.path for o in record.outputs if o.kind == "file"]
    if not paths:
        return f"record '{record.label}' has no outputs at all; check the run ('paperlink show {record.label}')"
    shown = ", ".join(paths[:6]) + (" …" if len(paths) > 6 else "")
    return f"its outputs are: {shown}"
