"""The archive's README is true: every command it shows runs, as it stands, in the unpacked archive.

The archive is written by 'paperlink publish --to DIR' from real runs (on the host, and in a container);
each ```sh block of its README.md runs in a fresh bash from the archive's folder, and must succeed:
checking SHA256SUMS, unpacking the site, re-running each record and comparing its outputs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_docker import BUSYBOX_TAG, ContainerProject
from fixtures_publish import CITATION, make_study
from helpers import run_cli

_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def run_readme(archive: Path) -> list[str]:
    """Run every shell block of ``archive/README.md`` from the archive's folder; their outputs."""
    readme = (archive / "README.md").read_text(encoding="utf-8")
    blocks = _BLOCK.findall(readme)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    for block in blocks:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + block],
            cwd=archive,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, f"{block}\n---\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    return outputs


def assert_names_only_its_files(archive: Path) -> None:
    """Every file the README's table lists is in the archive, and every file of the archive is listed."""
    readme = (archive / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", readme, re.MULTILINE))
    present = {p.name for p in archive.iterdir()} - {"manifest.json"}
    assert listed == present


def test_every_command_of_the_readme_runs_in_the_archive(project_dir: Path, tmp_path: Path) -> None:
    study = make_study(project_dir)
    archive = tmp_path / "archive"
    run_cli("publish", "--all", "--to", str(archive))
    assert (archive / "SHA256SUMS").is_file()
    assert_names_only_its_files(archive)
    outputs = run_readme(archive)
    # sha256sum -c SHA256SUMS, the site, one re-run per record and the environment's portable digest.
    assert len(outputs) == 5
    assert "README.md: OK" in outputs[0] and "ro-crate-metadata.json: OK" in outputs[0]
    assert (archive / "provenance-site" / "index.html").is_file()
    assert "figures/fig1.svg: OK" in outputs[2]
    # gen ran with uncommitted changes: the README applies them, and the outputs match again.
    assert "figures/plot.svg: OK" in outputs[3] and "results/big.bin: OK" in outputs[3]
    assert (archive / "rerun" / "gen").is_dir() and study.is_dir()
    (environment,) = archive.glob("environment-*.json")
    assert f"{environment.name}: OK" in outputs[4]


def test_the_readmes_environment_check_catches_a_changed_package(
    project_dir: Path, tmp_path: Path
) -> None:
    make_study(project_dir)
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "fig1", "--to", str(archive), "--no-site")
    (path,) = archive.glob("environment-*.json")
    document = json.loads(path.read_text())
    document["environment"]["packages"]["pip"][0]["version"] = "0.0.0"
    path.write_text(json.dumps(document, indent=2))
    block = _BLOCK.findall((archive / "README.md").read_text(encoding="utf-8"))[-1]
    done = subprocess.run(
        ["bash", "-c", block], cwd=archive, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and f"{path.name}: FAILED" in done.stdout


def test_a_changed_file_is_caught_by_sha256sums(project_dir: Path, tmp_path: Path) -> None:
    make_study(project_dir)
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "fig1", "--to", str(archive), "--no-site")
    (archive / "fig1__figures__fig1.svg").write_text("<svg id='changed'/>")
    done = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=archive, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "fig1__figures__fig1.svg: FAILED" in done.stdout


@pytest.mark.docker
def test_the_readme_re_runs_a_container_run_from_the_archived_image(
    container_project: ContainerProject, tmp_path: Path
) -> None:
    root = container_project.root
    (root / "CITATION.cff").write_text(CITATION)
    run_cli("run", "--image", BUSYBOX_TAG, "--label", "boxed", "--", "sh", "make.sh")
    run_cli("image", "save", "boxed", "-o", str(tmp_path / "environment.tar.gz"))
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "boxed", "--to", str(archive), "--no-site")
    assert_names_only_its_files(archive)
    readme = (archive / "README.md").read_text(encoding="utf-8")
    assert "docker load -i ../../../image-environment.tar.gz" in readme
    outputs = run_readme(archive)
    assert "figures/summary.txt: OK" in outputs[-2]
    assert outputs[-1].startswith("environment-") and outputs[-1].endswith(".json: OK\n")
