"""The container engine as paperlink sees it: resolve an image to its identity, run a command in it, build,
push, save and load images. The only module that imports the ``docker`` SDK (it speaks to Docker and to
Podman's Docker-compatible socket alike); every SDK error becomes a :class:`ContainerError`.

An image's identity is its image ID, the sha256 of its configuration: the same on every engine and after a
save/load round trip, unlike archive bytes and tags. Runs always start from that ID, never from a tag.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.constants import DEFAULT_DOCKER_API_VERSION, MINIMUM_DOCKER_API_VERSION

from paperlink.core.model import model
from paperlink.core.runcontext import ContainerRef
from paperlink.errors import (
    ContainerError,
    EngineUnavailable,
    ImageNotFound,
    UsageError,
)

_REGISTRY_HOST = re.compile(r"^[^/]+[.:][^/]*/|^localhost/")

_START_HINT = (
    "start the engine: 'sudo systemctl start docker' (or 'sudo dockerd &'); for Podman run "
    "'systemctl --user start podman.socket' and export "
    "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock"
)


@model
class Engine:
    """A connected engine: the SDK client and what it says about itself."""

    client: Any  # docker.DockerClient
    kind: str  # docker | podman
    version: str
    api_version: str
    url: str

    @property
    def api(self) -> Any:
        return self.client.api

    def close(self) -> None:
        self.client.close()


def connect_engine(base_url: str | None = None, *, timeout: int = 60) -> Engine:
    """Connect to the engine at ``base_url`` (default: ``$DOCKER_HOST`` or the standard socket).

    Raises :class:`EngineUnavailable` when nothing answers or the socket is not permitted.
    """
    url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if url.startswith("unix://"):
        _check_unix_socket(url)
    # Ask the engine its version through a client with a fixed API version: the SDK's "auto" asks from
    # inside the constructor, which leaks the socket when nothing answers.
    probe = docker.DockerClient(base_url=url, version=MINIMUM_DOCKER_API_VERSION, timeout=timeout)
    try:
        info = probe.api.version(api_version=False)
    # The SDK's transport errors are requests' exceptions, which are OSErrors: catching OSError keeps
    # requests out of this stage (the import contract in pyproject.toml).
    except (docker.errors.DockerException, OSError) as exc:
        raise _unavailable(url, exc) from exc
    finally:
        probe.close()
    server_api = str(info.get("ApiVersion", MINIMUM_DOCKER_API_VERSION))
    usable = min(server_api, DEFAULT_DOCKER_API_VERSION, key=_version_key)
    client = docker.DockerClient(base_url=url, version=usable, timeout=timeout)
    components = " ".join(str(c.get("Name", "")) for c in info.get("Components") or [])
    kind = "podman" if "podman" in components.lower() else "docker"
    return Engine(
        client=client,
        kind=kind,
        version=str(info.get("Version", "")),
        api_version=str(info.get("ApiVersion", "")),
        url=url,
    )


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def engine_url(settings: Mapping[str, Any]) -> str | None:
    """The engine a project names in ``[containers] engine = "unix:///…"`` (None: the default)."""
    table = settings.get("containers")
    value = table.get("engine") if isinstance(table, Mapping) else None
    return str(value) if value else None


def _check_unix_socket(url: str) -> None:
    """Connect once ourselves: the SDK leaks its socket when the connection fails, and this way the
    message can say whether the socket is missing, refused or not permitted."""
    path = url.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(10)
        try:
            probe.connect(path)
        except OSError as exc:
            raise _unavailable(url, exc) from exc


def _unavailable(url: str, exc: BaseException) -> EngineUnavailable:
    text = str(exc)
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return EngineUnavailable(
            f"the container engine socket {url} is not permitted for this user",
            hint="add yourself to the 'docker' group ('sudo usermod -aG docker $USER', then log in "
            "again), or use rootless Podman: " + _START_HINT.split("; ", 1)[1],
        )
    return EngineUnavailable(f"no container engine answers at {url}", hint=_START_HINT)


@contextlib.contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Turn SDK errors into paperlink errors that say what was being done."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFound(f"{what}: image not found ({exc.explanation})") from exc
    except docker.errors.APIError as exc:
        raise ContainerError(f"{what}: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, OSError) as exc:
        raise EngineUnavailable(f"{what}: the container engine stopped answering ({exc})") from exc


# -- identity -----------------------------------------------------------------------------------------
def container_ref_from_attrs(
    attrs: Mapping[str, Any],
    *,
    reference: str | None,
    engine: str | None = None,
    engine_version: str | None = None,
    api_version: str | None = None,
) -> ContainerRef:
    """A :class:`ContainerRef` from an image's inspect data (``docker image inspect``); pure."""
    image_id = str(attrs["Id"])
    repo_digests = sorted(str(d) for d in attrs.get("RepoDigests") or [])
    pinned = image_id
    if reference and repo_digests:
        name = _repository(reference)
        matching = [d for d in repo_digests if d.split("@", 1)[0] == name]
        pinned = (matching or [image_id])[0]
    config = attrs.get("Config") or {}
    return ContainerRef(
        engine=engine,
        engine_version=engine_version,
        api_version=api_version,
        reference=reference,
        pinned_reference=pinned,
        image_id=image_id,
        repo_digests=repo_digests,
        os=attrs.get("Os"),
        architecture=attrs.get("Architecture"),
        variant=attrs.get("Variant"),
        created=attrs.get("Created"),
        labels=dict(config.get("Labels") or {}),
    )


