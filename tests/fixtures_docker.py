"""Fixtures for tests against a real container engine and a real local registry.

Test images are built offline, ``FROM scratch`` with Debian's static busybox (nothing can be pulled here).
Without an engine, static busybox or registry the ``docker`` tests fail with what is missing (never skip):
``scripts/services.sh`` (run by ``scripts/test.sh``) starts them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import git, require

from paperlink.containers.engine import Engine, connect_engine
from paperlink.errors import EngineUnavailable

BUSYBOX_TAG = "paperlink-test/busybox:1"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """A connected engine (``$DOCKER_HOST`` or the standard socket)."""
    try:
        engine = connect_engine()
    except EngineUnavailable as exc:
        require(False, f"no container engine: {exc.message}")
    yield engine
    engine.close()


def _busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file():
            done = subprocess.run(["file", "-L", str(path)], capture_output=True, text=True)
            if "dynamically linked" not in done.stdout:
                return path
    require(False, "no static busybox (Debian package busybox-static)")
    raise AssertionError("unreachable")


def build_image(tag: str, dockerfile: str, files: dict[str, Path] | None = None) -> str:
    """``docker build`` a tiny context; returns the image ID."""
    with tempfile.TemporaryDirectory(prefix="paperlink-image-") as context:
        for name, source in (files or {}).items():
            shutil.copy2(source, Path(context) / name)
        (Path(context) / "Dockerfile").write_text(dockerfile)
        done = subprocess.run(
            ["docker", "build", "-q", "-t", tag, context], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def busybox_image(docker_engine: Engine) -> str:
    """The image ID of a busybox image built from scratch, tagged :data:`BUSYBOX_TAG`."""
    return build_image(
        BUSYBOX_TAG,
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'ENV PATH=/bin\nLABEL org.opencontainers.image.title="paperlink test busybox"\nCMD ["sh"]\n',
        {"busybox": _busybox()},
    )


@pytest.fixture
def unique_image(busybox_image: str) -> Iterator[tuple[str, str]]:
    """A fresh image (its own ID) on top of the busybox one: ``(tag, image_id)``; removed afterwards."""
    name = uuid.uuid4().hex[:12]
    tag = f"paperlink-test/unique-{name}:1"
    image_id = build_image(tag, f'FROM {BUSYBOX_TAG}\nLABEL dev.paperlink.test="{name}"\n')
    yield tag, image_id
    subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a local registry: the one scripts/services.sh started, or our own."""
    address = os.environ.get("PAPERLINK_TEST_REGISTRY", "127.0.0.1:5000")
    if _answers(address):
        yield address
        return
    binary = shutil.which("docker-registry")
    if binary is None:
        require(False, "no local registry answers and docker-registry is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("registry")
    config = folder / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {folder}/data\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(binary), "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while not _answers(address):
            assert process.poll() is None, "docker-registry exited at start"
            assert time.monotonic() < deadline, "docker-registry did not answer"
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class ContainerProject:
    root: Path
    image_id: str


SCRIPT = """\
mkdir -p figures
{ echo "epoch=$SOURCE_DATE_EPOCH"; date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ;
  cat data/values.csv; } > figures/summary.txt
echo "made figures in $(pwd)"
"""


@pytest.fixture
def container_project(project_dir: Path, busybox_image: str) -> ContainerProject:
    """``project_dir`` plus a committed shell script ``make.sh`` and an input ``data/values.csv``."""
    (project_dir / "make.sh").write_text(SCRIPT)
    (project_dir / "data").mkdir()
    (project_dir / "data" / "values.csv").write_text("x,y\n1,2\n3,4\n")
    git(project_dir, "add", "make.sh", "data")
    git(project_dir, "commit", "-q", "-m", "container script")
    return ContainerProject(project_dir, busybox_image)


def containers_with_label(label: str) -> list[str]:
    done = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=dev.paperlink.label={label}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()
