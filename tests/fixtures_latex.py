"""Fixtures for the LaTeX tests: a project whose runs made real figures, and real TeX Live compiles."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import git, require, run_cli

ENGINES = ("pdflatex", "lualatex", "xelatex")
TEX_FLAGS = ("-no-shell-escape", "-halt-on-error", "-interaction=nonstopmode", "-file-line-error")

# A run that writes a real PNG (colour from its argument) and records a value with `paperlink value`.
PLOT_SCRIPT = """\
import pathlib, struct, subprocess, sys, zlib

def png(path, rgb):
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    raw = b''.join(b'\\x00' + bytes(rgb) * 4 for _ in range(4))
    path.write_bytes(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 4, 4, 8, 2, 0, 0, 0))
                     + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

name, shade = sys.argv[1], int(sys.argv[2])
out = pathlib.Path('figures')
out.mkdir(exist_ok=True)
for extra in sys.argv[3:]:
    png(out / f'{name}-{extra}.png', (shade, 0, 255 - shade))
if len(sys.argv) == 3:
    png(out / f'{name}.png', (shade, 0, 255 - shade))
pathlib.Path('results').mkdir(exist_ok=True)
(pathlib.Path('results') / f'{name}.csv').write_text(f'x,y\\n1,{shade}\\n')
subprocess.run([sys.executable, '-m', 'paperlink', 'value', 'slope', f'0.{shade}'], check=True)
"""


def png_bytes(rgb: tuple[int, int, int]) -> bytes:
    """A 4×4 PNG of one colour: a real image every engine includes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes(rgb) * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class Compiled:
    returncode: int
    log: str
    pdf: Path | None

    @property
    def flat_log(self) -> str:
        """The log with the continuation lines of our messages joined."""
        return re.sub(r"\n\((?:paperlink|sumatra)\)\s+", " ", self.log)


def need_engine(engine: str) -> str:
    """The engine's path; a failure when it is not installed (TeX Live is in scripts/apt-packages.txt)."""
    found = shutil.which(engine)
    require(found, f"{engine} is not installed")
    assert found is not None
    return found


def compile_tex(
    folder: Path, name: str = "main.tex", engine: str = "pdflatex", *, halt_on_error: bool = True
) -> Compiled:
    """Compile ``folder/name`` with ``engine`` (no shell-escape), returning the exit code, log and PDF;
    without ``halt_on_error`` TeX carries on after an error, so one compile reports many."""
    exe = need_engine(engine)
    flags = [f for f in TEX_FLAGS if halt_on_error or f != "-halt-on-error"]
    stem = Path(name).stem
    for leftover in (f"{stem}.pdf", f"{stem}.log", f"{stem}.aux"):
        (folder / leftover).unlink(missing_ok=True)
    done = subprocess.run(
        [exe, *flags, name],
        cwd=folder,
        capture_output=True,
        check=False,
        timeout=120,
        # One log line per TeX line: messages stay searchable.
        env={**os.environ, "max_print_line": "100000"},
    )
    log_path = folder / f"{stem}.log"
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    pdf = folder / f"{stem}.pdf"
    return Compiled(done.returncode, log, pdf if pdf.exists() else None)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    need_engine(request.param)
    return str(request.param)


@pytest.fixture
def figure_project(project_dir: Path) -> Iterator[Path]:
    """A project with runs ``fig_1-a.b`` (one PNG), ``sweep.2`` (two PNGs) and ``table-3`` (no image),
    each with a CSV and a value ``slope`` recorded by ``paperlink value``."""
    (project_dir / "plot.py").write_text(PLOT_SCRIPT)
    git(project_dir, "add", "plot.py")
    git(project_dir, "commit", "-q", "-m", "plot")
    _run(project_dir, "fig_1-a.b", "plot.py", "fig_1-a.b", "40")
    _run(project_dir, "sweep.2", "plot.py", "sweep.2", "90", "low", "high")
    _run(project_dir, "table-3", "-c", _NO_IMAGE)
    yield project_dir


_NO_IMAGE = (
    "import pathlib; pathlib.Path('results').mkdir(exist_ok=True); "
    "pathlib.Path('results/table.csv').write_text('a,b\\n')"
)


def _run(root: Path, label: str, *argv: str) -> None:
    # A real process, so that `paperlink value` inside the run finds its parent `paperlink run`.
    done = subprocess.run(
        [sys.executable, "-m", "paperlink", "run", "--label", label, "--", sys.executable, *argv],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def write_manuscript(folder: Path, body: str, *, preamble: str = "", options: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tex = folder / "main.tex"
    tex.write_text(
        "\\documentclass{article}\n"
        f"\\usepackage[{options}]{{paperlink}}\n{preamble}"
        "\\begin{document}\n"
        f"{body}\n"
        "\\end{document}\n"
    )
    return tex


def generate(tex: Path, *extra: str, ok: bool = True) -> str:
    result = run_cli("latex", "--tex", str(tex), *extra, ok=ok)
    return result.output


@dataclass
class Built:
    """What latexmk made of a manuscript: its exit code, its output, the PDF's text and the .bbl."""

    returncode: int
    output: str
    text: str
    bbl: str


def latexmk(folder: Path, name: str = "main.tex") -> Built:
    """Build ``folder/name`` with latexmk -pdf, which runs bibtex or biber as the manuscript asks."""
    exe = need_engine("latexmk")
    done = subprocess.run(
        [exe, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", name],
        cwd=folder,
        capture_output=True,
        text=True,
        errors="replace",  # bibtex echoes names in the bytes it was given
        check=False,
        timeout=300,
        env={**os.environ, "max_print_line": "100000"},
    )
    stem = Path(name).stem
    pdf, bbl = folder / f"{stem}.pdf", folder / f"{stem}.bbl"
    text = ""
    if done.returncode == 0 and pdf.exists():
        from pypdf import PdfReader

        text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
    return Built(
        done.returncode,
        done.stdout + done.stderr,
        text,
        bbl.read_text(encoding="utf-8", errors="replace") if bbl.exists() else "",
    )
