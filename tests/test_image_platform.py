"""A container run records the image's own platform (os-release, architecture, interpreter), never the
host's, which it keeps in ``record.host``. Against the real engine with images built offline from
scratch and Debian's static busybox; records made before keep their JSON."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from fixtures_docker import BUSYBOX_TAG, ContainerProject, build_image
from helpers import REPO_ROOT, run_cli

from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.recorder.image_platform import command_interpreter, os_release_name

SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())
OS_RELEASE = (
    'NAME="Paperlink Test OS"\nVERSION="1.0"\nID=plt\nPRETTY_NAME="Paperlink Test OS 1.0"\n'
)
# Python cannot be built into an image offline here; this stand-in answers --version as Python does,
# with a version no host has, so a record that shows it has asked the image, not the host.
FAKE_PYTHON = '#!/bin/sh\n[ "$1" = --version ] && { echo "Python 3.99.1"; exit 0; }\nexec sh "$@"\n'


def record(root: Path, label: str) -> Record:
    with RecordStore(root / ".paperlink" / "records.sqlite") as store:
        return store.get(label)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (OS_RELEASE, "Paperlink Test OS 1.0"),
        ("NAME=Alpine\nVERSION='3.19'\n", "Alpine 3.19"),
        ("# comment\nID=x\n", ""),
    ],
)
def test_os_release_name(text: str, name: str) -> None:
    assert os_release_name(text) == name


def test_command_interpreter_from_the_command_or_the_shebang(tmp_path: Path) -> None:
    script = tmp_path / "fig.py"
    script.write_text("#!/usr/bin/env python3\nprint(1)\n")
    plain = tmp_path / "run.sh"
    plain.write_text("#!/bin/sh\necho\n")
    assert command_interpreter(["python3", "fig.py"], tmp_path) == "python3"
    assert command_interpreter(["Rscript", "a.R"], tmp_path) == "Rscript"
    assert command_interpreter([str(script)], tmp_path) == "python3"
    assert command_interpreter([str(plain)], tmp_path) is None
    assert command_interpreter(["sh", "make.sh"], tmp_path) is None


@pytest.fixture
def os_image(busybox_image: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(tag, image_id)``: busybox with an os-release (linked from /etc, as Debian does) and a python3
    stand-in; removed afterwards."""
    (tmp_path / "os-release").write_text(OS_RELEASE)
    (tmp_path / "python3").write_text(FAKE_PYTHON)
    (tmp_path / "python3").chmod(0o755)
    tag = f"paperlink-test/os-{tmp_path.name[-12:].lower()}:1"
    image_id = build_image(
        tag,
        f"FROM {BUSYBOX_TAG}\nCOPY os-release /usr/lib/os-release\n"
        'RUN ["/bin/ln", "-s", "../usr/lib/os-release", "/etc/os-release"]\n'
        "COPY python3 /usr/local/bin/python3\nENV PATH=/usr/local/bin:/bin\n",
        {"os-release": tmp_path / "os-release", "python3": tmp_path / "python3"},
    )
    yield tag, image_id
    subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)


@pytest.mark.docker
def test_busybox_run_records_no_interpreter_and_never_the_hosts(
    container_project: ContainerProject,
) -> None:
    root = container_project.root
    run_cli("run", "--image", BUSYBOX_TAG, "--label", "bb", "--", "sh", "make.sh")
    found = record(root, "bb")
    inspect = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", container_project.image_id],
            capture_output=True,
            check=True,
        ).stdout
    )[0]
    p = found.platform
    assert (p.os, p.machine) == ("Linux", inspect["Architecture"])
    # No os-release, no python3 in the image: none recorded, not the host's.
    assert p.os_release == "" and p.python_version == "" and p.python_executable == ""
    assert p.hostname == "" and p.cpu_model == "" and p.kernel == ""
    assert found.executable.version is None
    host = found.host
    assert host is not None and host.hostname == socket.gethostname()
    assert host.python_version == platform.python_version() and host.os_release
    jsonschema.validate(json.loads(found.to_json()), SCHEMA)
    shown = run_cli("show", "bb").output
    assert "Platform (in the container)" in shown and "none in the image" in shown
    assert f"host        {host.hostname}" in shown


@pytest.mark.docker
def test_run_records_the_images_os_release_and_interpreter(
    container_project: ContainerProject, os_image: tuple[str, str]
) -> None:
    tag, image_id = os_image
    root = container_project.root
    run_cli("run", "--image", tag, "--label", "py", "--", "python3", "make.sh")
    found = record(root, "py")
    assert found.outcome.exit_status == 0 and (root / "figures" / "summary.txt").is_file()
    assert found.platform.os_release == "Paperlink Test OS 1.0"  # through the /etc link
    assert found.platform.python_version == "3.99.1"
    assert found.platform.python_executable == "/usr/local/bin/python3"
    assert found.executable.path == "/usr/local/bin/python3"
    assert found.executable.version == "Python 3.99.1"
    assert found.host is not None and found.host.python_version == platform.python_version()
    # What an image holds is asked once: the next run finds it in the store.
    with RecordStore(root / ".paperlink" / "records.sqlite") as store:
        assert store.cache_get(f"image-platform:{image_id}:python3") is not None
    run_cli("run", "--image", tag, "--label", "py2", "--", "python3", "make.sh")
    assert record(root, "py2").platform == found.platform
    # No probe container is left behind.
    left = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", "label=dev.paperlink.probe=1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout.split() == []


def test_host_runs_and_older_records_keep_their_json(project_dir: Path) -> None:
    """A host run has no ``host`` (its platform is the host), and a record without a SIF or a host
    serialises as before, so digests of records made before stay the same."""
    run_cli("run", "--label", "h1", "--", "python3", "make_figure.py")
    found = record(project_dir, "h1")
    assert found.host is None and found.platform.hostname == socket.gethostname()
    data = json.loads(found.to_json())
    assert "host" not in data
    raw = json.loads((REPO_ROOT / "tests" / "data" / "record-v1.json").read_text())
    old = Record.from_dict(raw)
    assert old.host is None
    assert "host" not in json.loads(old.to_json())
    boxed = Record.from_dict({**raw, "container": {"engine": "docker", "image_id": "sha256:1"}})
    assert "sif" not in json.loads(boxed.to_json())["container"]
