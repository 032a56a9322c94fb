"""What re-creates a recorded environment, in each manager's own format, and how two environments differ.

``requirements``: pinned pip requirements (``name==version``); ``conda``: an explicit spec (``@EXPLICIT``,
one package URL per line with ``#md5``), which ``conda create --file`` installs without solving; ``apt``:
one ``apt-get install`` line with ``name=version`` for each Debian package; ``dockerfile``: ``FROM`` the
image the run used, by digest, with the pip pins on top.
"""

from __future__ import annotations

from typing import Protocol

from paperlink.core.envpackages import MANAGERS, Environment, Package, sort_packages
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.errors import UsageError


class EnvironmentSource(Protocol):
    def get_environment(self, digest: str) -> Environment: ...


FORMATS = ("requirements", "conda", "apt", "dockerfile")
# The file name each format has in a published archive (after the environment's short digest).
FORMAT_FILES = {
    "requirements": "requirements.txt",
    "conda": "conda-explicit.txt",
    "apt": "apt-install.sh",
    "dockerfile": "Dockerfile",
}
_NEEDS = {"requirements": "pip", "conda": "conda", "apt": "dpkg"}


def environment_of(store: EnvironmentSource, record: Record) -> Environment | None:
    """The environment ``record`` names (by digest, in ``store``); for a record made before environments
    were captured, one made of its interpreter's distributions, or None when it has none either.
    Raises :class:`RecordNotFound` when the store lacks the environment the record names."""
    if record.environment_digest:
        return store.get_environment(record.environment_digest)
    if not record.packages:
        return None
    pip = sort_packages([Package(name=n, version=v) for n, v in record.packages.items()])
    return Environment(packages={"pip": pip}, sources={"pip": "interpreter"})


def available_formats(environment: Environment) -> list[str]:
    """The formats ``environment`` has something for."""
    found = [fmt for fmt in FORMATS if fmt in _NEEDS and environment.packages.get(_NEEDS[fmt])]
    if environment.image:
        found.append("dockerfile")
    return found


def render_environment(
    environment: Environment,
    fmt: str,
    *,
    label: str = "",
    requirements_name: str = "requirements.txt",
    digest: str | None = None,
    archived: bool = False,
) -> str:
    """``environment`` in format ``fmt`` (one of :data:`FORMATS`); raises :class:`UsageError` when the
    record holds nothing for it (no conda packages for ``conda``, no image for ``dockerfile``…).
    ``requirements_name`` is the pip requirements file a Dockerfile copies in; ``digest`` the record's
    environment digest the header names (default: ``environment``'s own; an archive renders the portable
    form, whose digest is not the record's).

    A package without a URL it can be downloaded from (none recorded, or only the file name a local
    channel's is cut to in an archive) is written as a comment. ``archived``: the file goes into an
    archive, where an image that no registry serves (an image ID, or a digest from a registry on the
    author's machine) is a build argument with how to load the archived image, not a reference to this
    machine."""
    if fmt not in FORMATS:
        raise UsageError(
            f"unknown environment format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}"
        )
    if fmt not in available_formats(environment):
        what = (
            "ran on no container image" if fmt == "dockerfile" else f"has no {_NEEDS[fmt]} packages"
        )
        have = ", ".join(available_formats(environment)) or "none"
        raise UsageError(
            f"record '{label}' {what}, so there is no {fmt} file to write",
            hint=f"formats this record has: {have}",
        )
    source = f"# The environment of paperlink record '{label}' ({digest or environment.digest()})\n"
    if fmt == "requirements":
        return source + _requirements(environment.packages["pip"])
    if fmt == "conda":
        return _conda_explicit(environment, source)
    if fmt == "apt":
        return "#!/bin/sh\n" + source + _apt(environment.packages["dpkg"])
    return _dockerfile(environment, source, requirements_name, archived=archived)


def _requirements(packages: list[Package]) -> str:
    return "".join(f"{p.name}=={p.version}\n" for p in packages)


