"""The container engine as paperlink sees it: resolve an image to its identity, run a command in it, build,
push, save and load images. The only module that imports the ``docker`` SDK (it speaks to Docker and to
Podman's Docker-compatible socket alike); every SDK error becomes a :class:`ContainerError`.

An image's identity is its image ID, the sha256 of its configuration: the same on every engine and after a
save/load round trip, unlike archive bytes and tags. Runs always start from that ID, never from a tag.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import docker
import docker.errors
from docker.constants import DEFAULT_DOCKER_API_VERSION, MINIMUM_DOCKER_API_VERSION

from paperlink.core.records import ContainerRef, FileDigest
from paperlink.core.signals import SignalTrap
from paperlink.core.tempfiles import create_temp
from paperlink.errors import (
    ContainerError,
    EngineUnavailable,
    ImageMismatch,
    ImageNotFound,
    UsageError,
)

# Seconds a stopped container gets between SIGTERM and SIGKILL when paperlink is interrupted.
STOP_GRACE_SECONDS = 3
_CHUNK = 1 << 20
_REGISTRY_HOST = re.compile(r"^[^/]+[.:][^/]*/|^localhost/")

_START_HINT = (
    "start the engine: 'sudo systemctl start docker' (or 'sudo dockerd &'); for Podman run "
    "'systemctl --user start podman.socket' and export "
    "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock"
)


@dataclass
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
def _engine_errors(what: str) -> Iterator[None]:
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
        with _engine_errors(f"pulling '{reference}'"):
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


# -- run ------------------------------------------------------------------------------------------------
@dataclass
class ContainerResult:
    """How a container run ended."""

    exit_status: int
    oom_killed: bool = False
    timed_out: bool = False
    signals: list[int] = field(default_factory=list)  # signals paperlink received during the run
    container_id: str = ""


Sink = Callable[[bytes], None]


def run_container(
    engine: Engine,
    image_id: str,
    argv: list[str],
    *,
    workdir: str,
    binds: Mapping[str, str],
    environment: Mapping[str, str],
    user: str | None = None,
    network: str | None = None,
    memory: str | None = None,
    timeout: float | None = None,
    on_stdout: Sink | None = None,
    on_stderr: Sink | None = None,
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> ContainerResult:
    """Run ``argv`` in a new container from ``image_id`` and remove the container afterwards, whatever
    happens (timeout, SIGTERM/SIGINT/SIGHUP to paperlink, an error).

    ``binds`` maps host folders to the same-or-other folder inside (read-write); networking is off
    unless ``network`` names one (``bridge``, ``host``…). Output goes to the callbacks as it comes.
    """
    api = engine.api
    host_config = api.create_host_config(
        binds={src: {"bind": dst, "mode": "rw"} for src, dst in binds.items()},
        network_mode=network or "none",
        mem_limit=memory,
        memswap_limit=memory,  # no swap on top, so the limit is the limit
        # A PID 1 that forwards signals and reaps, so stop is prompt; Podman needs catatonit for it,
        # which Debian's podman does not install.
        init=engine.kind == "docker",
    )
    result = ContainerResult(exit_status=-1)
    wake = threading.Event()  # the container exited, or paperlink got a signal
    exited = threading.Event()
    waited: dict[str, Any] = {}

    def wait(cid: str) -> None:
        try:
            waited["status"] = api.wait(cid, timeout=None)
        except BaseException as exc:  # handed to the main thread
            waited["error"] = exc
        finally:
            exited.set()
            wake.set()

    # Signals are caught from before the container exists, so none can leave one behind.
    with _signals_to(wake, result.signals):
        with _engine_errors(f"creating a container from {image_id}"):
            created = api.create_container(
                image_id,
                command=list(argv),
                user=user,
                working_dir=workdir,
                environment=dict(environment),
                host_config=host_config,
                network_disabled=network is None,
                labels={"dev.paperlink.run": "1", **(labels or {})},
                name=name,
            )
        cid = result.container_id = str(created["Id"])
        try:
            if result.signals:  # interrupted before the start: nothing ran
                result.exit_status = 128 + result.signals[0]
                return result
            with _engine_errors("attaching to the container"):
                stream = api.attach(
                    cid, stdout=True, stderr=True, stream=True, logs=True, demux=True
                )
            pump = threading.Thread(
                target=_pump,
                args=(stream, on_stdout, on_stderr),
                name="paperlink-attach",
                daemon=True,
            )
            pump.start()
            with _engine_errors(f"starting a container from {image_id}"):
                api.start(cid)
            threading.Thread(target=wait, args=(cid,), name="paperlink-wait", daemon=True).start()
            wake.wait(timeout)
            if not exited.is_set():  # timed out or interrupted; further signals just wait
                result.timed_out = not result.signals
                with (
                    _engine_errors("stopping the container"),
                    contextlib.suppress(docker.errors.NotFound),
                ):
                    if result.timed_out:
                        api.kill(cid)
                    else:
                        api.stop(cid, timeout=STOP_GRACE_SECONDS)
                exited.wait()
            pump.join(timeout=10)
            # The attach connection is hijacked, never pooled: close its response (CancellableStream
            # keeps it privately) or the socket leaks; its close() leaves a half-closed response.
            response = getattr(stream, "_response", None)
            if response is not None:
                with contextlib.suppress(OSError, ValueError):
                    response.close()
            if "error" in waited:
                raise ContainerError(f"waiting for the container failed: {waited['error']}")
            result.exit_status = int(waited["status"].get("StatusCode", -1))
            with _engine_errors("inspecting the container"):
                state = api.inspect_container(cid).get("State") or {}
            result.oom_killed = bool(state.get("OOMKilled"))
            return result
        finally:
            with contextlib.suppress(docker.errors.DockerException, OSError):
                api.remove_container(cid, force=True)


def _pump(
    stream: Iterable[tuple[bytes | None, bytes | None]], out: Sink | None, err: Sink | None
) -> None:
    with contextlib.suppress(docker.errors.DockerException, OSError):
        for stdout, stderr in stream:
            if stdout and out is not None:
                out(stdout)
            if stderr and err is not None:
                err(stderr)


class _signals_to(SignalTrap):
    """While the container runs, SIGINT/SIGTERM/SIGHUP to paperlink wake the waiting thread so it stops the
    container (and the ``finally`` removes it) instead of dying and leaving it behind."""

    def __init__(self, done: threading.Event, received: list[int]) -> None:
        super().__init__(received)
        self.done = done

    def handle(self, number: int) -> None:
        self.done.set()


# -- registry and archives --------------------------------------------------------------------------------
def push_image(engine: Engine, image_id: str, repository: str, tag: str) -> str:
    """Tag ``image_id`` as ``repository:tag``, push it and return its repo digest (``name@sha256:…``)."""
    with _engine_errors(f"tagging {image_id} as {repository}:{tag}"):
        engine.api.tag(image_id, repository, tag)
    with _engine_errors(f"pushing {repository}:{tag}"):
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
            with packer as packed, _engine_errors(f"saving image {image_id}"):
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
    with path.open("rb") as stream, _engine_errors(f"loading {path}"):
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
    with _engine_errors(f"removing image {image}"):
        engine.api.remove_image(image, force=True)


def read_image_file(
    engine: Engine, image_id: str, path: str, *, limit: int = 64 << 20
) -> bytes | None:
    """The bytes of file ``path`` in image ``image_id`` (None when it has none), read from a container
    that is created but never started, so nothing of the image runs. Raises :class:`ContainerError`."""
    import io
    import tarfile

    with _engine_errors(f"reading {path} from image {image_id}"):
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
