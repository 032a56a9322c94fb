"""The manifest paperlink.sty attaches to the PDF, on every engine, with and without latexmk -outdir, and a
verify that reports a damaged attachment instead of a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures_latex import ENGINES, need_engine
from helpers import paperlink_process, run_cli
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, NullObject

from paperlink.latex.pdf_manifest import read_pdf_manifest

pytestmark = pytest.mark.tex

MAIN = (
    "\\documentclass{article}\n\\usepackage{graphicx}\n\\usepackage{paperlink}\n"
    "\\begin{document}\n\\plincludegraphics[width=1cm]{fig_1-a.b}\n"
    "Slope \\plvalue{fig_1-a.b:slope}.\n\\end{document}\n"
)


def _latexmk(folder: Path, engine: str, outdir: str | None) -> Path:
    need_engine(engine)
    assert shutil.which("latexmk"), "latexmk: `bash scripts/test.sh` installs it"
    flag = {"pdflatex": "-pdf", "lualatex": "-lualatex", "xelatex": "-xelatex"}[engine]
    command = ["latexmk", flag, "-interaction=nonstopmode", "-halt-on-error", "main.tex"]
    if outdir:
        command.insert(1, f"-outdir={outdir}")
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return folder / (outdir or ".") / "main.pdf"


@pytest.mark.slow
@pytest.mark.parametrize("outdir", [None, "build"])
@pytest.mark.parametrize("engine", ENGINES)
def test_manifest_is_attached_on_every_engine_with_and_without_outdir(
    figure_project: Path, engine: str, outdir: str | None
) -> None:
    paper = figure_project / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text(MAIN)
    run_cli("latex", "--tex", str(paper / "main.tex"))
    pdf = _latexmk(paper, engine, outdir)
    manifest = read_pdf_manifest(pdf)
    assert [f["path"] for f in manifest["figures"]] == ["figures/fig_1-a.b.png"]
    assert [v["name"] for v in manifest["values"]] == ["slope"]
    # The attached bytes are the JSON file the package wrote, byte for byte.
    written = (paper / (outdir or ".") / "main.plmanifest.json").read_bytes()
    assert json.loads(written) == manifest
    verified = run_cli("verify", str(pdf))
    assert "all OK" in verified.output


def test_verify_reports_a_damaged_manifest_attachment(figure_project: Path, tmp_path: Path) -> None:
    paper = figure_project / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text(MAIN)
    run_cli("latex", "--tex", str(paper / "main.tex"))
    good = _latexmk(paper, "pdflatex", None)
    # The attachment as an engine that lost the file leaves it: a file specification whose stream is null.
    writer = PdfWriter(clone_from=PdfReader(good))
    names = writer.root_object["/Names"]["/EmbeddedFiles"]["/Names"]  # type: ignore[index]
    spec = names[1].get_object()
    spec[NameObject("/EF")] = DictionaryObject({NameObject("/F"): NullObject()})
    damaged = tmp_path / "damaged.pdf"
    with damaged.open("wb") as out:
        writer.write(out)
    done = paperlink_process("verify", str(damaged), cwd=figure_project)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    assert "paperlink-manifest.json is damaged" in err
    assert "compile the manuscript again" in err
