"""Run a command in a container and wait for it: the project bound at the same path, the caller's user, no
network unless one is named, limits on memory and time, output streamed as it comes, and the container
stopped (and removed) when paperlink is interrupted."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from typing import Any

import docker
import docker.errors

from paperlink.containers.engine import Engine, engine_errors
from paperlink.core.model import model
from paperlink.core.signals import SignalTrap
from paperlink.errors import (
    ContainerError,
)

# Seconds a stopped container gets between SIGTERM and SIGKILL when paperlink is interrupted.
STOP_GRACE_SECONDS = 3


@model
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
        with engine_errors(f"creating a container from {image_id}"):
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
            with engine_errors("attaching to the container"):
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
            with engine_errors(f"starting a container from {image_id}"):
                api.start(cid)
            threading.Thread(target=wait, args=(cid,), name="paperlink-wait", daemon=True).start()
            wake.wait(timeout)
            if not exited.is_set():  # timed out or interrupted; further signals just wait
                result.timed_out = not result.signals
                with (
                    engine_errors("stopping the container"),
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
            with engine_errors("inspecting the container"):
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
