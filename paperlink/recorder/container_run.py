"""Run a command in a container and record it: ``paperlink run --image IMAGE -- CMD`` (or ``--dockerfile``),
with the image's identity in ``record.container`` and the image's own platform in ``record.platform``."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from paperlink.core.config import Project
from paperlink.core.records import (
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_INTERRUPTED,
    STATUS_KILLED,
    Record,
)
from paperlink.core.store import RecordStore
from paperlink.errors import (
    ContainerError,
    ExitCode,
    ImageMismatch,
    UsageError,
)
from paperlink.recorder.envscan import (
    capture_parts,
    image_dpkg_packages,
)
from paperlink.recorder.options import ContainerOptions, RunOptions
from paperlink.recorder.run import RunCapture
from paperlink.recorder.streams import StreamKeeper


def capture_container_run(
    project: Project,
    store: RecordStore,
    argv: list[str],
    container: ContainerOptions,
    options: RunOptions | None = None,
) -> Record:
    """Run ``argv`` in a container and record it, with the image's identity in ``record.container``.

    The image is ``container.image`` (a tag, digest reference or image ID, resolved to its image ID before
    the run) or built from ``container.dockerfile``. The project is mounted at the same path inside, the working folder is
    kept, the command runs as the calling user with networking off unless ``network`` names one, and
    ``SOURCE_DATE_EPOCH`` is set as for host runs.
    Raises :class:`EngineUnavailable`, :class:`ImageNotFound`, :class:`ContainerError` or
    :class:`UsageError` before anything runs; a container killed for memory or by the timeout, or
    stopped because paperlink was interrupted, still leaves a record saying so.
    """
    # The docker SDK takes a while to import; host runs never pay for it.
    from paperlink.containers import engine as containers
    from paperlink.containers import runner, transfer

    if not argv:
        raise UsageError(
            "no command given",
            hint="put the command after '--': paperlink run --image IMG -- python3 fig.py",
        )
    options = options or RunOptions()
    image, dockerfile, network = container.image, container.dockerfile, container.network
    memory, timeout, engine = container.memory, container.timeout, container.engine
    if (image is None) == (dockerfile is None):
        raise UsageError("give either an image or a Dockerfile, not both (or neither)")
    own_engine = engine is None
    if engine is None:
        engine = containers.connect_engine(containers.engine_url(project.settings))
    try:
        if dockerfile is not None:
            tag = f"paperlink/{_slug(project.name)}:latest"
            ref = containers.build_image(
                engine, Path(dockerfile), tag=tag, build_args=container.build_args
            )
        else:
            assert image is not None
            ref = containers.resolve_image(engine, image)
        expected = container.expected_image_id
        if expected is not None and ref.image_id != expected:
            raise ImageMismatch(f"{image} is {ref.image_id}, not {expected}")
        image_id = str(ref.image_id)
        attrs = containers.inspect_image(engine, image_id)
        image_env = containers.image_environment(attrs)
        image_packages = None
        if "dpkg" in capture_parts(project.settings):
            image_packages = image_dpkg_packages(
                store, image_id, lambda path: transfer.read_image_file(engine, image_id, path)
            )
        user = f"{os.getuid()}:{os.getgid()}"
        from paperlink.recorder.image_platform import image_platform

        platform, interpreter = image_platform(
            engine, image_id, attrs, argv, root=project.root, user=user, cache=store
        )
        ref.network, ref.memory_limit, ref.timeout_seconds, ref.user = (
            network,
            memory,
            timeout,
            user,
        )
        if options.source_date_epoch is None:
            given = os.environ.get("SOURCE_DATE_EPOCH", "")
            options = replace(options, source_date_epoch=int(given) if given.isdigit() else None)
        environ = dict(image_env)
        if "HOME" not in environ:
            environ["HOME"] = "/tmp"  # noqa: S108 - the caller's uid has no home in the image
        run = RunCapture(
            project,
            store,
            argv,
            options,
            environ=environ,
            probe=False,
            container=ref,
            executable=interpreter.path if interpreter else None,
            platform=platform,
            image_packages=image_packages,
        )
        record = run.begin()
        record.executable.version = interpreter.version if interpreter else None
        if options.on_start is not None:
            options.on_start(record)
        root = str(project.root)
        cwd = Path.cwd()
        workdir = str(cwd) if cwd == project.root or project.root in cwd.parents else root
        limit = project.max_stream_bytes
        out_keeper, err_keeper = StreamKeeper(limit), StreamKeeper(limit)
        passed = {"SOURCE_DATE_EPOCH": run.environ["SOURCE_DATE_EPOCH"]}
        if "HOME" not in image_env:
            passed["HOME"] = environ["HOME"]
        try:
            result = runner.run_container(
                engine,
                image_id,
                argv,
                workdir=workdir,
                binds={root: root},
                environment=passed,
                user=user,
                network=network,
                memory=memory,
                timeout=timeout,
                on_stdout=_sink(options.stdout_sink, out_keeper),
                on_stderr=_sink(options.stderr_sink, err_keeper),
                labels={"dev.paperlink.label": record.label, "dev.paperlink.run_id": record.run_id},
            )
        except ContainerError as exc:
            run.finish(exit_status=None, status=STATUS_FAILED, error=exc.message)
            raise
        status, exit_status, signal_number, error = _container_outcome(result, memory, timeout)
        return run.finish(
            exit_status=exit_status,
            status=status,
            signal_number=signal_number,
            error=error,
            stdout=out_keeper,
            stderr=err_keeper,
        )
    finally:
        if own_engine:
            engine.close()


def _sink(sink: BinaryIO | None, keeper: StreamKeeper) -> Callable[[bytes], None]:
    state = {"sink": sink}

    def feed(data: bytes) -> None:
        keeper.feed(data)
        out = state["sink"]
        if out is not None:
            try:
                out.write(data)
                out.flush()
            except (OSError, ValueError):
                state["sink"] = None  # the terminal went away; keep recording

    return feed


def _container_outcome(
    result: Any, memory: str | None, timeout: float | None
) -> tuple[str, int, int | None, str | None]:
    code = int(result.exit_status)
    if result.signals:
        number = int(result.signals[0])
        return STATUS_INTERRUPTED, 128 + number, number, "interrupted; the container was stopped"
    if result.timed_out:
        return (
            STATUS_KILLED,
            code,
            signal.SIGKILL,
            f"timed out after {timeout:g} s; the container was killed",
        )
    if result.oom_killed:
        return (
            STATUS_KILLED,
            code,
            signal.SIGKILL,
            f"killed for memory: the container used more than its limit ({memory or 'the host'})",
        )
    if code == 0:
        return STATUS_FINISHED, 0, None, None
    if code in (ExitCode.NOT_EXECUTABLE, ExitCode.COMMAND_NOT_FOUND):
        return STATUS_FAILED, code, None, "the command was not found or not executable in the image"
    if code > 128:
        return STATUS_KILLED, code, code - 128, None
    return STATUS_FAILED, code, None, None


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("._-")
    return slug or "project"
