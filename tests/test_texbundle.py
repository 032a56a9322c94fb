"""paperlink latex --bundle: a self-contained, deterministic folder and .tar.gz that compiles elsewhere."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from fixtures_latex import compile_tex, write_manuscript
from helpers import run_cli

from paperlink.latex import read_pdf_manifest

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
    out = run_cli("latex", "--tex", str(tex), "--bundle", str(tmp_path / "one" / "paper")).output
    assert "bundled" in out
    bundle = tmp_path / "one" / "paper"
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == [
        "figures/fig_1-a.b.png",
        "figures/sweep.2-low.png",
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
    run_cli("latex", "--tex", str(tex), "--bundle", str(tmp_path / "two" / "paper"))
    first = (tmp_path / "one" / "paper.tar.gz").read_bytes()
    assert first == (tmp_path / "two" / "paper.tar.gz").read_bytes()

    # Self-contained: unpacked far from the project (which is gone), it compiles and checks every figure.
    shutil.rmtree(figure_project / "figures")
    with tarfile.open(tmp_path / "one" / "paper.tar.gz") as tar:
        names = tar.getnames()
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
        tar.extractall(tmp_path / "elsewhere", filter="data")
    assert names == sorted(names)
    unpacked = tmp_path / "elsewhere" / "paper"
    compiled = compile_tex(unpacked)
    assert compiled.returncode == 0, compiled.log[-2000:]
    assert compiled.flat_log.count("matches record") == 2
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert {f["path"] for f in manifest["figures"]} == {
        "figures/fig_1-a.b.png",
        "figures/sweep.2-low.png",
    }


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
