"""The identity of an Apptainer/Singularity image (SIF), read without Apptainer.

A SIF file is a 128-byte global header (launch script, ``SIF_MAGIC``, spec version, architecture, a UUID,
creation and modification times, where the descriptor table and the data lie), a table of fixed-size
descriptors (585 bytes each: data type, id, group, link, offset, size, times, name and 384 bytes of
type-specific data such as a partition's file system and architecture or a signature's hash and signer), and
the data objects. All integers are little-endian, as the reference implementation (github.com/sylabs/sif,
``pkg/sif``) writes them with Go's ``encoding/binary``. :func:`read_sif` reads the header and descriptors, and
hashes the whole file and each object's bytes in one pass (two threads, so that it keeps up with
``sha256sum``); the definition file and the labels are kept when the image carries them.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from paperlink.core.model import model
from paperlink.errors import SifError

_HEADER = struct.Struct("<32s10s3s3s16s8q")  # 128 bytes
_DESCRIPTOR = struct.Struct("<i?III7q128s384s")  # 585 bytes
_MAGIC = b"SIF_MAGIC\x00"
_GROUP_MASK = 0xF0000000
_CHUNK = 4 << 20
_KEEP_TEXT = 1 << 20  # definition files and labels larger than this are hashed, not kept

DATA_TYPES = {
    0x4001: "deffile",
    0x4002: "envvars",
    0x4003: "labels",
    0x4004: "partition",
    0x4005: "signature",
    0x4006: "generic-json",
    0x4007: "generic",
    0x4008: "crypto-message",
    0x4009: "sbom",
}
FS_TYPES = {1: "squashfs", 2: "ext3", 3: "archive", 4: "raw", 5: "encrypted-squashfs"}
PART_TYPES = {1: "system", 2: "primary-system", 3: "data", 4: "overlay"}
HASH_TYPES = {1: "sha256", 2: "sha384", 3: "sha512", 4: "blake2s", 5: "blake2b"}
ARCHES = {
    b"01": "386",
    b"02": "amd64",
    b"03": "arm",
    b"04": "arm64",
    b"05": "ppc64",
    b"06": "ppc64le",
    b"07": "mips",
    b"08": "mipsle",
    b"09": "mips64",
    b"10": "mips64le",
    b"11": "s390x",
    b"12": "riscv64",
}


@model
class SifObject:
    """One data object of a SIF image: its descriptor and the sha256 of its bytes."""

    id: int
    group: int
    linked_id: int | None
    linked_is_group: bool
    type: str
    name: str
    offset: int
    size: int
    sha256: str
    created: str | None
    partition_fs: str | None = None
    partition_type: str | None = None
    partition_arch: str | None = None
    signature_hash: str | None = None
    signature_entity: str | None = None  # the signer's key fingerprint, hex


@model
class SifImage:
    """What identifies a SIF file: its sha256, its header and its objects."""

    path: str
    size: int
    sha256: str
    id: str
    version: str
    arch: str
    launch_script: str
    created: str | None
    modified: str | None
    objects: list[SifObject] = field(default_factory=list)
    deffile: str | None = None
    labels: dict[str, Any] | None = None

    @property
    def signed(self) -> bool:
        return any(o.type == "signature" for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["signed"] = self.signed
        return data


def _time(seconds: int) -> str | None:
    """UTC ISO time, or None for the zero time (images built reproducibly carry Go's zero time)."""
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("utf-8", "replace")


def _arch(raw: bytes) -> str:
    return ARCHES.get(raw[:2], "unknown")


def _descriptor(raw: bytes) -> tuple[bool, SifObject]:
    (dtype, used, oid, group, linked, offset, size, _padded, created, _modified, _uid, _gid, name,
     extra) = _DESCRIPTOR.unpack(raw)  # fmt: skip
    kind = DATA_TYPES.get(dtype, f"unknown-{dtype:#x}")
    obj = SifObject(
        id=oid,
        group=group & ~_GROUP_MASK,
        linked_id=(linked & ~_GROUP_MASK) or None,
        linked_is_group=bool(linked & _GROUP_MASK == _GROUP_MASK),
        type=kind,
        name=_text(name),
        offset=offset,
        size=size,
        sha256="",
        created=_time(created),
    )
    if kind == "partition":
        fs, part = struct.unpack_from("<ii", extra)
        obj.partition_fs = FS_TYPES.get(fs, f"unknown-{fs}")
        obj.partition_type = PART_TYPES.get(part, f"unknown-{part}")
        obj.partition_arch = _arch(extra[8:11])
    elif kind == "signature":
        (hash_type,) = struct.unpack_from("<i", extra)
        obj.signature_hash = HASH_TYPES.get(hash_type, f"unknown-{hash_type}")
        obj.signature_entity = extra[4:260].rstrip(b"\x00").hex() or None
    return used, obj


def read_sif(
    path: str | os.PathLike[str], *, on_progress: Callable[[int, int], None] | None = None
) -> SifImage:
    """Read the SIF image at ``path``; raises :class:`SifError` when it is not one (or is truncated)."""
    target = Path(path)
    try:
        with target.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            header = stream.read(_HEADER.size)
            if len(header) < _HEADER.size or header[32:42] != _MAGIC:
                raise SifError(
                    f"{target} is not a SIF image (no SIF_MAGIC in its header)",
                    hint="give an Apptainer/Singularity .sif file",
                )
            (launch, _magic, version, arch, ident, created, modified, _free, total, table, _tsize,
             _doff, _dsize) = _HEADER.unpack(header)  # fmt: skip
            if total < 0 or table < 0 or table + total * _DESCRIPTOR.size > size:
                raise SifError(f"{target}: its descriptor table lies outside the file (truncated?)")
            stream.seek(table)
            raw = stream.read(total * _DESCRIPTOR.size)
            objects = []
            for index in range(total):
                used, obj = _descriptor(
                    raw[index * _DESCRIPTOR.size : (index + 1) * _DESCRIPTOR.size]
                )
                if not used:
                    continue
                if obj.offset < 0 or obj.size < 0 or obj.offset + obj.size > size:
                    raise SifError(
                        f"{target}: object {obj.id} ({obj.type}) lies outside the file (truncated?)"
                    )
                objects.append(obj)
            stream.seek(0)
            whole = _hash_in_one_pass(stream, size, objects, on_progress)
    except OSError as exc:
        raise SifError(f"cannot read {target}: {exc.strerror or exc}") from exc
    image = SifImage(
        path=str(target),
        size=size,
        sha256=whole,
        id=str(uuid.UUID(bytes=ident)),
        version=_text(version),
        arch=_arch(arch),
        launch_script=_text(launch),
        created=_time(created),
        modified=_time(modified),
        objects=objects,
    )
    _read_texts(target, image)
    return image


def _hash_in_one_pass(
    stream: BinaryIO,
    size: int,
    objects: list[SifObject],
    on_progress: Callable[[int, int], None] | None,
) -> str:
    """The file's sha256, filling in each object's: one read, the objects hashed on a second thread."""
    whole = hashlib.sha256()
    spans = sorted(objects, key=lambda o: o.offset)
    hashers = {id(o): hashlib.sha256() for o in spans}
    chunks: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=4)

    def objects_worker() -> None:
        while (item := chunks.get()) is not None:
            start, data = item
            end = start + len(data)
            for obj in spans:
                if obj.offset >= end:
                    break
                lo, hi = max(start, obj.offset), min(end, obj.offset + obj.size)
                if lo < hi:
                    hashers[id(obj)].update(memoryview(data)[lo - start : hi - start])

    worker = threading.Thread(target=objects_worker, name="paperlink-sif", daemon=True)
    worker.start()
    done = 0
    try:
        while data := stream.read(_CHUNK):
            chunks.put((done, data))
            whole.update(data)
            done += len(data)
            if on_progress is not None:
                on_progress(done, size)
    finally:
        chunks.put(None)
        worker.join()
    for obj in spans:
        obj.sha256 = hashers[id(obj)].hexdigest()
    return whole.hexdigest()


def _read_texts(target: Path, image: SifImage) -> None:
    """The definition file and the labels, when the image has them (and they are of a sane size)."""
    with target.open("rb") as stream:
        for obj in image.objects:
            if obj.type not in ("deffile", "labels") or obj.size > _KEEP_TEXT:
                continue
            stream.seek(obj.offset)
            text = stream.read(obj.size).decode("utf-8", "replace")
            if obj.type == "deffile" and image.deffile is None:
                image.deffile = text
            elif obj.type == "labels" and image.labels is None:
                try:
                    labels = json.loads(text)
                except json.JSONDecodeError:
                    continue
                image.labels = labels if isinstance(labels, dict) else None