def _repository(reference: str) -> str:
    """``host:5000/name:tag`` → ``host:5000/name`` (a digest reference keeps its name part)."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def inspect_image(engine: Engine, reference: str) -> dict[str, Any]:
    """The engine's inspect data for ``reference``; raises :class:`ImageNotFound` with a way forward."""
    try:
        attrs: dict[str, Any] = engine.api.inspect_image(reference)
        return attrs
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFound(
            f"image '{reference}' is not in the container engine",
            hint="build it (paperlink run --dockerfile PATH), load it ('paperlink image load FILE'), "
            "or pull it with 'docker pull'",
        ) from exc
    except docker.errors.APIError as exc:
        raise ContainerError(f"cannot inspect image '{reference}': {exc.explanation}") from exc
    except (docker.errors.DockerException, OSError) as exc:
        raise _unavailable(engine.url, exc) from exc


def resolve_image(engine: Engine, reference: str) -> ContainerRef:
    """Resolve ``reference`` (a tag, ``name@sha256:…`` or an image ID) to the image's identity now.

    A reference naming a registry host (``host:port/name:tag``) is pulled when it is not present.
    """
    try:
        attrs = inspect_image(engine, reference)
    except ImageNotFound:
        if not _REGISTRY_HOST.match(reference):
            raise
        with engine_errors(f"pulling '{reference}'"):
            engine.api.pull(reference)
        attrs = inspect_image(engine, reference)
    return _ref(engine, attrs, reference)


def _ref(engine: Engine, attrs: Mapping[str, Any], reference: str | None) -> ContainerRef:
    return container_ref_from_attrs(
        attrs,
        reference=reference,
        engine=engine.kind,
        engine_version=engine.version,
        api_version=engine.api_version,
    )


def image_environment(attrs: Mapping[str, Any]) -> dict[str, str]:
    """The ``ENV`` of an image as a dict."""
    env: dict[str, str] = {}
    for item in (attrs.get("Config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


# -- build ----------------------------------------------------------------------------------------------
def context_digest(context: Path, dockerfile: Path) -> str:
    """sha256 over the build context as the engine receives it (``.dockerignore`` applied): each file's
    relative path, executable bit and content, in sorted order."""
    from docker.utils.build import exclude_paths

    patterns: list[str] = []
    ignore = context / ".dockerignore"
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
    relative_dockerfile = os.path.relpath(dockerfile, context)
    total = hashlib.sha256()
    for rel in sorted(exclude_paths(str(context), patterns, dockerfile=relative_dockerfile)):
        path = context / rel
        if path.is_symlink():
            total.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            mode = "x" if os.access(path, os.X_OK) else "-"
            total.update(f"F {rel} {mode} {content}\n".encode())
    return total.hexdigest()


def build_image(
    engine: Engine,
    dockerfile: Path,
    *,
    tag: str,
    build_args: Mapping[str, str] | None = None,
    context: Path | None = None,
) -> ContainerRef:
    """Build ``dockerfile`` (context: its folder unless given) offline, tag it and return its identity
    with the Dockerfile's sha256 and the context digest. Raises :class:`ContainerError` with the build's
    last lines when it fails."""
    if not dockerfile.is_file():
        raise UsageError(f"Dockerfile not found: {dockerfile}", hint="check the --dockerfile path")
    context = (context or dockerfile.parent).resolve()
    dockerfile = dockerfile.resolve()
    lines: list[str] = []
    image_id: str | None = None
    try:
        for chunk in engine.api.build(
            path=str(context),
            dockerfile=os.path.relpath(dockerfile, context),
            tag=tag,
            buildargs=dict(build_args or {}),
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "stream" in chunk:
                lines.append(str(chunk["stream"]).rstrip())
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            if "error" in chunk:
                tail = "\n".join(line for line in lines[-8:] if line)
                raise ContainerError(
                    f"building {dockerfile} failed: {chunk['error'].strip()}\n{tail}",
                    hint="fix the Dockerfile; note that builds run without network access here "
                    "unless the base image is present",
                )
    except docker.errors.APIError as exc:
        raise ContainerError(f"building {dockerfile} failed: {exc.explanation}") from exc
    except (docker.errors.DockerException, OSError) as exc:
        raise _unavailable(engine.url, exc) from exc
    ref = _ref(engine, inspect_image(engine, image_id or tag), tag)
    ref.dockerfile_sha256 = hashlib.sha256(dockerfile.read_bytes()).hexdigest()
    ref.context_sha256 = context_digest(context, dockerfile)
    return ref
