"""Files of an image, read through the engine from a container that is created and never started
(``get_archive``), so nothing of the image runs: an image's ``/etc/os-release``, whether a program is on its
``PATH``. Links are followed inside the image, never on the host.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import tarfile
from collections.abc import Iterator
from typing import Any

import docker.errors

from paperlink.errors import ContainerError

_MAX_FILE = 1 << 20  # os-release files are small; anything bigger is not read
_LINK_HOPS = 8


@contextlib.contextmanager
def created_container(engine: Any, image_id: str) -> Iterator[str]:
    """A container from ``image_id`` that is created, never started, and removed afterwards."""
    try:
        created = engine.api.create_container(
            image_id, command=["/"], network_disabled=True, labels={"dev.paperlink.probe": "1"}
        )
    except (docker.errors.DockerException, OSError) as exc:
        raise ContainerError(f"creating a container from {image_id} to read it: {exc}") from exc
    cid = str(created["Id"])
    try:
        yield cid
    finally:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            engine.api.remove_container(cid, force=True)


def read_file(engine: Any, cid: str, path: str) -> bytes | None:
    """The bytes of ``path`` in container ``cid`` with symlinks followed inside the image (Debian's
    ``/etc/os-release`` is a link to ``../usr/lib/os-release``); None when it is absent or not a file."""
    for _ in range(_LINK_HOPS):
        member = _member(engine, cid, path)
        if member is None:
            return None
        info, data = member
        if info.issym():
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), info.linkname))
            continue
        return data if info.isfile() else None
    return None


def _member(engine: Any, cid: str, path: str) -> tuple[tarfile.TarInfo, bytes | None] | None:
    try:
        stream, stat = engine.api.get_archive(cid, path)
        if int(stat.get("size", 0)) > _MAX_FILE:
            return None
        raw = b"".join(stream)
    except docker.errors.NotFound:
        return None
    except (docker.errors.DockerException, OSError) as exc:
        raise ContainerError(f"reading {path} from the image: {exc}") from exc
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        info = archive.next()
        if info is None:
            return None
        handle = archive.extractfile(info) if info.isfile() else None
        return info, handle.read() if handle is not None else None


def find_program(engine: Any, cid: str, name: str, search_path: str) -> str | None:
    """Where ``name`` (a bare name or an absolute path) is in the image, along its ``PATH``."""
    candidates = [name] if name.startswith("/") else [
        posixpath.join(folder, name) for folder in search_path.split(":") if folder.startswith("/")
    ]  # fmt: skip
    for candidate in candidates:
        if _member(engine, cid, candidate) is not None:
            return candidate
    return None
