"""The archive's RO-Crate as the official validator (PyPI roc-validator) judges it, offline.

Each crate comes from a real 'paperlink publish --to DIR' of real runs, on the host and in a container, and
is validated at REQUIRED and RECOMMENDED level against RO-Crate 1.1 and Process Run Crate 0.5 by
``tests/rocrate_validate.py`` (a subprocess: the validator's HTTP cache holds the local copy of the 1.1
context, and every socket connection is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures_conda import make_prefix
from fixtures_docker import BUSYBOX_TAG, ContainerProject
from fixtures_publish import CITATION, make_study
from helpers import REPO_ROOT, git, run_cli

from paperlink.publish.crate_builder import crate_time, spdx_id
from paperlink.publish.crate_software import split_reference
from paperlink.publish.rocrate import build_crate

PROFILES = ("ro-crate-1.1", "process-run-crate-0.5")
LEVELS = ("required", "recommended")
ORGANIZATIONS = (
    '\n[publish]\norganizations = {"Sorbonne Université" = "https://ror.org/02en5vm52", '
    '"The Tide Consortium" = "https://tides.example.org/"}\n'
)


def validate(crate: Path, profile: str, level: str) -> dict[str, Any]:
    out = crate.parent / f"validation-{profile}-{level}.json"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tests" / "rocrate_validate.py"), str(crate), profile,
         level, str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and out.exists(), done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    # The context came from the local copy; nothing reached (or tried to reach) the network.
    assert result["served"] == ["https://w3id.org/ro/crate/1.1/context"]
    assert result["refused"] == []
    return result


def assert_valid(crate: Path, levels: tuple[str, ...] = LEVELS) -> None:
    for profile in PROFILES:
        for level in levels:
            result = validate(crate, profile, level)
            issues = [f"{i['severity']} {i['name']}: {i['message']}" for i in result["issues"]]
            assert result["passed"] and not issues, f"{profile} at {level}:\n" + "\n".join(issues)


def assert_no_local_paths(archive: Path, *local: Path) -> None:
    """No file paperlink wrote into the archive (the crate, the manifest, the records, the README) names
    where the author keeps things. (What a run itself printed is its output, kept as it is.)"""
    needles = [str(p) for p in local] + [os.path.realpath(p) for p in local]
    for path in archive.iterdir():
        if path.suffix in (".json", ".md") or path.name == "SHA256SUMS":
            text = path.read_text(encoding="utf-8")
            for needle in needles:
                assert needle not in text, f"{path.name} holds {needle}"


@pytest.fixture
def described(project_dir: Path) -> Path:
    """The publish study with a public repository, organisations' addresses and an input file."""
    git(project_dir, "remote", "add", "origin", "https://git.example.org/tides/study.git")
    with (project_dir / "paperlink.toml").open("a") as settings:
        settings.write(ORGANIZATIONS)
    make_study(project_dir)
    (project_dir / "data.csv").write_text("x,y\n1,2\n")
    run_cli("run", "--label", "fit", "--input", "data.csv", "--", sys.executable,
            "make_figure.py", "fit")  # fmt: skip
    return project_dir


