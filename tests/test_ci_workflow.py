"""The CI workflow 'paperlink ci' writes: its own run: steps, in order, in a fresh clone of the paper's
repository, with paperlink installed only from the wheel the repository carries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures_latex import png_bytes
from helpers import REPO_ROOT, git, run_cli

from paperlink.verify.ciworkflow import render_workflow

pytestmark = [pytest.mark.tex, pytest.mark.slow]

MAIN = (
    "\\documentclass{article}\n\\usepackage{graphicx}\n\\usepackage{paperlink}\n"
    "\\begin{document}\n\\plincludegraphics[width=1cm]{fig_1-a.b}\n"
    "Slope \\plvalue{fig_1-a.b:slope}.\n\\end{document}\n"
)


def _steps(clone: Path, venv: Path) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """Run the workflow's run: steps in order as a runner does (bash -e), stopping at the first failure."""
    workflow = yaml.safe_load((clone / ".github/workflows/paperlink-verify.yml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    done = []
    for step in workflow["jobs"]["verify"]["steps"]:
        if "run" not in step:
            continue
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        done.append((step.get("name", step["run"]), result))
        if result.returncode != 0:
            break
    return done


def test_workflow_passes_in_a_fresh_clone_and_fails_on_a_tampered_figure(
    figure_project: Path, tmp_path: Path
) -> None:
    paper = figure_project / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text(MAIN)
    made = run_cli("ci", "--tex", "paper/main.tex").output
    assert "wrote .github/workflows/paperlink-verify.yml" in made
    assert "git does not track yet: figures/fig_1-a.b.png" in made
    git(figure_project, "add", "-f", "figures/fig_1-a.b.png")
    git(figure_project, "add", "paper/main.tex", ".github", "paperlink-records", ".paperlink-ci")
    git(figure_project, "commit", "-q", "-m", "paper and its CI")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(figure_project), str(clone))
    assert not (clone / ".paperlink").exists()  # no store in the repository: the job imports one

    venv = tmp_path / "venv"  # what actions/setup-python gives: a Python without paperlink
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    steps = _steps(clone, venv)
    for name, result in steps:
        assert result.returncode == 0, f"{name}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    assert len(steps) == 5
    # The job used the paperlink from the wheel, not this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import paperlink; print(paperlink.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).stdout
    assert str(venv) in where and str(REPO_ROOT) not in where
    assert (clone / "paper" / "main.pdf").is_file()

    # Someone changes the figure behind paperlink's back: the job fails at the verify step, exit 3.
    tampered = tmp_path / "tampered"
    git(tmp_path, "clone", "-q", str(figure_project), str(tampered))
    (tampered / "figures" / "fig_1-a.b.png").write_bytes(png_bytes((1, 2, 3)))
    steps = _steps(tampered, venv)
    name, result = steps[-1]
    assert name == "Verify figures and values against their records"
    assert result.returncode == 3, result.stdout + result.stderr
    assert "MISMATCH" in result.stdout


def test_example_workflow_is_the_one_paperlink_ci_writes() -> None:
    example = REPO_ROOT / "examples" / "github-actions" / "paperlink-verify.yml"
    assert example.read_text() == render_workflow("paper/main.tex")


def test_workflow_refuses_a_manuscript_path_it_cannot_hold() -> None:
    from paperlink.errors import UsageError

    with pytest.raises(UsageError, match="cannot go into a workflow"):
        render_workflow("paper/ma\nin.tex")
    assert "paperlink verify 'my paper/main.tex'" in render_workflow("my paper/main.tex")
