"""paperlink.bib as BibTeX and biber read it: real documents built by latexmk, citations read from the PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixtures_latex import Built, latexmk
from fixtures_publish import CITATION
from helpers import run_cli

from paperlink.core.config import find_project
from paperlink.core.store import RecordStore
from paperlink.latex.bibtex import bib_text

pytestmark = pytest.mark.tex

BACKENDS = ("bibtex", "biber")
LABEL = "fig_1-a.b"
DOI = "10.5281/zenodo.4242"


def _manuscript(folder: Path, backend: str, body: str, bibs: str = "paperlink") -> Path:
    """A document citing through natbib + plainnat (bibtex) or biblatex (biber)."""
    if backend == "bibtex":
        preamble = "\\usepackage[numbers]{natbib}\n"
        end = f"\\bibliographystyle{{plainnat}}\n\\bibliography{{{bibs}}}\n"
    else:
        preamble = "".join(f"\\addbibresource{{{b}.bib}}\n" for b in bibs.split(","))
        preamble = "\\usepackage[backend=biber,style=numeric]{biblatex}\n" + preamble
        end = "\\printbibliography\n"
    folder.mkdir(parents=True, exist_ok=True)
    tex = folder / "main.tex"
    tex.write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
        "\\usepackage{paperlink}\n"
        f"{preamble}\\hyphenpenalty=10000 \\sloppy\n\\begin{{document}}\n{body}\n{end}"
        "\\end{document}\n"
    )
    return tex


def _build(tex: Path) -> Built:
    run_cli("latex", "--tex", str(tex))
    built = latexmk(tex.parent)
    assert built.returncode == 0, built.output[-4000:]
    return built


def _archive(root: Path, label: str, **publication: object) -> None:
    """Give ``label`` a publication as 'paperlink publish' stores it."""
    with RecordStore(find_project(root).store_path) as store:
        store.set_annotation(label, "publication", {"service": "zenodo", **publication})


@pytest.fixture
def cited(figure_project: Path) -> Path:
    (figure_project / "CITATION.cff").write_text(
        CITATION
        + "repository-code: https://git.example.org/tides/study\ndate-released: 2025-11-02\n"
    )
    return figure_project


@pytest.mark.parametrize("backend", BACKENDS)
def test_archive_entry_cites_authors_title_version_archive_and_doi(
    cited: Path, backend: str
) -> None:
    _archive(cited, LABEL, server="https://zenodo.org/api", deposition_id="4242", doi=DOI,
             url="https://zenodo.org/records/4242", published="2026-05-06T07:08:09.000000Z")  # fmt: skip
    tex = _manuscript(
        cited / "paper",
        backend,
        f"\\plincludegraphics[width=1cm]{{{LABEL}}} Archived as \\cite{{paperlink:{LABEL}}}.",
    )
    built = _build(tex)
    bib = (tex.parent / "paperlink.bib").read_text()
    assert "root" not in bib and "127.0.0.1" not in bib
    text = built.text
    assert "Results of the tide study" in text
    assert "Curie" in text and "The Tide Consortium" in text
    assert "Zenodo" in text and "2026" in text
    assert DOI in text.replace(" ", "")
    if backend == "biber":
        assert "1.0.0" in text  # biblatex prints the version
        # The ORCID iD travels as a data annotation of the first author, as biber read it.
        assert "https://orcid.org/0000-0002-1825-0097" in built.bbl
        assert "\\annotation{item}{author}{orcid}{1}" in built.bbl
    else:
        assert f"https://doi.org/{DOI}" in text.replace(" ", "")


@pytest.mark.parametrize("backend", BACKENDS)
def test_before_anything_is_archived_the_bib_compiles_and_cites_the_software(
    cited: Path, backend: str
) -> None:
    tex = _manuscript(cited / "paper", backend, "The code: \\cite{paperlink-software}.")
    built = _build(tex)
    bib = (tex.parent / "paperlink.bib").read_text()
    assert f"paperlink:{LABEL}" not in bib.split("\n@", 1)[-1]
    assert "Results of the tide study" in built.text and "Curie" in built.text
    assert "git.example.org/tides/study" in built.text.replace(" ", "")
    assert "2025" in built.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_paper_citing_other_works_builds_with_an_empty_paperlink_bib(
    figure_project: Path, backend: str
) -> None:
    # No CITATION.cff, nothing archived: paperlink.bib holds only its header, and BibTeX reads it.
    folder = figure_project / "paper"
    folder.mkdir()
    (folder / "refs.bib").write_text(
        "@book{knuth, author = {Knuth, Donald E.}, title = {The {\\TeX}book}, "
        "publisher = {Addison-Wesley}, year = {1984}}\n"
    )
    tex = _manuscript(folder, backend, "See \\cite{knuth}.", bibs="refs,paperlink")
    built = _build(tex)
    assert "@" not in (folder / "paperlink.bib").read_text()
    assert "Knuth" in built.text


def test_a_folder_archive_is_not_cited_and_leaves_no_local_address(cited: Path) -> None:
    run_cli("publish", "--record", LABEL, "--to", str(cited.parent / "archive"), "--no-site")
    tex = _manuscript(cited / "paper", "bibtex", "\\cite{paperlink-software}")
    _build(tex)
    bib = (tex.parent / "paperlink.bib").read_text()
    assert "file:" not in bib and f"paperlink:{LABEL}" not in bib.split("\n@", 1)[-1]


HOSTILE = 'Tides {of} 100% \\emph{#1} & "quotes" @home ~x^2_y é ß € <a|b> {'


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["CITATION.cff", "project name"])
def test_braces_stay_balanced_whatever_the_title_or_project_name_holds(
    figure_project: Path, backend: str, where: str
) -> None:
    if where == "CITATION.cff":
        (figure_project / "CITATION.cff").write_text(
            "cff-version: 1.2.0\nmessage: cite\ntitle: " + _yaml(HOSTILE) + "\n"
            "authors:\n  - family-names: " + _yaml("O'Brien {and} Sons") + "\n"
            "    given-names: " + _yaml("Siobhán \\x") + "\n"
        )
        title = HOSTILE
    else:
        config = figure_project / "paperlink.toml"
        escaped = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
        config.write_text(
            re.sub(r'name = ".*"', lambda _: f'name = "{escaped}"', config.read_text())
        )
        title = f"{HOSTILE}: figures, run records and code"
    _archive(figure_project, LABEL, server="https://zenodo.org/api", doi=DOI,
             published="2026-05-06T07:08:09.000000Z")  # fmt: skip
    tex = _manuscript(
        figure_project / "paper",
        backend,
        f"\\plincludegraphics[width=1cm]{{{LABEL}}} \\cite{{paperlink:{LABEL}}}",
    )
    built = _build(tex)
    shown = re.sub(r"\s", "", built.text)
    # The title typesets as written: every special character is text, none is TeX.
    assert re.sub(r"\s", "", title.replace('"', "”")) in shown.replace("“", "”").replace("''", "”")
    if where == "CITATION.cff":
        assert "O'Brien{and}Sons" in shown.replace("’", "'") and "Siobhán" in shown


def _yaml(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_bib_text_balances_braces_and_escapes_specials() -> None:
    escaped = bib_text("a{b}\\c%d#e")
    assert escaped == "a\\textbraceleft{}b\\textbraceright{}\\textbackslash{}c\\%d\\#e"
    assert escaped.count("{") == escaped.count("}")
    assert bib_text("é\nx") == "{\\'e} x"
