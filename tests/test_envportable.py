"""The environment in the archive: ``environment-<short>.json`` once per environment, naming nothing of the
author's machine, with a digest that the file itself, Python alone and the store all give again."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_conda import CHANNEL, conda_record, make_prefix
from fixtures_docker import ContainerProject
from helpers import git, run_cli

from paperlink.core.config import find_project
from paperlink.core.envpackages import Environment, EnvironmentFile, Package
from paperlink.core.envportable import (
    archive_name,
    archived_environment,
    archived_problem,
    local_problem,
    local_references,
    portable_digest,
    portable_environment,
)
from paperlink.core.store import RecordStore

LOCAL_CHANNEL_PACKAGE = ("mylib", "0.1", "0")
LOOPBACK_PACKAGE = ("inhouse", "2.0", "1")


def local_conda(home: Path) -> Path:
    """A conda prefix in the author's home with packages from conda-forge, from a channel on the
    author's disk (``conda build`` output) and from a channel server on this machine."""
    prefix = make_prefix(home, [("numpy", "1.26.4", "py311h64a7726_0")])
    meta = prefix / "conda-meta"
    for (name, version, build), channel in [
        (LOCAL_CHANNEL_PACKAGE, f"file://{home}/conda-bld/linux-64"),
        (LOOPBACK_PACKAGE, "http://127.0.0.1:8080/lab/linux-64"),
    ]:
        record = conda_record(name, version, build, hashlib.md5(name.encode()).hexdigest())
        record["channel"] = channel
        record["url"] = f"{channel}/{name}-{version}-{build}.conda"
        (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    return prefix


@pytest.fixture
def conda_study(project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two runs in one conda environment (conda and lock files only: the host's Debian packages add
    nothing here but time), with a requirements file in the project."""
    prefix = local_conda(tmp_path / "home" / "curie")
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", str(prefix))  # a path, as `conda activate PATH` sets it
    with (project_dir / "paperlink.toml").open("a") as settings:
        settings.write('\n[environment]\ncapture = ["conda", "files"]\n')
    (project_dir / "requirements.txt").write_text("numpy==1.26.4\n")
    git(project_dir, "add", ".")
    git(project_dir, "commit", "-q", "-m", "settings")
    for label in ("fig1", "fig2"):
        run_cli("run", "--label", label, "--", sys.executable, "make_figure.py", label)
    return project_dir


def test_the_archive_holds_each_environment_once_and_nothing_of_the_authors_machine(
    conda_study: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    run_cli("publish", "--all", "--to", str(archive), "--no-site")
    with RecordStore(find_project().store_path) as store:
        digests = {store.get(label).environment_digest for label in ("fig1", "fig2")}
        (digest,) = digests
        assert digest is not None
        stored = store.get_environment(digest)
    (name,) = [p.name for p in archive.glob("environment-*.json")]
    assert name == archive_name(digest)
    text = (archive / name).read_text(encoding="utf-8")
    # Neither the environment nor the files that re-create it name this machine.
    for path in archive.glob("environment-*"):
        for local in (
            str(tmp_path),
            os.path.realpath(tmp_path),
            str(Path.home()),
            "file:",
            "127.0.0.1",
        ):
            assert local not in path.read_text(encoding="utf-8"), (path.name, local)
    (spec,) = archive.glob("environment-*.conda-explicit.txt")
    lines = spec.read_text().splitlines()
    assert any(line.startswith(f"{CHANNEL}/numpy-1.26.4-py311h64a7726_0.conda#") for line in lines)
    mylib = [line for line in lines if "mylib" in line]
    assert len(mylib) == 1 and mylib[0].startswith("# mylib=0.1=0: mylib-0.1-0.conda came from a")
    assert f"({digest})" in lines[0]  # the record's digest, not the portable form's
    document = json.loads(text)
    environment = document["environment"]
    assert environment["sources"]["conda"] == "conda prefix 'analysis'"
    conda = {p["name"]: p for p in environment["packages"]["conda"]}
    assert conda["numpy"]["url"] == f"{CHANNEL}/numpy-1.26.4-py311h64a7726_0.conda"  # public: kept
    assert conda["mylib"]["url"] == "mylib-0.1-0.conda"
    assert conda["mylib"]["channel"] == "local channel 'conda-bld'"
    assert conda["inhouse"]["url"] == "inhouse-2.0-1.conda"
    assert conda["mylib"]["md5"] == hashlib.md5(b"mylib").hexdigest()  # what identifies it is kept
    assert {(f["path"], f["sha256"]) for f in environment["files"]} == {
        ("requirements.txt", hashlib.sha256(b"numpy==1.26.4\n").hexdigest())
    }
    # The record's digest names it; the portable digest is the file's own, and the store's again.
    assert document["environment_digest"] == digest
    canonical = json.dumps(environment, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert document["portable_digest"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert document["portable_digest"] == portable_digest(portable_environment(stored))
    assert archived_problem((archive / name).read_bytes(), digest, stored) is None
    # The store keeps the environment as it was recorded, local paths and all: its digest is unchanged.
    assert stored.digest() == digest and "file://" in stored.to_json()
    readme = (archive / "README.md").read_text(encoding="utf-8")
    assert f"| `{name}` | the environment of fig1, fig2:" in readme
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=archive, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0 and f"{name}: OK" in checked.stdout


def test_a_changed_package_breaks_the_portable_digest(conda_study: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "fig1", "--to", str(archive), "--no-site")
    (path,) = archive.glob("environment-*.json")
    document = json.loads(path.read_text())
    digest = document["environment_digest"]
    assert archived_problem(path.read_bytes(), digest) is None
    document["environment"]["packages"]["conda"][0]["version"] = "9.9.9"
    tampered = json.dumps(document).encode()
    assert "changed after it was published" in str(archived_problem(tampered, digest))
    assert "not the record's" in str(archived_problem(path.read_bytes(), "sha256:" + "0" * 64))
    assert "not JSON" in str(archived_problem(b"\x00", digest))


@pytest.mark.parametrize(
    ("source", "portable"),
    [
        ("/home/curie/miniforge/envs/analysis", "conda prefix 'analysis'"),
        ("/usr/lib/R/bin/Rscript", "program 'Rscript'"),
        ("/home/curie/.julia/environments/v1.10/Manifest.toml", "manifest 'Manifest.toml'"),
        ("env/Manifest.toml", "env/Manifest.toml"),  # inside the project: the archive's own path
        ("image sha256:abc", "image sha256:abc"),
        ("interpreter", "interpreter"),
    ],
)
def test_sources_are_named_by_their_role(source: str, portable: str) -> None:
    manager = "conda" if "miniforge" in source else "r"
    environment = Environment(sources={manager: source}, conda_name="analysis")
    assert portable_environment(environment)["sources"][manager] == portable


def test_an_image_in_a_local_registry_is_named_by_its_digest() -> None:
    digest = "sha256:" + "a" * 64
    for image, portable in [
        (f"127.0.0.1:5000/lab/img@{digest}", digest),
        (f"localhost:5000/lab/img@{digest}", digest),
        (f"ghcr.io/lab/img@{digest}", f"ghcr.io/lab/img@{digest}"),
        (f"debian@{digest}", f"debian@{digest}"),
    ]:
        assert portable_environment(Environment(image=image))["image"] == portable


def test_urls_lose_their_credentials_and_local_ones_their_place() -> None:
    packages = [
        Package("a", "1", url="https://me:pw@conda.example.org/chan/linux-64/a-1-0.conda"),
        Package("b", "1", url="http://10.0.0.7/chan/b-1-0.conda", channel="http://10.0.0.7/chan"),
        Package("c", "1", channel="conda-forge"),
    ]
    environment = Environment(
        packages={"conda": packages}, files=[EnvironmentFile("/etc/hosts", "0" * 64, 1)]
    )
    portable = portable_environment(environment)
    a, b, c = portable["packages"]["conda"]
    assert a["url"] == "https://conda.example.org/chan/linux-64/a-1-0.conda"
    assert (b["url"], b["channel"]) == ("b-1-0.conda", "local channel 'chan'")
    assert c["channel"] == "conda-forge"
    assert portable["files"][0]["path"] == "hosts"
    assert list(local_references(portable)) == []
    assert local_problem("file:///srv/x") and local_problem("~/x") and local_problem("http://lab/x")
    assert local_problem("https://conda.anaconda.org/conda-forge") is None


def test_the_archived_bytes_are_the_same_every_time() -> None:
    environment = Environment(packages={"pip": [Package("numpy", "1.26.4")]}, sources={"pip": "x"})
    digest = environment.digest()
    assert archived_environment(environment, digest) == archived_environment(environment, digest)


@pytest.mark.docker
def test_an_image_from_a_registry_on_this_machine_is_archived_by_its_digest(
    container_project: ContainerProject,
    unique_image: tuple[str, str],
    registry: str,
    tmp_path: Path,
) -> None:
    tag, _ = unique_image
    run_cli("run", "--image", tag, "--label", "p1", "--", "true")
    pushed = json.loads(run_cli("image", "push", "p1", "--registry", registry, "--json").stdout)
    repo_digest = pushed["repo_digest"]
    assert repo_digest.startswith(registry)
    run_cli("run", "--image", repo_digest.split("@")[0] + ":p1", "--label", "p2", "--", "true")
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "p2", "--to", str(archive), "--no-site", "--no-image")
    (path,) = archive.glob("environment-*.json")
    document = json.loads(path.read_text())
    assert document["environment"]["image"] == repo_digest.split("@")[1]
    for made in archive.glob("environment-*"):
        assert registry not in made.read_text(), made.name
    # The Dockerfile builds FROM the image the reader loads from the archive, named by a build argument.
    (dockerfile,) = archive.glob("environment-*.Dockerfile")
    assert "ARG IMAGE\nFROM ${IMAGE}\n" in dockerfile.read_text()
    built = subprocess.run(
        [
            "docker",
            "build",
            "-q",
            "--network",
            "none",
            "--build-arg",
            f"IMAGE={tag}",
            "-f",
            str(dockerfile),
            str(archive),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    subprocess.run(["docker", "rmi", built.stdout.strip()], capture_output=True, check=False)
    # The image's own Debian packages (none: busybox has no dpkg) and no host's.
    assert "dpkg" not in document["environment"]["packages"]


# An environment as paperlink stored it before Julia's UUIDs and the archived form existed: its digest,
# which records name, must not change, and it must still have a portable form.
OLD_ENVIRONMENT = (
    '{"conda_name":"analysis","conda_platform":"linux-64","files":[{"path":"uv.lock","sha256":"'
    + "1" * 64
    + '","size":10}],"image":null,"packages":{"conda":[{"build":"py311h64a7726_0","channel":'
    '"https://conda.anaconda.org/conda-forge/linux-64","md5":"' + "2" * 32 + '","name":"numpy",'
    '"url":"https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda",'
    '"version":"1.26.4"}],"dpkg":[{"architecture":"amd64","name":"tar","version":"1.35+dfsg-3"}],'
    '"julia":[{"name":"Example","version":"0.5.3"}]},"sources":{"conda":'
    '"/home/curie/miniforge/envs/analysis","dpkg":"host","julia":"/usr/local/bin/julia"}}'
)


def test_an_environment_stored_before_keeps_its_digest_and_has_a_portable_form() -> None:
    environment = Environment.from_json(OLD_ENVIRONMENT)
    assert environment.to_json() == OLD_ENVIRONMENT
    old_digest = "sha256:" + hashlib.sha256(OLD_ENVIRONMENT.encode()).hexdigest()
    assert environment.digest() == old_digest
    data = archived_environment(environment, old_digest)
    assert archived_problem(data, old_digest, environment) is None
    portable = json.loads(data)["environment"]
    assert portable["sources"] == {
        "conda": "conda prefix 'analysis'",
        "dpkg": "host",
        "julia": "program 'julia'",
    }
    assert list(local_references(portable)) == []
