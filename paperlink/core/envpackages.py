"""A run's software environment beyond its interpreter: the packages of each manager (conda, dpkg, pip, R,
Julia) and the lock and environment files of the project, each with its sha256.

An :class:`Environment` is content: its digest is the sha256 of its canonical JSON, a record names it by
that digest and the store keeps it once however many runs share it. The readers here are pure (a
``conda-meta`` folder, a dpkg status file's text); :mod:`paperlink.envscan` runs the tools and caches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from paperlink.core.model import model
from paperlink.core.patterns import LazyPattern
from paperlink.core.redaction import redact_url
from paperlink.core.serialize import canonical_json, from_dict

# The managers, in the order `show`, the viewer and `diff` list them.
MANAGERS = ("conda", "dpkg", "pip", "r", "julia")
MANAGER_TITLES = {
    "conda": "conda",
    "dpkg": "Debian packages (dpkg)",
    "pip": "Python (pip)",
    "r": "R",
    "julia": "Julia",
}


@model
class Package:
    """One installed package as its manager names it."""

    name: str
    version: str
    build: str | None = None  # conda's build string
    channel: str | None = None  # conda's channel URL
    md5: str | None = None  # conda's package archive md5 (what an @EXPLICIT spec checks)
    url: str | None = None  # where conda fetched it
    architecture: str | None = None  # dpkg's architecture (amd64, all, …)
    uuid: str | None = None  # a Julia package's UUID (its name is unique only with it)
    git_tree_sha1: str | None = None  # the git tree hash of a Julia package's content

    def to_dict(self) -> dict[str, str]:
        """The fields that are set (thousands of packages per environment: no ``dataclasses.asdict``)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            build=text("build"),
            channel=text("channel"),
            md5=text("md5"),
            url=text("url"),
            architecture=text("architecture"),
            uuid=text("uuid"),
            git_tree_sha1=text("git_tree_sha1"),
        )


@model
class EnvironmentFile:
    """A lock or environment file of the project (``uv.lock``, ``environment.yml``, ``Dockerfile``…)."""

    path: str  # relative to the project root
    sha256: str
    size: int


@model
class Environment:
    """Everything a run's environment was made of, by manager; ``sources`` says where each list came from
    (``host``, ``image sha256:…``, a conda prefix), ``conda_name`` the conda environment's name."""

    packages: dict[str, list[Package]] = field(default_factory=dict)
    files: list[EnvironmentFile] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    conda_name: str | None = None
    conda_platform: str | None = None  # conda's subdir, e.g. linux-64 (an @EXPLICIT spec names it)
    image: str | None = (
        None  # the pinned image reference the run used (repo@sha256:… or the image ID)
    )

    def to_dict(self) -> dict[str, Any]:
        # Only the fields a package has: a dpkg entry carries no conda columns, and the JSON stays small.
        return {
            "packages": {m: [p.to_dict() for p in items] for m, items in self.packages.items()},
            "files": [dataclasses.asdict(f) for f in self.files],
            "sources": dict(self.sources),
            "conda_name": self.conda_name,
            "conda_platform": self.conda_platform,
            "image": self.image,
        }

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        packages = data.get("packages") or {}
        return cls(
            packages={m: [Package.from_dict(p) for p in items] for m, items in packages.items()},
            files=[from_dict(EnvironmentFile, f) for f in data.get("files") or []],
            sources={str(k): str(v) for k, v in (data.get("sources") or {}).items()},
            conda_name=data.get("conda_name"),
            conda_platform=data.get("conda_platform"),
            image=data.get("image"),
        )

    @classmethod
    def from_json(cls, text: str) -> Environment:
        return cls.from_dict(json.loads(text))

    def digest(self) -> str:
        return digest_of(self.to_json())

    def managers(self) -> list[str]:
        """The managers with packages, in :data:`MANAGERS` order (unknown ones after, sorted)."""
        present = [m for m in self.packages if self.packages[m]]
        return sorted(present, key=lambda m: (MANAGERS.index(m) if m in MANAGERS else 99, m))

    def count(self) -> int:
        return sum(len(items) for items in self.packages.values())


