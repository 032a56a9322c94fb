"""The environment a recorded command would have here and now: the recorder's own scans
(:class:`~paperlink.recorder.envscan.EnvironmentCapture` and the interpreter's :class:`~paperlink.recorder.probe.Probe`)
run again for a record's command, so that ``paperlink verify --environment`` can say what drifted.

Only what the recorder captures on the host is scanned again: a run in a container or a SIF image used the
image's packages, which the image's digest already pins. The scans go through the same cache as a run's, so
a second verification reads nothing that has not changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field

from paperlink.core.config import Project
from paperlink.core.envpackages import Environment
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.recorder.envscan import EnvironmentCapture, capture_parts
from paperlink.recorder.probe import Probe, resolve_program


@model
class Rescan:
    """The environment found now, and the managers it covers (the project's ``[environment] capture``
    parts, and ``pip`` when the record has the interpreter's distributions)."""

    environment: Environment
    managers: set[str] = field(default_factory=set)
    files: bool = False  # whether the lock files were looked for


def ran_in_image(record: Record) -> str | None:
    """The image a record's command ran in (its packages are the image's, not this machine's), or None
    for a run on the host."""
    container = record.container
    if container is None:
        return None
    if container.sif is not None:
        from paperlink.recorder.sif_environment import sif_in_command

        # `apptainer exec IMAGE CMD` runs CMD in the image; `--sif FILE -- CMD` names it beside a host run.
        return f"SIF image {container.sif.sha256_ref}" if sif_in_command(record.argv) else None
    if container.image_id and not container.inside_container:
        return f"image {container.image_id[:19]}…"
    return None


def rescan_environment(
    project: Project,
    store: RecordStore,
    record: Record,
    environ: Mapping[str, str] | None = None,
) -> Rescan:
    """Scan this machine's environment as a run of ``record``'s command in its working folder would
    (with ``environ``, this process's by default)."""
    env = dict(os.environ if environ is None else environ)
    parts = capture_parts(project.settings)
    cwd = project.root / (record.working_directory or ".")
    capture = EnvironmentCapture(
        store,
        project.root,
        list(record.argv),
        env,
        parts=parts,
        skip_dirs=project.output_dirs,
        cwd=cwd if cwd.is_dir() else project.root,
    )
    probe = None
    if record.packages:
        probe = Probe(store, resolve_program(list(record.argv), env), env)
        probe.start()
    capture.start()
    pip: dict[str, str] = {}
    if probe is not None:
        _, pip = probe.result()
        probe.remember()
    managers = {part for part in parts if part != "files"} | ({"pip"} if probe else set())
    return Rescan(capture.finish(pip), managers, "files" in parts)
