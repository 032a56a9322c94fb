"""verify's environment checks against the real engine: the image (in the engine or an archive) and
--rerun (a re-execution compared byte for byte)."""

import json
import subprocess
from pathlib import Path

import pytest
from fixtures_docker import BUSYBOX_TAG, ContainerProject, build_image
from helpers import run_cli

pytestmark = pytest.mark.docker


def manuscript(root: Path, body: str) -> None:
    (root / "paper").mkdir(exist_ok=True)
    (root / "paper" / "main.tex").write_text(
        f"\\documentclass{{article}}\n\\begin{{document}}\n{body}\\end{{document}}\n"
    )


def test_image_gone_without_archive_then_found_in_archive_and_rerun(
    container_project: ContainerProject, tmp_path: Path
) -> None:
    root = container_project.root
    tag = f"paperlink-test/verify-{tmp_path.name[-12:].lower()}:1"
    image_id = build_image(tag, f'FROM {BUSYBOX_TAG}\nLABEL dev.paperlink.test="{tmp_path}"\n')
    try:
        run_cli(
            "run",
            "-q",
            "--image",
            tag,
            "--label",
            "box",
            "--input",
            "data/values.csv",
            "--",
            "sh",
            "make.sh",
        )
        manuscript(root, "\\plincludegraphics{box:figures/summary.txt}\n")
        report = json.loads(run_cli("verify", "paper/main.tex", "--rerun", "--json").output)
        (item,) = report["items"]
        assert item["status"] == "OK", item["reason"]
        names = {c["name"]: c for c in item["checks"]}
        assert (
            names["image"]["status"] == "OK"
            and "in the container engine" in names["image"]["reason"]
        )
        assert (
            names["rerun"]["status"] == "OK"
            and "identical in re-execution" in names["rerun"]["reason"]
        )

        archive = tmp_path / "box.tar.gz"
        run_cli("image", "save", "box", "-o", str(archive))
        subprocess.run(["docker", "rmi", "-f", image_id], check=True, capture_output=True)
        # The saved archive is recorded with the run: verify finds it without being told.
        found = json.loads(run_cli("verify", "paper/main.tex", "--json").output)
        image = next(c for c in found["items"][0]["checks"] if c["name"] == "image")
        assert image["status"] == "OK" and "archive" in image["reason"]
        # Image gone and its archive gone too: verify says what is missing and what to give it.
        moved = tmp_path / "elsewhere.tar.gz"
        archive.rename(moved)
        gone = json.loads(run_cli("verify", "paper/main.tex", "--json", ok=False).output)
        image = next(c for c in gone["items"][0]["checks"] if c["name"] == "image")
        assert gone["exit_code"] == 3 and image["status"] == "MISSING"
        assert "--image-archive FILE" in image["reason"]
        again = json.loads(
            run_cli(
                "verify", "paper/main.tex", "--image-archive", str(moved), "--rerun", "--json"
            ).output
        )
        assert again["ok"], again
    finally:
        subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)
