"""The built wheel carries the LaTeX package, the templates and the manual, and renders from the installed copy.

The wheel is built offline (``pip wheel --no-build-isolation`` with the test environment's setuptools),
installed with ``--no-deps --no-index`` into a folder of its own, and run with ``python -S`` so that neither
this checkout nor an editable install can stand in for it; the dependencies come from this environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from fixtures_latex import compile_tex, need_engine
from helpers import REPO_ROOT

pytestmark = [pytest.mark.tex, pytest.mark.slow]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding paperlink installed from a freshly built wheel."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(
        REPO_ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".mypy_cache",
        ),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (work / "dist").glob("paperlink-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in (
        "paperlink/texfiles/paperlink.sty",
        "paperlink/texfiles/sumatra.sty",
        "paperlink/texfiles/paperlink-doc.tex",
        "paperlink/templates/paperlink-data.tex.j2",
    ):
        assert name in names
    # Every package of the source tree ships (a package missing from pyproject's list breaks an install).
    source = Path(__file__).resolve().parent.parent / "paperlink"
    for init in source.rglob("__init__.py"):
        assert f"paperlink/{init.relative_to(source).as_posix()}" in names
    for web in ("templates/web", "core/schema"):
        assert any(n.startswith(f"paperlink/{web}/") for n in names)
    site = work / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return site


def _installed_python(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages processing, hence no editable finder; PYTHONPATH = the wheel, then the deps.
    deps = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), deps])}
    return subprocess.run(
        [sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_installed_copy_renders_and_compiles(installed: Path, project_dir: Path) -> None:
    where = _installed_python(
        installed, "-c", "import paperlink.latex.generate as m; print(m.__file__)", cwd=project_dir
    )
    assert where.stdout.strip().startswith(str(installed)), where.stderr
    run = _installed_python(
        installed,
        "-m",
        "paperlink",
        "run",
        "--label",
        "w1",
        "--",
        sys.executable,
        "make_figure.py",
        cwd=project_dir,
    )
    assert run.returncode == 0, run.stderr
    paper = project_dir / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{paperlink}\\begin{document}\n"
        "\\pldigest{w1:figures/fig1.svg}\n\\end{document}\n"
    )
    done = _installed_python(
        installed, "-m", "paperlink", "latex", "--tex", "paper/main.tex", cwd=project_dir
    )
    assert done.returncode == 0, done.stderr
    shipped = installed / "paperlink" / "texfiles" / "paperlink.sty"
    assert (paper / "paperlink.sty").read_bytes() == shipped.read_bytes()
    assert (
        "\\paperlinkdeclare{w1}{\\plkey{path}{figures/fig1.svg}"
        in (paper / "paperlink-data.tex").read_text()
    )
    compiled = compile_tex(paper)
    assert compiled.returncode == 0, compiled.log[-2000:]


def test_manual_compiles_from_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    need_engine("pdflatex")
    shutil.copy(installed / "paperlink" / "texfiles" / "paperlink-doc.tex", tmp_path)
    compiled = compile_tex(tmp_path, "paperlink-doc.tex")
    assert compiled.returncode == 0, compiled.log[-2000:]
    done = subprocess.run(
        ["pdftotext", str(compiled.pdf), "-"], capture_output=True, text=True, check=True
    )
    for heading in ("Package options", "Commands", "Messages", "The manifest in the PDF"):
        assert heading in done.stdout


def test_installed_copy_loads_every_command(installed: Path, tmp_path: Path) -> None:
    """Help lists each command from its own module: every one must import from the wheel alone."""
    from paperlink.cli.main import COMMANDS

    listed = _installed_python(installed, "-m", "paperlink", "--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in COMMANDS:
        assert f"  {name} " in listed.stdout
        helped = _installed_python(installed, "-m", "paperlink", name, "--help", cwd=tmp_path)
        assert helped.returncode == 0, helped.stderr
