"""A Julia run's packages, read from its active project's manifest without starting Julia.

The active project is found as Julia finds it (the manual's "Code Loading" and Pkg's "Working with
Environments"): the command's ``--project[=PATH]``, else ``JULIA_PROJECT``. ``@.`` (and ``--project``
with no value) is the first ``JuliaProject.toml`` or ``Project.toml`` upward from the working folder,
stopping at the home folder (``@script``: upward from the script's folder); ``@NAME`` is the named
environment ``environments/NAME`` of a depot (``JULIA_DEPOT_PATH``, else ``~/.julia``). With none of
them, or when ``@.`` finds nothing, it is the default environment ``environments/v<major>.<minor>``,
whose version ``julia --version`` gives. Its manifest lies beside it (``manifest = "…"`` in the project
file, else ``JuliaManifest-v1.10.toml``, ``Manifest-v1.10.toml``, ``JuliaManifest.toml``,
``Manifest.toml``), in either of Pkg's formats: ``manifest_format = "2.0"`` with ``[[deps.Name]]`` tables
of ``uuid``, ``version`` and ``git-tree-sha1``, or the first one, whose top-level keys are the package
names. Standard libraries carry no version there and are left out, as ``Pkg.dependencies()`` gives them
none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from paperlink.core.config import parse_toml
from paperlink.core.envpackages import Package, sort_packages
from paperlink.core.patterns import LazyPattern

PROJECT_NAMES = ("JuliaProject.toml", "Project.toml")
# Julia's options that take their value as the next argument (`-t 4`, `--eval CODE`): skipped whole
# while looking for --project among the options before the script.
_VALUE_OPTIONS = {
    "-e", "--eval", "-E", "--print", "-L", "--load", "-t", "--threads", "-p", "--procs",
    "-J", "--sysimage", "-C", "--cpu-target", "--machine-file", "--depot",
}  # fmt: skip
_VERSION = LazyPattern(r"julia version (\d+)\.(\d+)")


def project_option(argv: list[str]) -> tuple[str | None, str | None]:
    """The value of the command's ``--project`` (``@.`` when it has none; None without one) and the
    script it runs (None for ``-e CODE`` or a REPL). Only Julia's own options count: those before the
    script or ``--``."""
    project = None
    args = iter(argv[1:])
    for arg in args:
        if arg == "--project":
            project = "@."
        elif arg.startswith("--project="):
            project = arg.partition("=")[2] or "@."
        elif arg in _VALUE_OPTIONS:
            next(args, None)
        elif arg == "--":
            return project, next(args, None)
        elif not arg.startswith("-"):
            return project, arg
    return project, None


def julia_minor_version(text: str) -> str | None:
    """``1.10`` from ``julia --version``'s ``julia version 1.10.4``."""
    match = _VERSION.re.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def depots(environ: Mapping[str, str]) -> list[Path]:
    """The depots, first first: ``JULIA_DEPOT_PATH`` (an empty entry stands for the default), else
    ``~/.julia``."""
    home = Path(environ.get("HOME") or Path.home())
    default = home / ".julia"
    given = environ.get("JULIA_DEPOT_PATH")
    if not given:
        return [default]
    found = [Path(entry).expanduser() if entry else default for entry in given.split(os.pathsep)]
    return found or [default]


def active_project(
    argv: list[str],
    environ: Mapping[str, str],
    cwd: Path,
    version: Callable[[], str | None],
) -> Path | None:
    """The project file (which may not exist yet, in an environment nothing was added to) that a Julia
    started with ``argv`` in ``cwd`` and ``environ`` would activate; ``version`` gives ``1.10`` when asked
    (the default environment needs it); None when that is not known."""
    spec, script = project_option(argv)
    if spec is None:
        spec = environ.get("JULIA_PROJECT") or None  # empty: none, as Julia reads it
    home = Path(environ.get("HOME") or Path.home())
    if spec in ("@.", "@script"):
        start = cwd if spec == "@." or script is None else (cwd / script).parent
        found = _upward(start, home)
        if found is not None:
            return found
        spec = None
    if spec is None or spec == "@v#.#":
        minor = version()
        return _named(f"v{minor}", environ) if minor else None
    if spec.startswith("@"):
        return _named(spec[1:], environ) if spec != "@stdlib" else None
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else cwd / path
    return path if path.name in PROJECT_NAMES else _project_file(path)


def _upward(folder: Path, home: Path) -> Path | None:
    """The first project file in ``folder`` or above it, not above the home folder."""
    for candidate in [folder, *folder.parents]:
        for name in PROJECT_NAMES:
            if (candidate / name).is_file():
                return candidate / name
        if candidate == home:
            return None
    return None


def _named(name: str, environ: Mapping[str, str]) -> Path:
    """A named environment: the first depot that has it, else where the first depot would make it."""
    places = [_project_file(depot / "environments" / name) for depot in depots(environ)]
    for place in places:
        if place.is_file() or place.parent.is_dir():
            return place
    return places[0]


def _project_file(folder: Path) -> Path:
    for name in PROJECT_NAMES:
        if (folder / name).is_file():
            return folder / name
    return folder / "Project.toml"


def find_manifest(project: Path, version: Callable[[], str | None]) -> Path | None:
    """The manifest beside project file ``project``, or None when the environment has none (nothing was
    ever added to it)."""
    folder = project.parent
    if project.is_file():
        try:
            named = parse_toml(project.read_text(encoding="utf-8")).get("manifest")
        except (OSError, ValueError):
            named = None
        if isinstance(named, str) and (folder / named).is_file():
            return folder / named
    names = ["JuliaManifest.toml", "Manifest.toml"]
    if any(folder.glob("*Manifest-v*.toml")):
        minor = version()  # Julia 1.10.8 and later prefer a manifest named for their version
        if minor:
            names[:0] = [f"JuliaManifest-v{minor}.toml", f"Manifest-v{minor}.toml"]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def read_manifest(path: Path) -> list[Package]:
    """The packages of a manifest in either format; raises ``OSError`` or ``ValueError`` when it cannot
    be read or is not TOML."""
    data = parse_toml(path.read_text(encoding="utf-8"))
    if "manifest_format" in data:
        deps = data.get("deps")
        entries: Mapping[str, Any] = deps if isinstance(deps, dict) else {}
    else:  # the first format: the packages are the top-level keys
        entries = {k: v for k, v in data.items() if isinstance(v, list | dict)}
    found = []
    for name, items in entries.items():
        for entry in items if isinstance(items, list) else [items]:
            if not isinstance(entry, dict) or not entry.get("version"):
                continue
            found.append(
                Package(
                    name=str(name),
                    version=str(entry["version"]),
                    uuid=str(entry.get("uuid") or "") or None,
                    git_tree_sha1=str(entry.get("git-tree-sha1") or "") or None,
                )
            )
    return sort_packages(found)
