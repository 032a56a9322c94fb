"""A container run's own platform: the image's OS (its ``/etc/os-release``), architecture (its
configuration) and interpreter, never the host's, which the record keeps beside it (``record.host``).

Files are read through the engine (:mod:`paperlink.containers.image_files`) from a container that is
created and never started, so nothing of the image runs for them. Only an interpreter's ``--version`` is asked by running it, once
per image and program: an image ID names fixed bytes, so the answers are remembered in the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paperlink.core.model import model
from paperlink.core.records import Platform
from paperlink.errors import ContainerError
from paperlink.recorder.platform import version_flag

_VERSION_SECONDS = 30


@model
class Interpreter:
    """A program in the image: where it is and what its ``--version`` says (None: it would not say)."""

    name: str
    path: str
    version: str | None = None


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
    store, which remembers what an image holds. When the engine will not show the image's files, the
    platform has what its configuration says (OS, architecture) and nothing of the host."""
    wanted = command_interpreter(argv, root)
    key = f"image-platform:{image_id}:{wanted or ''}"
    known = cache.cache_get(key) if cache is not None else None
    if known is not None:
        found = json.loads(known)
    else:
        try:
            found = _probe(engine, image_id, attrs, wanted, user)
        except ContainerError:
            found = {}  # the run goes on, with what the image's configuration says; asked again next time
        else:
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
    from paperlink.containers.engine import image_environment
    from paperlink.containers.image_files import created_container, find_program, read_file

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
    from paperlink.containers.runner import run_container

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