def digest_of(canonical: str) -> str:
    """An environment's digest from its canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def sort_packages(items: list[Package]) -> list[Package]:
    return sorted(items, key=lambda p: (p.name.lower(), p.name, p.architecture or "", p.version))


# -- conda ------------------------------------------------------------------------------------------
def read_conda_meta(prefix: Path) -> tuple[list[Package], str | None]:
    """The packages of the conda environment at ``prefix`` from ``conda-meta/*.json`` (one file per
    package, conda's documented on-disk record), and the environment's platform (``subdir``).
    Files that are not valid records are passed over: conda writes ``history`` there too."""
    found: list[Package] = []
    subdirs: set[str] = set()
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "name" not in data or "version" not in data:
            continue
        channel = url_without_credentials(str(data.get("channel") or "")) or None
        subdir = str(data.get("subdir") or "") or None
        if subdir and subdir != "noarch":
            subdirs.add(subdir)
        url = url_without_credentials(str(data.get("url") or "")) or None
        if url is None and channel and data.get("fn"):
            url = f"{channel.rstrip('/')}/{data['fn']}"
        found.append(
            Package(
                name=str(data["name"]),
                version=str(data["version"]),
                build=str(data.get("build") or data.get("build_string") or "") or None,
                channel=channel,
                md5=str(data.get("md5") or "") or None,
                url=url,
            )
        )
    return sort_packages(found), (sorted(subdirs)[0] if subdirs else None)


# A private channel's token is part of its URL (…/t/<token>/channel/…): never recorded.
_CONDA_TOKEN = LazyPattern(r"/t/[^/]+(?=/)")


def url_without_credentials(url: str) -> str:
    """A channel or package URL without its credentials: the user-info and conda's ``/t/<token>``."""
    return _CONDA_TOKEN.re.sub("", redact_url(url))


def conda_environment_name(prefix: Path, default_env: str | None) -> str:
    """``CONDA_DEFAULT_ENV`` when set to a name, else the prefix's folder name (``base`` for an
    installation's root, which holds ``condabin``)."""
    if default_env and "/" not in default_env:
        return default_env
    if (prefix / "condabin").is_dir():
        return "base"
    return prefix.name


# -- dpkg -------------------------------------------------------------------------------------------
_FIELD = LazyPattern(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s?(.*)$")


def parse_dpkg_status(text: str) -> list[Package]:
    """The installed packages of a dpkg status file (``/var/lib/dpkg/status``: RFC 822 stanzas)."""
    found: list[Package] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            match = _FIELD.re.match(line)
            if match:
                fields[match.group(1).lower()] = match.group(2).strip()
        status = fields.get("status", "").split()
        if "package" not in fields or status[-1:] != ["installed"]:
            continue
        found.append(
            Package(
                name=fields["package"],
                version=fields.get("version", ""),
                architecture=fields.get("architecture") or None,
            )
        )
    return sort_packages(found)


DPKG_QUERY_FORMAT = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"


def parse_dpkg_query(text: str) -> list[Package]:
    """The installed packages in the output of ``dpkg-query -W -f`` with :data:`DPKG_QUERY_FORMAT`."""
    found: list[Package] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[0].startswith("ii"):
            continue
        found.append(Package(name=parts[1], version=parts[2], architecture=parts[3] or None))
    return sort_packages(found)


# -- lock and environment files --------------------------------------------------------------------
LOCK_FILE_PATTERNS = (
    "requirements*.txt",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
    "conda-lock.yaml",
    "pixi.lock",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "renv.lock",
    "Manifest.toml",
    "Project.toml",
    "Dockerfile",
    "Dockerfile.*",
    "*.Dockerfile",
    "Containerfile",
    "Singularity",
    "Singularity.*",
    "*.def",
)
_LOCK_FILE = LazyPattern(
    "|".join(
        "(?:" + re.escape(p).replace(r"\*", ".*") + ")"
        for p in LOCK_FILE_PATTERNS  # fnmatch's `*` only
    )
)


def is_environment_file(name: str) -> bool:
    return bool(_LOCK_FILE.re.fullmatch(name))
