"""Images in and out of the engine: pushed to a registry (for a repo digest), saved to and loaded from an
archive (``docker save`` / ``docker load``, hashed while written), asked for, removed; and one file read
out of an image through a created, never-started container."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import docker
import docker.errors

from paperlink.containers.engine import Engine, engine_errors, inspect_image
from paperlink.core.files import FileDigest
from paperlink.core.tempfiles import create_temp
from paperlink.errors import (
    ContainerError,
    ImageMismatch,
    ImageNotFound,
    UsageError,
)

_CHUNK = 1 << 20


def push_image(engine: Engine, image_id: str, repository: str, tag: str) -> str:
    """Tag ``image_id`` as ``repository:tag``, push it and return its repo digest (``name@sha256:…``)."""
    with engine_errors(f"tagging {image_id} as {repository}:{tag}"):
        engine.api.tag(image_id, repository, tag)
    with engine_errors(f"pushing {repository}:{tag}"):
        for chunk in engine.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise ContainerError(
                    f"pushing {repository}:{tag} failed: {chunk['error']}",
                    hint="check that the registry answers and accepts pushes (a registry other than "
                    "127.0.0.1 needs TLS or an 'insecure-registries' entry in the engine's config)",
                )
    attrs = inspect_image(engine, image_id)
    for digest in attrs.get("RepoDigests") or []:
        if str(digest).split("@", 1)[0] == repository:
            return str(digest)
    raise ContainerError(f"the engine shows no repo digest for {repository} after the push")


def save_image(engine: Engine, image_id: str, path: Path) -> FileDigest:
    """Write ``image_id`` as a gzip-compressed ``docker save`` archive at ``path`` (streamed, through a
    temporary file and a rename) and return the archive's size and sha256."""
    inspect_image(engine, image_id)
    path = path.resolve()
    # A recognisable name, so that the next save removes what a killed one left (paperlink.core.tempfiles).
    fd, tmp = create_temp(path, mode=0o600)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as raw:
            hashing = _HashingWriter(raw, digest)
            # mtime=0 and no file name: the same image bytes give the same archive bytes.
            packer = gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, filename="")
            with packer as packed, engine_errors(f"saving image {image_id}"):
                for chunk in engine.api.get_image(image_id, chunk_size=_CHUNK):
                    packed.write(chunk)
            raw.flush()
            os.fsync(raw.fileno())
        size = tmp.stat().st_size
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return FileDigest(path=str(path), size=size, sha256=digest.hexdigest())


class _HashingWriter:
    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self.raw = raw
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def load_image(engine: Engine, path: Path, *, expected_id: str | None = None) -> list[str]:
    """Load a ``docker save`` archive (gzip or plain) and return the image IDs it held.

    With ``expected_id``, raises :class:`ImageMismatch` unless the archive holds exactly that image.
    """
    if not path.is_file():
        raise UsageError(
            f"image archive not found: {path}", hint="give the file 'paperlink image save' wrote"
        )
    loaded: list[str] = []
    names: list[str] = []
    with path.open("rb") as stream, engine_errors(f"loading {path}"):
        for chunk in engine.api.load_image(stream):
            if "error" in chunk:
                raise ContainerError(f"loading {path} failed: {chunk['error']}")
            text = str(chunk.get("stream", ""))
            if "Loaded image ID:" in text:
                loaded.append(text.split("Loaded image ID:", 1)[1].strip())
            elif "Loaded image:" in text:
                names.append(text.split("Loaded image:", 1)[1].strip())
    for name in names:  # an archive saved by tag reports names, not IDs
        loaded.append(str(inspect_image(engine, name)["Id"]))
    if not loaded:
        raise ContainerError(
            f"{path} held no image", hint="is it an archive from 'paperlink image save'?"
        )
    if expected_id is not None and expected_id not in loaded:
        raise ImageMismatch(
            f"{path} holds image {', '.join(loaded)} but the record ran {expected_id}",
            hint="use the archive 'paperlink image save' wrote for this record; archive bytes may "
            "differ between engines, but the image ID must match",
        )
    return loaded


def has_image(engine: Engine, image_id: str) -> bool:
    try:
        inspect_image(engine, image_id)
    except ImageNotFound:
        return False
    return True


def remove_image(engine: Engine, image: str) -> None:
    with engine_errors(f"removing image {image}"):
        engine.api.remove_image(image, force=True)


def read_image_file(
    engine: Engine, image_id: str, path: str, *, limit: int = 64 << 20
) -> bytes | None:
    """The bytes of file ``path`` in image ``image_id`` (None when it has none), read from a container
    that is created but never started, so nothing of the image runs. Raises :class:`ContainerError`."""
    import io
    import tarfile

    with engine_errors(f"reading {path} from image {image_id}"):
        # A command is needed to create a container from an image without CMD; it never runs.
        created = engine.api.create_container(image_id, command=["/paperlink-never-runs"])
        cid = created["Id"]
        try:
            try:
                chunks, _ = engine.api.get_archive(cid, path)
            except docker.errors.NotFound:
                return None
            buffer = io.BytesIO()
            for chunk in chunks:
                buffer.write(chunk)
                if buffer.tell() > limit:
                    raise ContainerError(f"{path} in image {image_id} is over {limit} bytes")
            buffer.seek(0)
            with tarfile.open(fileobj=buffer) as archive:
                member = next((m for m in archive.getmembers() if m.isfile()), None)
                stream = archive.extractfile(member) if member is not None else None
                return stream.read() if stream is not None else None
        finally:
            engine.api.remove_container(cid, force=True)
