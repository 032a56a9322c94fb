"""What a caller asks of one recorded run: :class:`RunOptions` for every run, :class:`ContainerOptions` for a
run in a container. The command line, ``rerun``, ``verify --rerun`` and the Python API fill these in, and
``capture_run`` / ``capture_container_run`` take them as they are, so adding a capture option is one field
here and its use in :mod:`paperlink.recorder.run`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any, BinaryIO

from paperlink.core.hashing import ProgressCallback
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.runcontext import ContainerRef

# Makes the progress callback for one step of the capture, named by the string (``None``: no progress shown).
ProgressFactory = Callable[[str], ProgressCallback | None]


@model
class RunOptions:
    """One run's description and where its streams and progress go.

    ``label`` (default: the next free one), ``reason`` and ``tags`` describe the run; ``inputs`` and
    ``outputs`` name files beyond what the output folders show; ``source_date_epoch`` fixes the run's
    ``SOURCE_DATE_EPOCH``; ``kind`` is ``command``, ``rerun`` or ``verify-rerun``; ``links`` are typed
    references to other records (``{"rerun_of": LABEL}``). The command's output is copied to
    ``stdout_sink``/``stderr_sink`` as it comes; ``on_start`` sees the running record once it is stored.
    """

    label: str | None = None
    reason: str | None = None
    tags: Sequence[str] = ()
    inputs: Sequence[str | os.PathLike[str]] = ()
    outputs: Sequence[str | os.PathLike[str]] = ()
    source_date_epoch: int | None = None
    kind: str = "command"
    links: Mapping[str, str] | None = None
    stdout_sink: BinaryIO | None = None
    stderr_sink: BinaryIO | None = None
    on_progress: ProgressFactory | None = None
    on_start: Callable[[Record], None] | None = None
    # The Apptainer/Singularity image (SIF) a host run uses (``--sif``); see recorder.sif_environment.
    sif: str | os.PathLike[str] | None = None
    # Follow a host run with strace (``--trace``): its files are the ones it opened (recorder.tracing).
    trace: bool = False


@model
class ContainerOptions:
    """The container a run uses: ``image`` (a tag, digest reference or image ID) or ``dockerfile`` to
    build, with ``build_args``; ``network`` (none unless named), ``memory`` and ``timeout`` limits;
    ``engine`` a connected :class:`paperlink.containers.engine.Engine` (default: ``$DOCKER_HOST`` or the
    standard socket); ``expected_image_id`` the image ID the image must resolve to (a rerun)."""

    image: str | None = None
    dockerfile: str | os.PathLike[str] | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    memory: str | None = None
    timeout: float | None = None
    engine: Any = None
    expected_image_id: str | None = None

    @classmethod
    def replaying(cls, ref: ContainerRef, engine: Any = None) -> ContainerOptions:
        """The container a recorded run used (its image ID and limits), to run it again."""
        return cls(
            image=ref.image_id,
            network=ref.network,
            memory=ref.memory_limit,
            timeout=ref.timeout_seconds,
            engine=engine,
        )
