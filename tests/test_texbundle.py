"""paperlink latex --bundle: a self-contained, deterministic folder and .tar.gz that compiles elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import Result
from fixtures_latex import TEX_FLAGS, compile_tex, write_manuscript
from helpers import run_cli

from paperlink.latex.pdf_manifest import read_pdf_manifest

pytestmark = pytest.mark.tex


def _manuscript(root: Path) -> Path:
    tex = write_manuscript(
        root / "src" / "tex",
        "\\input{sections/results}\n\\bibliographystyle{plain}\n\\nocite{*}\n\\bibliography{refs}\n",
    )
    (tex.parent / "sections").mkdir()
    (tex.parent / "sections" / "results.tex").write_text(
        "\\plincludegraphics[width=1cm]{fig_1-a.b}\n\\plincludegraphics[width=1cm]{sweep.2?low}\n"
        "Slope \\plvalue{fig_1-a.b:slope}.\n"
    )
    (tex.parent / "refs.bib").write_text("@misc{a, title={A}, year={2024}}\n")
    (tex.parent / "notes.txt").write_text("not part of the paper\n")
    return tex


def test_bundle_compiles_on_its_own_and_is_deterministic(
    figure_project: Path, tmp_path: Path
) -> None:
    tex = _manuscript(figure_project)
    out = _bundle(tex, tmp_path / "one" / "paper").output
    assert "bundled" in out
    bundle = tmp_path / "one" / "paper"
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == [
        "figures/fig_1-a.b.png",
        "figures/sweep.2-low.png",
        "main.bbl",
        "main.tex",
        "paperlink-data.tex",
        "paperlink.bib",
        "paperlink.sty",
        "refs.bib",
        "sections/results.tex",
        "sumatra.sty",
    ]
    data = (bundle / "paperlink-data.tex").read_text()
    assert "\\plkey{file}{figures/fig_1-a.b.png}" in data and "../" not in data

    # Deterministic: the same manuscript gives the same archive, byte for byte.
    _bundle(tex, tmp_path / "two" / "paper")
    first = (tmp_path / "one" / "paper.tar.gz").read_bytes()
    assert first == (tmp_path / "two" / "paper.tar.gz").read_bytes()

    # Self-contained: unpacked far from the project (which is gone), it compiles and checks every figure.
    shutil.rmtree(figure_project / "figures")
    with tarfile.open(tmp_path / "one" / "paper.tar.gz") as tar:
        names = tar.getnames()
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
        tar.extractall(tmp_path / "elsewhere", filter="data")
    assert names == sorted(names) == files  # at the top level, as arXiv wants it
    unpacked = tmp_path / "elsewhere"
    compiled = compile_tex(unpacked)
    assert compiled.returncode == 0, compiled.log[-2000:]
    assert compiled.flat_log.count("matches record") == 2
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert {f["path"] for f in manifest["figures"]} == {
        "figures/fig_1-a.b.png",
        "figures/sweep.2-low.png",
    }


PUBLIC = "https://example.org/paper"


def _bundle(tex: Path, folder: Path, *more: str, ok: bool = True) -> Result:
    return run_cli(
        "latex", "--tex", str(tex), "--bundle", str(folder), "--base-url", PUBLIC, *more, ok=ok
    )


@pytest.mark.parametrize("style", ["bibtex", "biblatex"])
def test_bundle_compiles_with_pdflatex_alone_and_resolves_every_citation(
    figure_project: Path, tmp_path: Path, style: str
) -> None:
    """arXiv runs no BibTeX or biber: the bundle carries the .bbl, and one pdflatex in an empty folder
    resolves every citation (the rendered citation is read from the PDF) and checks every figure."""
    tex = figure_project / "paper" / "main.tex"
    if style == "bibtex":
        head, tail = "", "\\bibliographystyle{plain}\n\\bibliography{refs}\n"
    else:
        head = "\\usepackage[backend=biber,style=numeric]{biblatex}\n\\addbibresource{refs.bib}\n"
        tail = "\\printbibliography\n"
    tex.parent.mkdir()
    tex.write_text(
        "\\documentclass{article}\n\\usepackage{graphicx}\n\\usepackage{paperlink}\n"
        + head
        + "\\begin{document}\nAs shown by \\cite{knuth84}, see Figure~\\ref{f}.\n"
        "\\begin{figure}\\plincludegraphics[width=1cm]{fig_1-a.b}\\caption{A}\\label{f}\\end{figure}\n"
        + tail
        + "\\end{document}\n"
    )
    (tex.parent / "refs.bib").write_text(
        "@book{knuth84, author={Donald E. Knuth}, title={The {\\TeX}book}, year={1984},"
        " publisher={Addison-Wesley}}\n"
    )
    _bundle(tex, tmp_path / "arxiv")
    with tarfile.open(tmp_path / "arxiv.tar.gz") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "empty", filter="data")
    assert "main.bbl" in names and "main.tex" in names
    # Nothing in the upload points at the author's machine.
    for path in (tmp_path / "empty").rglob("*"):
        if path.suffix in (".tex", ".bib", ".bbl", ".sty"):
            text = path.read_text(errors="replace")
            assert "file:/" not in text and "127.0.0.1" not in text, path
            assert str(figure_project) not in text, path
    # arXiv runs pdflatex (again while it asks for a rerun), never bibtex or biber.
    empty = tmp_path / "empty"
    for _ in range(2):
        done = subprocess.run(
            ["pdflatex", *TEX_FLAGS, "main.tex"],
            cwd=empty,
            capture_output=True,
            check=False,
            env={**os.environ, "max_print_line": "100000"},
        )
        assert done.returncode == 0, done.stdout[-2000:]
    log = (empty / "main.log").read_text(errors="replace")
    assert "undefined" not in log, log[-2000:]
    assert "Please (re)run" not in log
    assert log.count("matches record") == 1
    text = subprocess.run(
        ["pdftotext", str(empty / "main.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "[1]" in text and "Knuth" in text and "book" in text
    assert "[?]" not in text


def test_bundle_without_tex_uses_the_authors_bbl_or_says_what_is_missing(
    figure_project: Path, tmp_path: Path
) -> None:
    tex = _manuscript(figure_project)
    # No TeX on PATH (only git and the tools paperlink itself runs): the author's own .bbl is taken.
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("git",):
        (bare / tool).symlink_to(shutil.which(tool) or tool)
    old = os.environ["PATH"]
    os.environ["PATH"] = str(bare)
    try:
        result = _bundle(tex, tmp_path / "b1", ok=False)
        assert result.exit_code == 1
        assert "arXiv does not run BibTeX" in result.output
        assert "latexmk" in result.output
        assert not (tmp_path / "b1").exists() and not (tmp_path / "b1.tar.gz").exists()
        (tex.parent / "main.bbl").write_text("\\begin{thebibliography}{1}\\end{thebibliography}\n")
        result = _bundle(tex, tmp_path / "b2")
        assert "from your last compile" in result.output
        assert (tmp_path / "b2" / "main.bbl").read_text().startswith("\\begin{thebibliography}")
    finally:
        os.environ["PATH"] = old


def test_bundle_refuses_to_ship_links_to_this_machine(figure_project: Path, tmp_path: Path) -> None:
    tex = _manuscript(figure_project)
    result = run_cli(
        "latex",
        "--tex",
        str(tex),
        "--bundle",
        str(tmp_path / "b"),
        "--base-url",
        "http://127.0.0.1:8008",
        ok=False,
    )
    # Refused before anything is written: the address is checked where it is given (exit 2).
    assert result.exit_code == 2
    assert "127.0.0.1 is this machine (loopback)" in result.output
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.tar.gz").exists()


def test_bundle_refuses_a_non_empty_folder_and_needs_tex(
    figure_project: Path, tmp_path: Path
) -> None:
    tex = _manuscript(figure_project)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = run_cli("latex", "--tex", str(tex), "--bundle", str(tmp_path / "full"), ok=False)
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "full.tar.gz").exists()
    result = run_cli("latex", "--bundle", str(tmp_path / "b"), ok=False)
    assert result.exit_code == 2
    assert "--bundle needs --tex" in result.output


def test_the_bundle_guard_finds_local_addresses_and_paths(tmp_path: Path) -> None:
    """The last check before packing: paperlink's own files must name nothing on this machine."""
    from paperlink.errors import LatexError
    from paperlink.latex.texbundle import _refuse_local_references

    for text in ("\\plkey{url}{http://127.0.0.1:8008/x}", "file:///tmp/a.pdf", f"{tmp_path}/fig.png",
                 "https://localhost/records/a"):  # fmt: skip
        (tmp_path / "paperlink-data.tex").write_text(text)
        with pytest.raises(LatexError, match="refers to this machine"):
            _refuse_local_references(
                tmp_path, generated={"paperlink-data.tex"}, roots=[str(tmp_path)]
            )
    (tmp_path / "paperlink-data.tex").write_text("\\plkey{url}{https://doi.org/10.5281/zenodo.1}")
    _refuse_local_references(tmp_path, generated={"paperlink-data.tex"}, roots=[str(tmp_path)])
