"""Names that come from outside (an archive server's file keys, a record's paths, a tarball's members)
turned into paths only after they are checked: nothing paperlink writes may land outside its folder.

An archive's file name is one plain component (:func:`safe_member_name`); a record's path is relative and
made of plain components (:func:`safe_relative_path`), and :func:`inside` joins it to a folder and makes
sure no symlink on the way leads out. Each refusal is an :class:`UnsafeArchive` that names the culprit.
Downloads are still stored under their index, never under the server's name: the check is the second
wall, not the only one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from paperlink.errors import UnsafeArchive

# Control characters would let a name rewrite the line it is shown on (a terminal, a report).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _problem(name: str) -> str | None:
    """Why ``name`` is not one plain file-name component, or None when it is."""
    if not name:
        return "it is empty"
    if "\x00" in name:
        return "it holds a NUL character"
    if "/" in name:
        return "it holds '/'"
    if "\\" in name:
        return "it holds '\\'"
    if name.startswith("."):
        return "it starts with a dot ('.', '..' or a hidden file)"
    if _CONTROL.search(name):
        return "it holds a control character"
    return None


def safe_member_name(name: object, *, where: str) -> str:
    """``name`` when it is a plain file name (one component: no ``/``, ``\\``, NUL, control character or
    leading dot; its length does not matter, as downloads are stored under their index); raises
    :class:`UnsafeArchive` naming ``where`` it came from (``"record 123 on https://zenodo.org/api"``)
    otherwise."""
    if not isinstance(name, str):
        raise UnsafeArchive(
            f"{where} lists a file whose name is not text ({type(name).__name__})",
            hint="this is not an archive paperlink wrote; nothing was downloaded",
        )
    problem = _problem(name)
    if problem is not None:
        raise UnsafeArchive(
            f"{where} lists a file named {name!r}, which is not a plain file name ({problem}); "
            "paperlink refuses names that could point outside its folder",
            hint="the server or the archive is not what 'paperlink publish' made (tampered with, or "
            "not a paperlink archive); nothing was written outside paperlink's temporary folder",
        )
    return name


def safe_relative_path(path: object, *, what: str) -> PurePosixPath:
    """``path`` (a record's or a tarball's ``a/b/c``) when it is relative and each part is a plain name
    (no ``..``, ``.``, empty part, ``\\``, NUL or control character); raises :class:`UnsafeArchive`
    naming ``what`` (e.g. ``"record 'fig1': output"``) otherwise. Parts may start with a dot
    (``.config/x``): inside a folder of paperlink's own, that is harmless."""
    if not isinstance(path, str) or not path:
        raise UnsafeArchive(f"{what} has no path", hint="the record or archive is malformed")
    problem = None
    if path.startswith("/"):
        problem = "it is absolute"
    elif "\x00" in path or "\\" in path or _CONTROL.search(path):
        problem = "it holds NUL, '\\' or a control character"
    elif any(part in ("", ".", "..") for part in path.split("/")):
        problem = "it has an empty, '.' or '..' part"
    if problem is not None:
        raise UnsafeArchive(
            f"{what} {path!r} could point outside its folder ({problem})",
            hint="paperlink writes only inside its own folders; the record or archive was not made "
            "by paperlink, or was tampered with",
        )
    return PurePosixPath(path)


def inside(folder: Path, path: object, *, what: str) -> Path:
    """``folder / path`` for a :func:`safe_relative_path`, checked once every symlink on the way is
    followed (a committed ``figures -> /elsewhere`` link must not lead a write out of ``folder``)."""
    relative = safe_relative_path(path, what=what)
    target = folder.joinpath(*relative.parts)
    real_folder = os.path.realpath(folder)
    # The parent only: the file itself may be a symlink that is about to be replaced or removed.
    real_parent = os.path.realpath(target.parent)
    if real_parent != real_folder and not real_parent.startswith(real_folder + os.sep):
        raise UnsafeArchive(
            f"{what} {str(relative)!r} leads outside {folder} through a symbolic link "
            f"(to {real_parent})",
            hint="paperlink writes only inside its own folders; remove the link, or record the run "
            "without it",
        )
    return target
