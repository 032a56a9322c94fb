"""A trace sorted for the record: which files are the project's inputs and the run's outputs, and the files
read outside the project summarised by the Debian packages that own them, the Python modules and the folders.

dpkg's file lists are read directly (``dpkg-query -S`` compares every path with every entry: ten times
slower for a few hundred paths); the answers are cached in the store by the status file's mtime, so a
run pays for them once per set of system files and dpkg state.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from paperlink.core.model import model
from paperlink.recorder.tracing import FileTrace, is_pseudo

if TYPE_CHECKING:
    from paperlink.core.store import RecordStore


@model
class TracedFiles:
    """A trace sorted for the record: absolute paths, each list sorted."""

    inputs: list[str]  # project files it read (before writing them, if it did)
    changed_inputs: list[str]  # of those, the ones it wrote afterwards: their read content is gone
    outputs: list[str]  # files it wrote that are there at the end, wherever they are
    deleted: list[str]  # files that were there before and that it removed
    system: list[str]  # files it read outside the project, or in a Python environment inside it


def sort_files(
    trace: FileTrace, root: Path, *, skip: Iterable[str] = (), cache_dirs: Iterable[str] = ()
) -> TracedFiles:
    """Sort ``trace`` relative to the project ``root``. ``skip`` lists folders under the root that are
    never inputs or outputs (``.git``, ``.paperlink``); ``cache_dirs`` folders whose files are caches
    (``~/.cache``), never outputs. Bytecode caches (``__pycache__``) are neither inputs nor outputs."""
    top = os.fspath(root)
    skipped = tuple(os.path.join(top, folder) + "/" for folder in skip)
    caches = tuple(os.path.normpath(folder) + "/" for folder in cache_dirs)

    def ignored(path: str) -> bool:
        return is_pseudo(path) or path.startswith(skipped) or "/__pycache__/" in path

    inside = top + "/"
    inputs: list[str] = []
    system: list[str] = []
    for read in trace.reads:
        path = _source_of(read)
        if path is None or ignored(path) or path in trace.written:
            continue
        if path.startswith(inside) and not _in_environment(path[len(inside) :], top):
            if _is_file_or_gone(path):
                inputs.append(path)
        elif _is_file_or_gone(path):
            system.append(os.path.realpath(path))
    outputs: list[str] = []
    for path in trace.written:
        if ignored(path) or path.startswith(caches):
            continue
        outputs.extend(_existing_files(path))
    deleted = [
        p for p in trace.deleted if not ignored(p) and not p.startswith(caches) and not _exists(p)
    ]
    return TracedFiles(
        inputs=sorted(inputs),
        changed_inputs=sorted(p for p in trace.read_then_written if p in set(inputs)),
        outputs=sorted(set(outputs)),
        deleted=sorted(deleted),
        system=sorted(set(system)),
    )


def _source_of(path: str) -> str | None:
    """A module's source for its bytecode in ``__pycache__`` (Python reads the .pyc, not the .py)."""
    if "/__pycache__/" not in path:
        return path
    folder, name = os.path.split(path)
    source = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
    return source if os.path.exists(source) else None


def _in_environment(rel: str, top: str) -> bool:
    """Whether a project path belongs to a Python environment kept inside the project (a ``.venv``)."""
    parts = rel.split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    return len(parts) > 1 and os.path.isfile(os.path.join(top, parts[0], "pyvenv.cfg"))


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _is_file_or_gone(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return not os.path.lexists(path)


def _existing_files(path: str) -> list[str]:
    try:
        st = os.lstat(path)
    except OSError:
        return []
    if stat.S_ISDIR(st.st_mode):  # a folder renamed into place: its files
        return [
            os.path.join(folder, name)
            for folder, _, names in os.walk(path)
            if "/__pycache__" not in folder
            for name in names
        ]
    return [path] if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) else []


# -- summarising system files ----------------------------------------------------------------------------
@model
class SystemSummary:
    """Files read outside the project, in a few lines: owning Debian packages, Python modules, folders."""

    files: int = 0
    debian_packages: dict[str, str] = field(default_factory=dict)  # package -> version
    python_modules: list[str] = field(default_factory=list)  # top-level names under site-packages
    other_folders: dict[str, int] = field(default_factory=dict)  # folder -> files read there


