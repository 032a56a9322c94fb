"""A container run's own platform: the image's OS (its ``/etc/os-release``), architecture (its
configuration) and interpreter, never the host's, which the record keeps beside it (``record.host``).

Files are read through the engine from a container that is created and never started (``get_archive``),
so nothing of the image runs for them. Only an interpreter's ``--version`` is asked by running it, once
per image and program: an image ID names fixed bytes, so the answers are remembered in the store.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests

from paperlink.environment import version_flag
from paperlink.errors import ContainerError
from paperlink.records import Platform

_MAX_FILE = 1 << 20  # os-release and shebang lines are small; anything bigger is not read
_LINK_HOPS = 8
_VERSION_SECONDS = 30


@dataclass
class Interpreter:
    """A program in the image: where it is and what its ``--version`` says (None: it would not say)."""

    name: str
    path: str
    version: str | None = None


@contextlib.contextmanager
def created_container(engine: Any, image_id: str) -> Iterator[str]:
    """A container from ``image_id`` that is created, never started, and removed afterwards."""
    try:
        created = engine.api.create_container(
            image_id, command=["/"], network_disabled=True, labels={"dev.paperlink.probe": "1"}
        )
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ContainerError(f"creating a container from {image_id} to read it: {exc}") from exc
    cid = str(created["Id"])
    try:
        yield cid
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
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
    except (docker.errors.DockerException, requests.RequestException) as exc:
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


def os_release_name(text: str) -> str:
    """``PRETTY_NAME`` of an os-release file (else ``NAME VERSION``), as ``Platform.os_release`` holds it."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values.get("PRETTY_NAME") or " ".join(
        v for v in (values.get("NAME"), values.get("VERSION")) if v
    )


def command_interpreter(argv: list[str], root: Path) -> str | None:
    """The interpreter a command names: ``python3 fig.py`` → ``python3``; a script run directly →
    the program of its ``#!`` line; None for other programs (``sh``, a binary)."""
    if not argv:
        return None
    if version_flag(argv[0]) is not None:
        return argv[0]
    script = Path(argv[0]) if Path(argv[0]).is_absolute() else Path.cwd() / argv[0]
    if "/" in argv[0] and script.is_file():
        try:
            with script.open("rb") as stream:
                first = stream.readline(256).decode("utf-8", "replace")
        except OSError:
            return None
        if first.startswith("#!"):
            words = first[2:].split()
            if words and Path(words[0]).name == "env" and len(words) > 1:
                words = words[1:]
            if words and version_flag(words[0]) is not None:
                return words[0]
    return None


def image_platform(
    engine: Any,
    image_id: str,
    attrs: Mapping[str, Any],
    argv: list[str],
    *,
    root: Path,
    user: str | None,
    cache: Any = None,
) -> tuple[Platform, Interpreter | None]:
    """The platform of a run of ``argv`` in ``image_id`` (inspect data ``attrs``) and the command's own
    interpreter in the image (None when it names none, or the image has none). ``cache`` is the record
    store, which remembers what an image holds. Raises :class:`ContainerError`."""
    wanted = command_interpreter(argv, root)
    key = f"image-platform:{image_id}:{wanted or ''}"
    known = cache.cache_get(key) if cache is not None else None
    if known is not None:
        found = json.loads(known)
    else:
        found = _probe(engine, image_id, attrs, wanted, user)
        if cache is not None:
            cache.cache_put(key, json.dumps(found, sort_keys=True))
    python = found.get("python") or {}
    arch = str(attrs.get("Architecture") or "")
    platform = Platform(
        user=user or "",
        os=str(attrs.get("Os") or "").capitalize(),
        os_release=str(found.get("os_release") or ""),
        machine=f"{arch}/{attrs['Variant']}" if arch and attrs.get("Variant") else arch,
        python_version=_python_number(python.get("version")),
        python_executable=str(python.get("path") or ""),
    )
    command = found.get("interpreter")
    interpreter = Interpreter(**command) if command else None
    return platform, interpreter


def _probe(
    engine: Any, image_id: str, attrs: Mapping[str, Any], wanted: str | None, user: str | None
) -> dict[str, Any]:
    from paperlink.containers import image_environment

    search_path = image_environment(attrs).get("PATH", "/usr/local/bin:/usr/bin:/bin")
    found: dict[str, Any] = {}
    with created_container(engine, image_id) as cid:
        text = read_file(engine, cid, "/etc/os-release") or read_file(
            engine, cid, "/usr/lib/os-release"
        )
        found["os_release"] = os_release_name(text.decode("utf-8", "replace")) if text else ""
        python = find_program(engine, cid, "python3", search_path)
        command = find_program(engine, cid, wanted, search_path) if wanted else None
    if python is not None:
        found["python"] = {"path": python, "version": _version(engine, image_id, python, user)}
    if command is not None and wanted is not None:
        same = command == python
        version = found["python"]["version"] if same else _version(engine, image_id, command, user)
        found["interpreter"] = {"name": wanted, "path": command, "version": version}
    return found


def _version(engine: Any, image_id: str, program: str, user: str | None) -> str | None:
    """The first line ``program --version`` prints in the image (networking off, no folders bound)."""
    from paperlink.containers import run_container

    flag = version_flag(program) or "--version"
    out: list[bytes] = []
    try:
        result = run_container(
            engine,
            image_id,
            [program, flag],
            workdir="/",
            binds={},
            environment={},
            user=user,
            timeout=_VERSION_SECONDS,
            on_stdout=out.append,
            on_stderr=out.append,  # java and old Pythons answer on stderr
        )
    except ContainerError:
        return None
    text = b"".join(out).decode("utf-8", "replace").strip()
    if result.exit_status != 0 or not text:
        return None
    return text.splitlines()[0]


def _python_number(version: object) -> str:
    """``Python 3.11.2`` → ``3.11.2`` (the form ``Platform.python_version`` has on the host)."""
    text = str(version or "")
    return text.split(" ", 1)[1] if text.startswith("Python ") else text