def _conda_explicit(environment: Environment, source: str) -> str:
    lines = [
        source.rstrip("\n"),
        "# This file may be used to create an environment using:",
        "# $ conda create --name <env> --file <this file>",
        f"# platform: {environment.conda_platform or 'unknown'}",
        "@EXPLICIT",
    ]
    for p in environment.packages["conda"]:
        # Without a URL a package cannot be named in an explicit spec: say so where it would be.
        pin = f"{p.name}={p.version}={p.build or ''}"
        if p.url is None:
            lines.append(f"# {pin}: no URL recorded")
        elif "://" not in p.url:
            md5 = f", md5 {p.md5}" if p.md5 else ""
            lines.append(f"# {pin}: {p.url} came from a channel on the author's machine{md5}")
        else:
            lines.append(f"{p.url}#{p.md5}" if p.md5 else p.url)
    return "\n".join(lines) + "\n"


def _apt(packages: list[Package]) -> str:
    pins = [f"{p.name}={p.version}" for p in packages]
    return "apt-get install -y --no-install-recommends --allow-downgrades \\\n    " + (
        " \\\n    ".join(pins) + "\n"
    )


def _dockerfile(
    environment: Environment, source: str, requirements_name: str, *, archived: bool
) -> str:
    image = str(environment.image)
    if archived and (image.startswith("sha256:") or "@" not in image):
        # No registry serves it: the image the run used is the one published with it.
        lines = [
            source.rstrip("\n"),
            f"# The run's image, {image}, is in no public registry. Load the image archived with the",
            "# record (docker load -i IMAGE-ARCHIVE.tar), then build with",
            "# docker build --build-arg IMAGE=<the loaded image's ID or tag> .",
            "ARG IMAGE",
            "FROM ${IMAGE}",
        ]
    else:
        lines = [source.rstrip("\n"), f"FROM {image}"]
    pip = environment.packages.get("pip")
    if pip:
        lines += [f"COPY {requirements_name} /tmp/paperlink-requirements.txt",
                  "RUN python3 -m pip install --no-deps -r /tmp/paperlink-requirements.txt"]  # fmt: skip
    return "\n".join(lines) + "\n"


@model
class PackageChange:
    """One package that differs: ``left``/``right`` are its versions (None: not installed there)."""

    manager: str
    name: str
    left: str | None
    right: str | None


def package_changes(left: Environment | None, right: Environment | None) -> list[PackageChange]:
    """The packages that differ between two environments, grouped by manager (in :data:`MANAGERS`
    order), then by name; a version includes conda's build string, so a rebuild counts."""
    changes: list[PackageChange] = []
    managers = set((left.packages if left else {}) | (right.packages if right else {}))
    for manager in sorted(managers, key=lambda m: (MANAGERS.index(m) if m in MANAGERS else 99, m)):
        a = _versions(left, manager)
        b = _versions(right, manager)
        for name in sorted(set(a) | set(b), key=str.lower):
            if a.get(name) != b.get(name):
                changes.append(PackageChange(manager, name, a.get(name), b.get(name)))
    files_a = {f.path: f.sha256 for f in left.files} if left else {}
    files_b = {f.path: f.sha256 for f in right.files} if right else {}
    for path in sorted(set(files_a) | set(files_b)):
        if files_a.get(path) != files_b.get(path):
            sha_a, sha_b = files_a.get(path), files_b.get(path)
            changes.append(
                PackageChange(
                    "files",
                    path,
                    f"sha256:{sha_a[:12]}" if sha_a else None,
                    f"sha256:{sha_b[:12]}" if sha_b else None,
                )
            )
    return changes


def _versions(environment: Environment | None, manager: str) -> dict[str, str]:
    if environment is None:
        return {}
    found = {}
    for p in environment.packages.get(manager, []):
        key = f"{p.name}:{p.architecture}" if manager == "dpkg" and p.architecture else p.name
        found[key] = f"{p.version}={p.build}" if p.build else p.version
    return found
