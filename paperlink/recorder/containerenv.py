"""Is paperlink itself running inside a container? Docker, Podman, Kubernetes and Apptainer/Singularity
(as on HPC clusters) each leave marks: a file at the root, a cgroup path, environment variables. When
they do, every record says so and carries the image's identity where the container reveals it.

No container engine is contacted here; this reads a few small files, so it is cheap enough for every run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from paperlink.core.patterns import LazyPattern
from paperlink.core.runcontext import ContainerRef

_CGROUP_ENGINES = (
    ("libpod", "podman"),
    ("docker", "docker"),
    ("kubepods", "kubernetes"),
    ("containerd", "containerd"),
    ("lxc", "lxc"),
)
_CONTAINERENV_LINE = LazyPattern(r'^(\w+)="(.*)"$')


def detect_host_container(
    root: Path = Path("/"), environ: Mapping[str, str] | None = None
) -> ContainerRef | None:
    """A :class:`ContainerRef` with ``inside_container=True`` when ``root`` is a container's root
    filesystem (``/`` by default), else ``None``. ``root`` and ``environ`` are parameters so the
    function can be tested on a copy of a container's files."""
    env = os.environ if environ is None else environ
    for prefix, engine in (("APPTAINER", "apptainer"), ("SINGULARITY", "singularity")):
        image = env.get(f"{prefix}_CONTAINER")
        if image:
            return ContainerRef(
                engine=engine,
                engine_version=env.get(f"{prefix}_VERSION") or None,
                reference=image,
                pinned_reference=image,
                labels=_labels({"name": env.get(f"{prefix}_NAME", "")}),
                inside_container=True,
            )
    containerenv = root / "run" / ".containerenv"
    if containerenv.is_file():
        # Podman writes engine, name, id, image and imageid here (empty values when not permitted).
        values = _read_containerenv(containerenv)
        engine_text = values.get("engine", "")
        image_id = values.get("imageid") or None
        return ContainerRef(
            engine="podman",
            engine_version=engine_text.split("-", 1)[1] if "-" in engine_text else None,
            reference=values.get("image") or None,
            pinned_reference=f"sha256:{image_id}" if image_id else None,
            image_id=f"sha256:{image_id}" if image_id else None,
            labels=_labels({"name": values.get("name", ""), "id": values.get("id", "")}),
            inside_container=True,
        )
    cgroup_engine = _cgroup_engine(root)
    if (root / ".dockerenv").exists():
        return ContainerRef(engine="docker", inside_container=True)
    if cgroup_engine is not None:
        return ContainerRef(engine=cgroup_engine, inside_container=True)
    return None


def _read_containerenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        match = _CONTAINERENV_LINE.re.match(line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _cgroup_engine(root: Path) -> str | None:
    for name in ("1", "self"):
        try:
            text = (root / "proc" / name / "cgroup").read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            path = line.split(":", 2)[-1]
            for needle, engine in _CGROUP_ENGINES:
                if needle in path:
                    return engine
    return None


def _labels(values: Mapping[str, str]) -> dict[str, str]:
    return {f"dev.paperlink.host.{key}": value for key, value in values.items() if value}
