"""Re-executing records: byte-identical outputs from an archived image, and every way it can differ."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_docker import BUSYBOX_TAG, ContainerProject, build_image
from fixtures_rerun import valued_project
from helpers import git, run_cli

from paperlink.core.files import FileDigest
from paperlink.core.store import RecordStore
from paperlink.recorder.rerun import DIFFERENT, IDENTICAL, MISSING, NEW, compare_outputs


def records(root: Path) -> RecordStore:
    return RecordStore(root / ".paperlink" / "records.sqlite")


def engine_has(image_id: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image_id], capture_output=True)
    return done.returncode == 0


# -- pure ------------------------------------------------------------------------------------------------
def test_compare_outputs_classifies_each_output() -> None:
    recorded = [
        FileDigest("figures/a.pdf", sha256="1"),
        FileDigest("figures/b.pdf", sha256="2"),
        FileDigest("figures/c.pdf", sha256="3"),
        FileDigest("figures/gone.pdf", kind="missing"),
    ]
    rerun = [
        FileDigest("figures/a.pdf", sha256="1"),
        FileDigest("figures/b.pdf", sha256="9"),
        FileDigest("figures/extra.pdf", sha256="4"),
    ]
    result = {c.path: c.status for c in compare_outputs(recorded, rerun)}
    assert result == {
        "figures/a.pdf": IDENTICAL,
        "figures/b.pdf": DIFFERENT,
        "figures/c.pdf": MISSING,
        "figures/extra.pdf": NEW,
    }


# -- the "done when" test --------------------------------------------------------------------------------
@pytest.mark.docker
def test_rerun_from_archive_after_image_removed_gives_identical_bytes(
    container_project: ContainerProject, registry: str, tmp_path: Path
) -> None:
    """Run in a container → push to the registry → save the image → remove it from the engine → rerun
    from the archive → byte-identical outputs, and a new record that links to the original."""
    root = container_project.root
    tag = f"paperlink-test/done-when-{tmp_path.name[-12:].lower()}:1"
    image_id = build_image(tag, f'FROM {BUSYBOX_TAG}\nLABEL dev.paperlink.test="{tmp_path}"\n')
    # An uncommitted change and an ignored input: rerun must restore both from the record.
    (root / "make.sh").write_text(
        (root / "make.sh").read_text() + "cat data/private.csv > figures/private-copy.txt\n"
    )
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "data/private.csv\n")
    (root / "data" / "private.csv").write_text("secret-ish,data\n")
    try:
        run_cli(
            "run", "--image", tag, "--label", "orig", "--input", "data/values.csv",
            "--input", "data/private.csv", "--", "sh", "make.sh",
        )  # fmt: skip
        pushed = json.loads(
            run_cli("image", "push", "orig", "--registry", registry, "--json").stdout
        )
        assert pushed["repo_digest"].startswith(f"{registry}/paperlink/study@sha256:")
        archive = tmp_path / "orig-image.tar.gz"
        run_cli("image", "save", "orig", "-o", str(archive))
        with records(root) as store:
            original = store.get("orig")
        assert original.code.dirty and original.code.diff_sha256
        subprocess.run(["docker", "rmi", "-f", image_id], check=True, capture_output=True)
        repo = pushed["repo_digest"].split("@", 1)[0]
        subprocess.run(["docker", "rmi", "-f", f"{repo}:orig"], capture_output=True)
        assert not engine_has(image_id)
        # The outputs on disk no longer matter: the rerun works on a scratch copy.
        for path in (root / "figures").iterdir():
            path.unlink()

        result = run_cli("rerun", "orig", "--image-archive", str(archive), "--json")
        data = json.loads(result.stdout)
        assert data["identical"] is True
        assert {o["path"]: o["status"] for o in data["outputs"]} == {
            "figures/private-copy.txt": IDENTICAL,
            "figures/summary.txt": IDENTICAL,
        }
        assert engine_has(image_id)
        with records(root) as store:
            again = store.get(data["rerun"])
        assert again.links == {"rerun_of": "orig"} and again.kind == "rerun"
        assert again.container is not None and again.container.image_id == image_id
        assert again.source_date_epoch == original.source_date_epoch
        assert again.code.commit == original.code.commit
        assert again.code.diff_sha256 == original.code.diff_sha256
        for before, after in zip(original.outputs, again.outputs, strict=True):
            assert (before.path, before.sha256, before.size) == (
                after.path,
                after.sha256,
                after.size,
            )
        assert not (root / "figures" / "summary.txt").exists()  # the project was not touched
        assert "paperlink-rerun" not in git(root, "worktree", "list")
    finally:
        subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)


# -- ways a rerun differs or cannot run ------------------------------------------------------------------
@pytest.mark.docker
def test_rerun_reports_different_output_and_exits_3(container_project: ContainerProject) -> None:
    run_cli(
        "run", "--image", BUSYBOX_TAG, "--label", "rnd", "--",
        "sh", "-c", "mkdir -p figures && cat /proc/sys/kernel/random/uuid > figures/r.txt",
    )  # fmt: skip
    result = run_cli("rerun", "rnd", ok=False)
    assert result.exit_code == 3
    assert "different  figures/r.txt" in result.output and "outputs differ" in result.output


@pytest.mark.docker
def test_rerun_reports_missing_output(container_project: ContainerProject) -> None:
    root = container_project.root
    (root / "marker").write_text("only here\n")
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "marker\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-q", "-m", "ignore marker")
    run_cli(
        "run", "--image", BUSYBOX_TAG, "--label", "mk", "--",
        "sh", "-c", "mkdir -p figures && if [ -e marker ]; then echo y > figures/m.txt; fi",
    )  # fmt: skip
    result = run_cli("rerun", "mk", "--json", ok=False)
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["outputs"] == [
        {
            "path": "figures/m.txt",
            "status": MISSING,
            "recorded_sha256": data["outputs"][0]["recorded_sha256"],
            "rerun_sha256": None,
        }
    ]


@pytest.mark.docker
def test_rerun_refuses_a_changed_input(container_project: ContainerProject) -> None:
    root = container_project.root
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "data/extra.csv\n")
    (root / "data" / "extra.csv").write_text("1\n")
    run_cli(
        "run", "--image", BUSYBOX_TAG, "--label", "inp", "--input", "data/extra.csv", "--",
        "sh", "-c", "mkdir -p figures && cp data/extra.csv figures/",
    )  # fmt: skip
    (root / "data" / "extra.csv").write_text("2\n")
    result = run_cli("rerun", "inp", ok=False)
    assert result.exit_code == 1
    assert "input data/extra.csv (in the project) is sha256:" in result.output
    assert "restore the recorded version" in result.output


@pytest.mark.docker
def test_rerun_uses_the_recorded_image_when_the_tag_moved(
    container_project: ContainerProject, unique_image: tuple[str, str]
) -> None:
    moving = "paperlink-test/moving:latest"
    subprocess.run(["docker", "tag", BUSYBOX_TAG, moving], check=True)
    try:
        run_cli("run", "--image", moving, "--label", "mv", "--", "sh", "make.sh")
        _, other_id = unique_image
        subprocess.run(["docker", "tag", other_id, moving], check=True)  # the tag moves
        result = run_cli("rerun", "mv", "--json")
        data = json.loads(result.stdout)
        assert data["identical"] is True
        assert data["warnings"] == [
            f"'{moving}' now points to {other_id}; rerunning with the recorded image "
            f"{container_project.image_id}"
        ]
        with records(container_project.root) as store:
            rerun = store.get(data["rerun"])
        assert rerun.container is not None
        assert rerun.container.image_id == container_project.image_id
    finally:
        subprocess.run(["docker", "rmi", moving], capture_output=True)


@pytest.mark.docker
def test_rerun_without_image_or_archive_is_exit_6(
    container_project: ContainerProject, unique_image: tuple[str, str]
) -> None:
    tag, image_id = unique_image
    run_cli("run", "--image", tag, "--label", "gone", "--", "sh", "make.sh")
    subprocess.run(["docker", "rmi", "-f", image_id], check=True, capture_output=True)
    result = run_cli("rerun", "gone", ok=False)
    assert result.exit_code == 6
    assert f"the recorded image {image_id} is not in the container engine" in result.output
    assert "--image-archive" in result.output


@pytest.mark.docker
def test_rerun_with_the_wrong_archive_is_refused(
    container_project: ContainerProject, unique_image: tuple[str, str], tmp_path: Path
) -> None:
    tag, image_id = unique_image
    run_cli("run", "--image", tag, "--label", "w1", "--", "sh", "make.sh")
    wrong = tmp_path / "busybox.tar.gz"
    run_cli("image", "save", BUSYBOX_TAG, "-o", str(wrong))
    subprocess.run(["docker", "rmi", "-f", image_id], check=True, capture_output=True)
    result = run_cli("rerun", "w1", "--image-archive", str(wrong), ok=False)
    assert result.exit_code == 3
    assert f"but the record ran {image_id}" in result.output


def test_rerun_of_a_host_run(project_dir: Path) -> None:
    run_cli("run", "--label", "host1", "--", sys.executable, "make_figure.py", "fig7")
    result = run_cli("rerun", "host1", "--keep")
    assert "identical  figures/fig7.svg" in result.output
    assert "all outputs identical" in result.output
    kept = Path(result.output.split("scratch copy kept in ", 1)[1].strip())
    assert (kept / "figures" / "fig7.svg").read_text() == '<svg id="fig7"/>'
    git(
        project_dir,
        "worktree",
        "remove",
        "--force",
        str(kept.parent if kept.name != "tree" else kept),
    )


def test_rerun_needs_a_git_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "nogit"
    root.mkdir()
    monkeypatch.chdir(root)
    run_cli("init", "--name", "nogit")
    run_cli("run", "--label", "ng", "--", sys.executable, "-c", "print(1)")
    result = run_cli("rerun", "ng", ok=False)
    assert result.exit_code == 1 and "has no git commit" in result.output


def test_rerun_of_a_run_that_records_values(project_dir: Path) -> None:
    valued_project(project_dir)
    result = run_cli("rerun", "orig", "--json")
    data = json.loads(result.stdout)
    assert data["verdict"] == IDENTICAL and data["identical"] is True and not data["failed"]
    assert data["status"] == "finished" and data["exit_status"] == 0
    assert {o["path"]: o["status"] for o in data["outputs"]} == {
        "figures/fit.svg": IDENTICAL,
        "results/orig.values.json": IDENTICAL,  # the original's file, not one named after the rerun
    }
    assert {v["name"]: (v["status"], v["rerun"]) for v in data["values"]} == {
        "n": (IDENTICAL, "12"),
        "slope": (IDENTICAL, "0.42"),
    }
    text = run_cli("rerun", "orig").output
    assert "identical  slope = 0.42" in text and "all outputs identical" in text


def test_a_rerun_that_fails_after_writing_its_figure_is_a_failure(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    valued_project(project_dir)
    monkeypatch.setenv("LOCAL_MISSING", "exit")
    result = run_cli("rerun", "orig", ok=False)
    assert result.exit_code == 3
    assert "identical  figures/fit.svg" in result.output  # the figure alone would pass
    assert "failed (exit 2), but the original finished" in result.output
    data = json.loads(run_cli("rerun", "orig", "--json", ok=False).stdout)
    assert data["verdict"] == "failed" and data["failed"] and not data["identical"]


def test_a_rerun_with_another_value_differs(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    valued_project(project_dir)
    monkeypatch.setenv("LOCAL_MISSING", "other-value")
    result = run_cli("rerun", "orig", ok=False)
    assert result.exit_code == 3
    assert "different  slope = 0.42 -> 0.99" in result.output
    assert "identical  n = 12" in result.output and "outputs differ" in result.output


@pytest.mark.parametrize("field", ["output", "input", "link"])
def test_rerun_never_touches_a_file_outside_its_scratch_copy(
    project_dir: Path, tmp_path: Path, field: str
) -> None:
    import dataclasses

    from helpers import paperlink_process

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    climbing = "../" * 40 + str(victim).lstrip("/")
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    if field == "link":  # a committed folder link that leads out of the scratch copy
        (project_dir / "out").symlink_to(tmp_path)
        git(project_dir, "add", "out")
        git(project_dir, "commit", "-q", "-m", "link")
    with records(project_dir) as store:
        original = store.get("a")
        bad = FileDigest(path="out/victim.txt" if field == "link" else climbing, size=1,
                         sha256="0" * 64)  # fmt: skip
        changes = {"inputs": [*original.inputs, bad]} if field == "input" else {
            "outputs": [*original.outputs, bad]}  # fmt: skip
        if field == "link":
            changes["code"] = dataclasses.replace(
                original.code, commit=git(project_dir, "rev-parse", "HEAD").strip()
            )
        store.add_record(dataclasses.replace(original, label="evil", run_id="e" * 32, **changes))
    done = paperlink_process("rerun", "evil", cwd=project_dir)
    assert done.returncode == 10, done.stdout + done.stderr
    assert b"record 'evil'" in done.stderr and b"Traceback" not in done.stderr
    assert victim.read_text() == "keep me"