def summarise_system(paths: list[str], owners: Mapping[str, str]) -> SystemSummary:
    """``owners`` maps a path to ``package version`` (from :func:`debian_owners`)."""
    summary = SystemSummary(files=len(paths))
    modules: set[str] = set()
    for path in paths:
        owner = owners.get(path)
        if owner:
            name, _, version = owner.partition(" ")
            summary.debian_packages[name] = version
            continue
        parts = path.split("/")
        for marker in ("site-packages", "dist-packages"):
            if marker in parts:
                index = parts.index(marker)
                if index + 1 < len(parts):
                    top = parts[index + 1]
                    if not top.endswith((".dist-info", ".egg-info", ".pth")):
                        modules.add(top.split(".", 1)[0])
                break
        else:
            folder = os.path.dirname(path)
            summary.other_folders[folder] = summary.other_folders.get(folder, 0) + 1
    summary.python_modules = sorted(modules)
    summary.debian_packages = dict(sorted(summary.debian_packages.items()))
    summary.other_folders = dict(sorted(summary.other_folders.items()))
    return summary


# Debian's merged /usr: dpkg may list /usr/lib/x/libc.so.6 as /lib/x/libc.so.6.
_MERGED = ("/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/lib32/", "/usr/lib64/", "/usr/libx32/")
DPKG_INFO = "/var/lib/dpkg/info"
DPKG_STATUS = "/var/lib/dpkg/status"


def debian_owners(
    paths: Iterable[str], info: str = DPKG_INFO, status: str = DPKG_STATUS
) -> dict[str, str]:
    """``path -> "package version"`` for the paths a Debian package installed; empty without dpkg.

    Reads dpkg's file lists once (``dpkg-query -S`` compares every path with every list entry, which is
    ten times slower for a few hundred paths); callers cache the answers by the status file's mtime.
    """
    wanted: dict[bytes, list[str]] = {}
    for path in paths:
        for name in (path, path[4:] if path.startswith(_MERGED) else None):
            if name is not None:
                wanted.setdefault(os.fsencode(name), []).append(path)
    if not wanted:
        return {}
    try:
        lists = [entry for entry in os.scandir(info) if entry.name.endswith(".list")]
    except OSError:
        return {}
    package_of: dict[str, str] = {}
    for entry in lists:
        try:
            with open(entry.path, "rb") as stream:
                lines = stream.read().split(b"\n")
        except OSError:
            continue
        package = entry.name[: -len(".list")]
        for line in lines:
            for path in wanted.get(line, ()):
                package_of.setdefault(path, package)
    versions = _dpkg_versions(status, {name.split(":")[0] for name in package_of.values()})
    return {
        path: f"{package} {versions.get(package.split(':')[0], '')}".rstrip()
        for path, package in package_of.items()
    }


def _dpkg_versions(status: str, names: set[str]) -> dict[str, str]:
    if not names:
        return {}
    try:
        text = Path(status).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    versions: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        name = fields.get("Package")
        if name in names and "installed" in fields.get("Status", "") and "Version" in fields:
            versions[name] = fields["Version"]
    return versions


def utf8_only(paths: list[str], left_out: list[str], what: str) -> list[str]:
    """The paths a record can hold: its JSON is UTF-8, and a name that is not is noted, not stored."""
    kept = []
    dropped = 0
    for path in paths:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            dropped += 1
            continue
        kept.append(path)
    if dropped:
        left_out.append(f"{dropped} file(s) {what} whose names are not valid UTF-8")
    return kept


def summarise_system_cached(
    store: RecordStore, paths: list[str], pending: list[tuple[str, str]]
) -> SystemSummary:
    """:func:`summarise_system` with the owners cached in the store by dpkg's state (what is learnt is
    added to ``pending``, for the run's last transaction)."""
    try:
        stamp = os.stat(DPKG_STATUS).st_mtime_ns
    except OSError:
        return summarise_system(paths, {})
    keys = {path: f"dpkg:{stamp}:{path}" for path in paths}
    cached = store.cache_get_many(keys.values())
    owners = {path: cached[key] for path, key in keys.items() if key in cached}
    missing = [path for path in paths if keys[path] not in cached]
    if missing:
        learnt = debian_owners(missing)
        for path in missing:
            owners[path] = learnt.get(path, "")
            pending.append((keys[path], owners[path]))
    return summarise_system(paths, {p: o for p, o in owners.items() if o})
