"""A run's environment as an archive holds it (``environment-<short>.json``): nothing in it names the
author's machine, and its digest can be recomputed from the file and from the store.

A stored :class:`~paperlink.core.envpackages.Environment` may name local things: the conda prefix and the
programs or manifest a list was read through (``sources``), a local conda channel (a ``file:`` URL, or one
on this machine or network), an image in a registry on the author's network. :func:`portable_environment`
replaces each by its role and name (``conda prefix 'analysis'``, ``program 'Rscript'``, the package file's
name, the image's digest) and keeps everything else as it is: the packages of each manager with their
versions, builds and md5s, the lock files with their sha256, the conda environment's name and platform.
URLs lose their credentials (the store's never had them).

The archived file carries two digests (``FORMAT``):

- ``environment_digest``: the record's, the sha256 of the canonical JSON the store keeps, unchanged in
  meaning (old records and their digests stay valid). It names the environment; it cannot be recomputed
  from the archive, which does not hold the local paths;
- ``portable_digest``: the sha256 of the canonical JSON (sorted keys, no spaces) of the file's
  ``environment`` member. Anyone can recompute it from the file; ``paperlink verify`` also recomputes it
  from the store's environment (:func:`portable_environment` of it), which ties the archived file to the
  record's ``environment_digest``. When the environment names nothing local, both digests are the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from paperlink.core.envpackages import Environment, digest_of, url_without_credentials
from paperlink.core.publicurl import url_problem
from paperlink.core.serialize import canonical_json

FORMAT = "paperlink-environment/1"
# A value that is a path on the author's machine: absolute, in the home folder, or a Windows drive's.
_LOCAL_PATH = re.compile(r"^(?:/|~|[A-Za-z]:[\\/])")
_KEPT_SOURCES = ("host", "interpreter", "image")
_SUBDIR = re.compile(r"noarch|(?:linux|osx|win|emscripten|wasi|zos)-[a-z0-9_]+")


def archive_name(digest: str) -> str:
    """The archive's file of the environment with (record) digest ``digest``."""
    return f"environment-{digest.removeprefix('sha256:')[:12]}.json"


def local_problem(text: str) -> str | None:
    """Why ``text`` points at the author's machine (a local path, a ``file:`` URL, an address on this
    machine or network), or None."""
    lowered = text.lower()
    if _LOCAL_PATH.match(text):
        return f"{text} is a path on this machine"
    if lowered.startswith("file:"):
        return f"{text} is a file on this machine"
    if lowered.startswith(("http://", "https://")):
        return url_problem(text)
    return None


def portable_environment(environment: Environment) -> dict[str, Any]:
    """``environment`` as the archive holds it: the store's JSON with every local path and address
    replaced by its role and name (see the module docstring)."""
    data = environment.to_dict()
    data["sources"] = {
        manager: _portable_source(manager, str(source), environment.conda_name)
        for manager, source in sorted(data["sources"].items())
    }
    for packages in data["packages"].values():
        for package in packages:
            if package.get("url"):
                package["url"] = _portable_url(package["url"], file_name=True)
            if package.get("channel"):
                package["channel"] = _portable_url(package["channel"], file_name=False)
    for item in data["files"]:
        if _LOCAL_PATH.match(item["path"]):
            item["path"] = _name(item["path"])
    if data.get("image"):
        data["image"] = _portable_image(str(data["image"]))
    return data


def portable_digest(portable: Any) -> str:
    """The digest of a portable environment: sha256 of its canonical JSON."""
    return digest_of(canonical_json(portable))


def archived_environment(environment: Environment, digest: str) -> bytes:
    """The bytes of ``environment-<short>.json`` for the environment a record names by ``digest``."""
    portable = portable_environment(environment)
    # The digests first, for a reader; the environment's own keys sorted, as its digest reads them.
    document = {
        "format": FORMAT,
        "environment_digest": digest,
        "portable_digest": portable_digest(portable),
        "environment": json.loads(canonical_json(portable)),
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def archived_problem(data: bytes, digest: str, stored: Environment | None = None) -> str | None:
    """What is wrong with an archived environment file for the record environment ``digest``, or None
    when it is sound: it must parse, name ``digest``, hold the content its ``portable_digest`` says and,
    given the store's environment ``stored``, be that environment's portable form."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "it is not JSON"
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return f"it is not a paperlink environment file ({FORMAT})"
    named = document.get("environment_digest")
    if named != digest:
        return f"it is the environment {named}, not the record's {digest}"
    claimed = document.get("portable_digest")
    content = portable_digest(document.get("environment"))
    if claimed != content:
        return (
            f"its content is {content[:19]}… but it says {str(claimed)[:19]}…: it was changed after "
            "it was published"
        )
    if stored is not None:
        expected = portable_digest(portable_environment(stored))
        if content != expected:
            return (
                f"it holds {content[:19]}… but the store's environment {digest[:19]}… is "
                f"{expected[:19]}… in its portable form"
            )
    return None


def local_references(value: Any) -> Iterator[str]:
    """Every string inside ``value`` that points at the author's machine (:func:`local_problem`)."""
    if isinstance(value, str):
        if local_problem(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from local_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from local_references(item)


def _name(path: str) -> str:
    return PurePosixPath(path.replace("\\", "/").rstrip("/")).name or "?"


def _portable_source(manager: str, source: str, conda_name: str | None) -> str:
    """Where a manager's list came from, by role: ``host``, ``interpreter`` and ``image …`` as they are,
    a local path by its role and name."""
    if source in _KEPT_SOURCES or source.startswith("image "):
        return source
    if not local_problem(source):
        return source  # a path inside the project (a manifest), or a name
    name = _name(source)
    if manager == "conda":
        return f"conda prefix '{conda_name or name}'"
    if name.endswith(".toml"):
        return f"manifest '{name}'"
    return f"program '{name}'"


def _portable_url(url: str, *, file_name: bool) -> str:
    """A package's URL or channel: a public one without credentials, a local one by its last part."""
    clean = url_without_credentials(url)
    if not local_problem(clean):
        return clean
    parts = [part for part in clean.split("?", 1)[0].split("#", 1)[0].split("/") if part]
    if file_name:
        return parts[-1] if parts else "?"
    while len(parts) > 1 and _SUBDIR.fullmatch(parts[-1]):
        parts.pop()  # a channel is named by its folder, not by its platform's subdir
    return f"local channel '{parts[-1] if parts else '?'}'"


def _portable_image(image: str) -> str:
    """An image reference: named by its digest alone when its registry is on the author's machine or
    network (``127.0.0.1:5000/lab/img@sha256:…`` → ``sha256:…``)."""
    registry, slash, _ = image.partition("/")
    local = slash and ("." in registry or ":" in registry or registry == "localhost")
    if local and url_problem(f"https://{registry}/"):
        _, at, digest = image.rpartition("@")
        return digest if at else "local image"
    if local_problem(image):
        return _name(image)
    return image