@pytest.mark.slow  # the host's ~1,000 Debian packages are entities the validator checks one by one
def test_a_host_run_crate_passes_the_validator(described: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    pdf = tmp_path / "outside" / "paper.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    run_cli("publish", "--all", "--to", str(archive), "--pdf", str(pdf))
    assert_valid(archive)
    crate = json.loads((archive / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in crate["@graph"]}
    run = graph["#run-gen"]
    commit = git(described, "rev-parse", "HEAD").strip()
    code, environment = (graph[tool["@id"]] for tool in run["instrument"])
    assert code["@type"] == "SoftwareSourceCode"
    # The environment beside the code: one SoftwareApplication per manager, its packages with versions.
    record = json.loads((archive / "gen.record.json").read_text())
    assert environment["identifier"] == record["environment_digest"]
    managers = {
        graph[g["@id"]]["@id"].rsplit("-", 1)[-1]: graph[g["@id"]] for g in environment["hasPart"]
    }
    assert {"dpkg", "pip"} <= set(managers)
    dpkg = {graph[p["@id"]]["name"]: graph[p["@id"]] for p in managers["dpkg"]["hasPart"]}
    listed = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "dpkg"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert dpkg["dpkg"]["softwareVersion"] == listed[1]
    assert dpkg["dpkg"]["@type"] == "SoftwareApplication"
    assert dpkg["dpkg"]["identifier"].startswith(f"pkg:deb/debian/dpkg@{listed[1]}")
    recipes = {
        e["@id"]
        for e in (
            environment["subjectOf"]
            if isinstance(environment["subjectOf"], list)
            else [environment["subjectOf"]]
        )
    }
    short = record["environment_digest"].removeprefix("sha256:")[:12]
    assert {
        f"environment-{short}.requirements.txt",
        f"environment-{short}.apt-install.sh",
    } <= recipes
    assert code["url"] == "https://git.example.org/tides/study.git"
    assert {e["@id"] for e in code["encoding"]} == {f"code-{commit[:12]}.tar.gz", "gen.code.diff"}
    assert run["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert graph[run["agent"][0]["@id"]]["@type"] == "Person"
    assert graph["./"]["license"] == {"@id": "https://spdx.org/licenses/MIT"}
    assert graph["https://spdx.org/licenses/MIT"]["@type"] == "CreativeWork"
    assert graph["paper.pdf"]["alternateName"] == "paper.pdf"  # not where it lay
    fit = graph["#run-fit"]
    assert graph[fit["object"]["@id"]]["name"] == "data.csv"
    manifest = json.loads((archive / "manifest.json").read_text())
    assert {f["source"] for f in manifest["files"] if f["role"] == "pdf"} == {"paper.pdf"}
    assert_no_local_paths(archive, described, tmp_path, Path.home())


def test_the_archived_environment_is_a_file_of_the_crate(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment in the author's home, where conda installs: the archived record says ~ for it.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    prefix = make_prefix(tmp_path / "home", [("numpy", "1.26.4", "py311h64a7726_0")])
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    git(project_dir, "remote", "add", "origin", "https://git.example.org/tides/study.git")
    with (project_dir / "paperlink.toml").open("a") as settings:
        # conda and lock files: the host's ~1,000 Debian packages would only make the validator slow.
        settings.write(ORGANIZATIONS + '\n[environment]\ncapture = ["conda", "files"]\n')
    make_study(project_dir)
    archive = tmp_path / "archive"
    run_cli("publish", "--all", "--to", str(archive), "--no-site")
    assert_valid(archive)
    graph = {
        e["@id"]: e for e in json.loads((archive / "ro-crate-metadata.json").read_text())["@graph"]
    }
    (name,) = [p.name for p in archive.glob("environment-*.json")]
    entity = graph[name]
    assert entity["@type"] == "File" and entity["encodingFormat"] == "application/json"
    assert entity["sha256"] == hashlib.sha256((archive / name).read_bytes()).hexdigest()
    assert {"@id": name} in graph["./"]["hasPart"]
    record = json.loads((archive / "gen.record.json").read_text())
    environment = next(
        e for e in graph.values() if e.get("identifier") == record["environment_digest"]
    )
    described_by = environment["subjectOf"]
    assert {"@id": name} in (described_by if isinstance(described_by, list) else [described_by])
    assert_no_local_paths(archive, project_dir, tmp_path, Path.home())


def test_a_minimal_project_crate_passes_at_required_level(
    project_dir: Path, tmp_path: Path
) -> None:
    # No CITATION.cff, no remote, no organisation: what RECOMMENDED asks for is not known, but nothing
    # REQUIRED is missing.
    run_cli("run", "--label", "fig1", "--", sys.executable, "make_figure.py", "fig1")
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "fig1", "--to", str(archive), "--no-site")
    assert_valid(archive, levels=("required",))


@pytest.mark.docker
def test_a_container_run_crate_passes_the_validator(
    container_project: ContainerProject, tmp_path: Path
) -> None:
    root = container_project.root
    (root / "CITATION.cff").write_text(CITATION)
    git(root, "remote", "add", "origin", "https://git.example.org/tides/boxed.git")
    with (root / "paperlink.toml").open("a") as settings:
        settings.write(ORGANIZATIONS)
    run_cli("run", "--image", BUSYBOX_TAG, "--label", "boxed", "--input", "data/values.csv",
            "--", "sh", "make.sh")  # fmt: skip
    run_cli("image", "save", "boxed", "-o", str(tmp_path / "environment.tar.gz"))
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "boxed", "--to", str(archive))
    assert_valid(archive)
    crate = json.loads((archive / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in crate["@graph"]}
    image = graph[graph["#run-boxed"]["containerImage"]["@id"]]
    assert image["@type"] == "ContainerImage"
    assert image["sha256"] == container_project.image_id.removeprefix("sha256:")
    assert image["distribution"] == {"@id": "image-environment.tar.gz"}
    assert image["additionalType"] == {"@id": "https://w3id.org/ro/terms/workflow-run#DockerImage"}
    assert_no_local_paths(archive, root, tmp_path, Path.home())


def test_publisher_licence_times_and_references() -> None:
    crate = build_crate(
        files=[],
        records=[],
        metadata={"title": "t", "license": "cc-by-4.0", "publication_date": "2026-01-02"},
        publisher="https://sandbox.zenodo.org/api",
    )
    graph = {e["@id"]: e for e in crate["@graph"]}
    assert graph[graph["./"]["publisher"]["@id"]]["name"] == "Zenodo"
    assert graph["./"]["license"] == {"@id": "https://spdx.org/licenses/CC-BY-4.0"}
    assert crate["@context"][0] == "https://w3id.org/ro/crate/1.1/context"
    assert spdx_id("gpl-3.0") == "GPL-3.0-only" and spdx_id("apache-2.0") == "Apache-2.0"
    assert crate_time("2026-03-04T05:06:07.123456Z") == "2026-03-04T05:06:07.123+00:00"
    assert split_reference("", "python:3.12") == ("docker.io", "library/python", "3.12")
    assert split_reference("", "127.0.0.1:5000/lab/img:v1@sha256:ab") == (
        "127.0.0.1:5000",
        "lab/img",
        "v1",
    )
