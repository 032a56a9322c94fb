"""``verify --doi`` on archives ``paperlink publish`` made on the fake Zenodo server: names publish
de-duplicated, the archived paper, re-execution from the archive's code, and flags it cannot use."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures_publish import CITATION, make_study
from fixtures_zenodo import FakeZenodo
from helpers import git, run_cli


def publish(project_dir: Path, *args: str) -> dict[str, Any]:
    if not (project_dir / "CITATION.cff").exists():
        (project_dir / "CITATION.cff").write_text(CITATION)
    summary: dict[str, Any] = json.loads(run_cli("publish", *args, "--json").output)
    return summary


def review(
    doi: str, zenodo: FakeZenodo, where: Path, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> tuple[int, dict[str, Any]]:
    """``verify --doi DOI --json`` from an empty folder without a token: what a reviewer runs."""
    where.mkdir(exist_ok=True)
    monkeypatch.chdir(where)
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    result = run_cli("verify", "--doi", doi, "--zenodo-url", zenodo.api, "--json", *extra, ok=False)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


def checks(report: dict[str, Any], reference: str) -> dict[str, dict[str, str]]:
    (item,) = [i for i in report["items"] if i["reference"] == reference]
    return {c["name"]: c for c in item["checks"]}


DUPLICATES = """\
import pathlib
pathlib.Path('results/x').mkdir(parents=True, exist_ok=True)
pathlib.Path('results/x__y.bin').write_bytes(b'flat name')
pathlib.Path('results/x/y.bin').write_bytes(b'nested name')
"""


def test_names_publish_de_duplicated_verify_as_ok(
    project_dir: Path, zenodo_env: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "dup.py").write_text(DUPLICATES)
    git(project_dir, "add", "dup.py")
    git(project_dir, "commit", "-q", "-m", "dup")
    run_cli("run", "-q", "--label", "d", "--", sys.executable, "dup.py")
    summary = publish(project_dir, "--record", "d", "--no-site")
    names = {f["name"] for f in summary["files"]}
    assert {"d__results__x__y.bin", "d__results__x__y-2.bin"} <= names  # publish had to rename one
    code, report = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch)
    assert code == 0, report
    assert {i["reference"]: i["status"] for i in report["items"]} == {
        "d:results/x__y.bin": "OK",
        "d:results/x/y.bin": "OK",
    }


ODD_LABELS = [".hidden", "..", "../../evil", "a\\b"]


def test_odd_labels_publish_names_a_reviewer_accepts(
    project_dir: Path, zenodo_env: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, label in enumerate(ODD_LABELS):
        run_cli("run", "-q", "--label", label, "--", sys.executable, "make_figure.py", f"h{n}")
    chosen = [arg for label in ODD_LABELS for arg in ("--record", label)]
    folder = tmp_path / "local"
    local = publish(project_dir, *chosen, "--to", str(folder))
    written = list(folder.rglob("*"))  # every file in the folder itself, none hidden or elsewhere
    assert all(p.parent == folder and not p.name.startswith(".") for p in written), written
    assert {f["name"] for f in local["files"]} <= {p.name for p in written}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local", "study"]
    summary = publish(project_dir, *chosen)
    names = [f["name"] for f in summary["files"]]
    assert not any(n.startswith(".") or "/" in n or "\\" in n for n in names), names
    code, report = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch)
    assert code == 0 and [i["status"] for i in report["items"]] == ["OK"] * 4, report


STAMP = """\
import pathlib, time
pathlib.Path('results').mkdir(exist_ok=True)
pathlib.Path('results/stamp.txt').write_text(str(time.time_ns()))
"""


def test_rerun_re_executes_each_record_from_the_archive_alone(
    project_dir: Path, zenodo_env: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "stamp.py").write_text(STAMP)
    make_study(project_dir)  # 'fig1' from a clean tree, 'gen' with an uncommitted change to gen.py
    run_cli("run", "-q", "--label", "stamp", "--", sys.executable, "stamp.py")
    summary = publish(project_dir, "--record", "fig1", "--record", "gen", "--record", "stamp",
                      "--no-site", "--no-image")  # fmt: skip
    code, plain = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch)
    assert code == 0 and any("add --rerun" in n for n in plain["notes"]), plain
    code, report = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch, "--rerun")
    assert code == 3, report
    for reference in ("fig1:figures/fig1.svg", "gen:figures/plot.svg", "gen:results/big.bin"):
        found = checks(report, reference)
        assert found["download"]["status"] == "OK"
        assert found["rerun"]["status"] == "OK", found
        assert found["rerun"]["reason"] == "identical when re-run from the archive's code"
    stamp = checks(report, "stamp:results/stamp.txt")
    assert stamp["download"]["status"] == "OK" and stamp["rerun"]["status"] == "MISMATCH"
    assert "re-running from the archive wrote sha256:" in stamp["rerun"]["reason"]
    assert not any("--rerun" in n for n in report["notes"])
    assert list((tmp_path / "reviewer").iterdir()) == []


def test_image_archive_without_rerun_is_refused_with_doi(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "image.tar"
    image.write_bytes(b"not used")
    monkeypatch.chdir(tmp_path)
    result = run_cli("verify", "--doi", "10.5281/zenodo.1", "--image-archive", str(image), ok=False)
    assert result.exit_code == 2
    assert "--image-archive with --doi" in result.output and "add --rerun" in result.output


def test_the_archived_paper_is_checked_against_the_records(
    figure_project: Path, zenodo_env: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fixtures_latex import compile_tex, generate, write_manuscript

    paper = figure_project / "paper"
    tex = write_manuscript(
        paper, "\\plincludegraphics{fig_1-a.b}\nSlope \\plvalue{fig_1-a.b:slope}.\n"
    )
    generate(tex)
    compiled = compile_tex(paper)
    assert compiled.returncode == 0, compiled.log[-2000:]
    pdf = str(paper / "main.pdf")
    summary = publish(figure_project, "--record", "fig_1-a.b", "--pdf", pdf, "--no-site")
    code, report = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch)
    assert code == 0, report
    on_paper = [i for i in report["items"] if i["where"] == "main.pdf"]
    assert [(i["kind"], i["status"]) for i in on_paper] == [("figure", "OK"), ("value", "OK")]
    assert "slope = " in on_paper[1]["reason"]
    assert not any("no paper PDF" in n for n in report["notes"])
    # The same PDF archived with the records of another run: it shows figures the archive cannot vouch for.
    monkeypatch.chdir(figure_project)
    monkeypatch.setenv("ZENODO_TOKEN", zenodo_env.token)
    other = publish(figure_project, "--record", "sweep.2", "--pdf", pdf, "--no-site")
    code, report = review(other["doi"], zenodo_env, tmp_path / "reviewer2", monkeypatch)
    assert code == 3, report
    on_paper = [i for i in report["items"] if i["where"] == "main.pdf"]
    assert {i["status"] for i in on_paper} == {"MISSING"}
    assert "uses record 'fig_1-a.b', which the archive does not hold" in on_paper[0]["reason"]


def test_an_archived_pdf_without_a_manifest_is_reported(
    project_dir: Path, zenodo_env: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    with (project_dir / "paper.pdf").open("wb") as stream:
        writer.write(stream)
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    summary = publish(project_dir, "--record", "a", "--pdf", "paper.pdf", "--no-site")
    code, report = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch)
    assert code == 3, report
    (paper,) = [i for i in report["items"] if i["kind"] == "paper"]
    assert paper["status"] == "MISSING" and "carries no paperlink-manifest.json" in paper["reason"]


def test_an_unreachable_archive_says_what_to_do_about_verify(tmp_path: Path) -> None:
    import socket

    from helpers import paperlink_process

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = paperlink_process(
        "verify",
        "--doi",
        f"http://127.0.0.1:{port}/records/1",
        "--max-retry-time",
        "1",
        cwd=tmp_path,
    )
    assert done.returncode == 8, done.stderr
    assert b"--max-retry-time" in done.stderr and b"publish" not in done.stderr, done.stderr


@pytest.mark.docker
def test_rerun_from_the_archive_runs_in_the_archived_image(
    container_project: Any, zenodo_env: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from fixtures_docker import BUSYBOX_TAG, build_image

    root = container_project.root
    import uuid

    tag = f"paperlink-test/review-{uuid.uuid4().hex[:12]}:1"
    image_id = build_image(tag, f'FROM {BUSYBOX_TAG}\nLABEL dev.paperlink.test="{tmp_path}"\n')
    try:
        run_cli("run", "-q", "--image", tag, "--label", "c", "--input", "data/values.csv",
                "--", "sh", "make.sh")  # fmt: skip
        run_cli("image", "save", "c", "-o", str(tmp_path / "c-image.tar.gz"))
        summary = publish(root, "--record", "c", "--no-site")
        assert any(f["name"].startswith("image-") for f in summary["files"]), summary["files"]
        subprocess.run(["docker", "rmi", "-f", image_id], check=True, capture_output=True)
        code, report = review(summary["doi"], zenodo_env, tmp_path / "reviewer", monkeypatch,
                              "--rerun")  # fmt: skip
        assert code == 0, report
        found = checks(report, "c:figures/summary.txt")
        assert found["rerun"]["status"] == "OK" and found["download"]["status"] == "OK"
        loaded = subprocess.run(["docker", "image", "inspect", image_id], capture_output=True)
        assert loaded.returncode == 0  # loaded from the archive's image file, by its ID
    finally:
        subprocess.run(["docker", "rmi", "-f", image_id, tag], capture_output=True)
