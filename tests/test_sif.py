"""SIF images read without Apptainer, judged by the reference implementation (github.com/sylabs/sif, from
Debian's golang-github-sylabs-sif-dev): its own test images, and images its Go library builds here offline
with a squashfs root file system, whose objects it reads back and hashes itself."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO_ROOT, paperlink_process, require, run_cli

from paperlink.containers.sif import read_sif
from paperlink.errors import ExitCode, SifError

SIF_SOURCE = Path("/usr/share/gocode/src/github.com/sylabs/sif")
IMAGES = SIF_SOURCE / "test" / "images"


@pytest.fixture(scope="session")
def sifbuild(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/sifbuild built with Debian's Go in GOPATH mode against the packaged reference library."""
    require(shutil.which("go"), "Go (Debian's golang-go) is not installed")
    require(SIF_SOURCE.is_dir(), f"{SIF_SOURCE} is missing (Debian's golang-github-sylabs-sif-dev)")
    work = tmp_path_factory.mktemp("gopath")
    (work / "src/github.com/sylabs/sif").mkdir(parents=True)
    (work / "src/github.com/sylabs/sif/v2").symlink_to(SIF_SOURCE)
    binary = work / "sifbuild"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{work}{os.pathsep}/usr/share/gocode",
        "GOCACHE": str(work / "cache"),
        "GOFLAGS": "",
    }
    done = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=REPO_ROOT / "tests" / "sifbuild",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return binary


SIF_DPKG_STATUS = """Package: libplt-image1
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 4.2.0-1

Package: removed-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: plt-data
Status: install ok installed
Architecture: all
Version: 2026.1
"""


@pytest.fixture
def built(sifbuild: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    """A SIF with a definition file, labels and a squashfs root file system, and what Go reads of it."""
    require(shutil.which("mksquashfs"), "mksquashfs (Debian's squashfs-tools) is not installed")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "os-release").write_text('PRETTY_NAME="paperlink test"\nID=test\n')
    # A dpkg status file in the image, as Debian writes it: its packages are the image's, not the host's.
    (rootfs / "var" / "lib" / "dpkg").mkdir(parents=True)
    (rootfs / "var" / "lib" / "dpkg" / "status").write_text(SIF_DPKG_STATUS)
    (rootfs / "data.bin").write_bytes(os.urandom(300_000))
    squashfs = tmp_path / "root.squashfs"
    subprocess.run(
        ["mksquashfs", str(rootfs), str(squashfs), "-noappend", "-quiet", "-no-progress",
         "-all-root"],
        check=True,
    )  # fmt: skip
    (tmp_path / "def").write_text("Bootstrap: scratch\n%labels\n  Author paperlink\n")
    (tmp_path / "labels.json").write_text(json.dumps({"org.label-schema.name": "plt", "n": 1}))
    image = tmp_path / "env.sif"
    done = subprocess.run(
        [str(sifbuild), str(image), str(squashfs), str(tmp_path / "def"),
         str(tmp_path / "labels.json"), "1700000000"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    yield image, json.loads(done.stdout)


def test_read_sif_agrees_with_the_reference_implementation(
    built: tuple[Path, dict[str, object]],
) -> None:
    image, reference = built
    found = read_sif(image)
    assert found.sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
    assert found.size == image.stat().st_size
    assert found.id == reference["id"] == "5d6e1cdb-6a0c-4d2e-9f1a-0b7e3c1d2a4f"
    assert found.version == reference["version"]
    assert found.arch == reference["arch"] == "amd64"
    assert found.created == reference["created"] == "2023-11-14T22:13:20Z"
    assert found.launch_script == reference["launch_script"]
    theirs = reference["objects"]
    assert isinstance(theirs, list)
    assert [(o.id, o.group, o.size, o.offset, o.sha256) for o in found.objects] == [
        (t["id"], t["group"], t["size"], t["offset"], t["sha256"]) for t in theirs
    ]
    assert [o.type for o in found.objects] == ["deffile", "labels", "partition"]
    part = found.objects[2]
    assert (part.partition_fs, part.partition_type, part.partition_arch) == (
        "squashfs", "primary-system", "amd64"
    )  # fmt: skip
    assert theirs[2]["fs"] == "Squashfs" and theirs[2]["part"] == "*System"
    assert found.deffile == "Bootstrap: scratch\n%labels\n  Author paperlink\n"
    assert found.labels == {"org.label-schema.name": "plt", "n": 1}
    assert not found.signed


@pytest.mark.parametrize(
    ("name", "signed", "types"),
    [
        ("empty.sif", False, []),
        ("one-group.sif", False, ["partition", "partition"]),
        ("one-group-signed.sif", True, ["partition", "partition", "signature"]),
        ("two-groups-signed.sif", True, ["partition"] * 3 + ["signature"] * 2),
        ("one-object-generic-json.sif", False, ["generic-json"]),
        ("one-object-sbom.sif", False, ["sbom"]),
    ],
)
def test_reference_test_images(name: str, signed: bool, types: list[str]) -> None:
    require(IMAGES.is_dir(), f"{IMAGES} is missing (Debian's golang-github-sylabs-sif-dev)")
    found = read_sif(IMAGES / name)
    assert found.signed is signed
    assert [o.type for o in found.objects] == types
    data = (IMAGES / name).read_bytes()
    for obj in found.objects:
        assert obj.sha256 == hashlib.sha256(data[obj.offset : obj.offset + obj.size]).hexdigest()
    if signed:
        signatures = [o for o in found.objects if o.type == "signature"]
        assert all(o.signature_hash == "sha256" and o.signature_entity for o in signatures)


def test_reference_header_fields() -> None:
    require(IMAGES.is_dir(), f"{IMAGES} is missing (Debian's golang-github-sylabs-sif-dev)")
    assert read_sif(IMAGES / "empty-id.sif").id == "3fa802cc-358b-45e3-bcc0-69dc7a45f9f8"
    assert read_sif(IMAGES / "one-object-time.sif").created == "2020-06-30T00:01:56Z"
    assert read_sif(IMAGES / "empty-launch-script.sif").launch_script == (
        "#!/usr/bin/env run-script\n"
    )
    two = read_sif(IMAGES / "two-groups.sif")
    assert [(o.group, o.partition_fs, o.partition_arch) for o in two.objects][2] == (
        2, "ext3", "amd64"
    )  # fmt: skip


def test_not_a_sif_and_truncated_images_are_clear_errors(
    built: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    image, _ = built
    (tmp_path / "x.sif").write_bytes(b"not an image at all" * 20)
    with pytest.raises(SifError, match="is not a SIF image"):
        read_sif(tmp_path / "x.sif")
    cut = tmp_path / "cut.sif"
    cut.write_bytes(image.read_bytes()[:40_000])
    with pytest.raises(SifError, match="lies outside the file"):
        read_sif(cut)
    done = paperlink_process("image", "inspect", str(cut))
    assert done.returncode == ExitCode.ERROR
    assert b"Traceback" not in done.stderr and b"outside the file" in done.stderr


def test_image_inspect_shows_the_identity(built: tuple[Path, dict[str, object]]) -> None:
    image, reference = built
    shown = json.loads(run_cli("image", "inspect", str(image), "--json").output)
    assert shown["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert shown["id"] == reference["id"] and shown["signed"] is False
    assert [o["sha256"] for o in shown["objects"]] == [
        o["sha256"]
        for o in reference["objects"]  # type: ignore[attr-defined]
    ]
    text = run_cli("image", "inspect", str(image)).output
    assert "squashfs, primary-system, amd64" in text and "Bootstrap: scratch" in text
