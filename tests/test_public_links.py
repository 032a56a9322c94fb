"""The reader's PDF never links to the author's machine: every URI paperlink writes is one a reader can open.

Each test compiles a real paper and reads every URI out of the PDF (link annotations, the embedded manifest,
the text) and out of the generated files, and rejects loopback, private, single-label and file: addresses.
"""

from __future__ import annotations

import ipaddress
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fixtures_latex import compile_tex, write_manuscript
from fixtures_publish import CITATION
from fixtures_zenodo import FakeZenodo
from helpers import run_cli
from pypdf import PdfReader

from paperlink.core.config import find_project
from paperlink.core.store import RecordStore

pytestmark = pytest.mark.tex

LABEL = "fig_1-a.b"
BODY = f"\\plincludegraphics[width=1cm]{{{LABEL}}}\n\nSlope \\plvalue{{{LABEL}:slope}}.\n"
_URI = re.compile(r"(?:[a-z][a-z0-9+.-]*://|file:)[^\s{}()<>\"'\\]+", re.IGNORECASE)


def _pdf_uris(pdf: Path) -> list[str]:
    """Every URI in the PDF: its link annotations, its embedded files (the manifest) and its text."""
    reader = PdfReader(pdf)
    found = []
    for page in reader.pages:
        for ref in page.get("/Annots", []) or []:
            action = ref.get_object().get("/A")
            if action is not None and "/URI" in action:
                found.append(str(action["/URI"]))
        found += _URI.findall(page.extract_text())
    for contents in reader.attachments.values():
        for data in contents:
            found += _URI.findall(data.decode("utf-8", errors="replace"))
    return found


def _link_uris(pdf: Path) -> list[str]:
    return [
        str(ref.get_object()["/A"]["/URI"])
        for page in PdfReader(pdf).pages
        for ref in page.get("/Annots", []) or []
        if "/A" in ref.get_object()
    ]


def _file_uris(*paths: Path) -> list[str]:
    found = []
    for path in paths:
        if path.suffix == ".pdf":
            found += _pdf_uris(path)
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    found += _URI.findall(archive.read(name).decode("utf-8", errors="replace"))
        else:
            found += _URI.findall(path.read_text(encoding="utf-8", errors="replace"))
    return found


def _assert_public(uris: list[str]) -> None:
    """No URI names the author's machine, network or disk."""
    for uri in uris:
        parts = urlsplit(uri)
        assert parts.scheme in ("http", "https"), uri
        host = (parts.hostname or "").lower()
        assert host and "." in host and host != "localhost", uri
        assert not host.endswith((".local", ".localhost", ".internal", ".lan")), uri
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            continue
        assert not (address.is_loopback or address.is_private or address.is_link_local), uri


@pytest.fixture
def paper(figure_project: Path) -> Path:
    (figure_project / "CITATION.cff").write_text(CITATION)
    return write_manuscript(figure_project / "paper", BODY)


def test_before_a_doi_figures_carry_no_link_latex_says_so_and_verify_warns(paper: Path) -> None:
    root = paper.parent.parent
    done = run_cli("latex", "--tex", str(paper))
    assert f"the figures and values of {LABEL} carry no link" in done.stderr
    assert "paperlink publish --draft" in done.stderr
    compiled = compile_tex(paper.parent)
    assert compiled.returncode == 0, compiled.log[-3000:]
    assert compiled.pdf is not None
    assert _link_uris(compiled.pdf) == []  # before: http://127.0.0.1:8008/records/…
    _assert_public(_file_uris(compiled.pdf, *(paper.parent / n for n in _GENERATED)))
    checked = run_cli("verify", str(compiled.pdf), ok=False)
    assert checked.exit_code == 0, checked.output
    assert "has no public provenance links" in checked.stderr
    assert json.loads(run_cli("verify", str(compiled.pdf), "--json").stdout)["warnings"]
    # The archive holds the PDF as it is, and says nothing of where the author keeps it.
    archive = root.parent / "archive"
    run_cli("publish", "--tex", str(paper), "--to", str(archive), "--pdf", str(compiled.pdf))
    _assert_public(_file_uris(*_text_files(archive)))
    # Published to a folder: still no address a reader can open (before: file:///tmp/…).
    again = run_cli("latex", "--tex", str(paper))
    assert "carry no link" in again.stderr
    recompiled = compile_tex(paper.parent)
    assert recompiled.pdf is not None and _link_uris(recompiled.pdf) == []
    _assert_public(_file_uris(recompiled.pdf, *(paper.parent / n for n in _GENERATED)))


_GENERATED = ("paperlink-data.tex", "paperlink.bib")


def _text_files(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.iterdir())
        if p.suffix in (".pdf", ".json", ".md", ".diff", ".txt", ".zip") or p.name == "SHA256SUMS"
    ]


def test_a_reserved_doi_is_where_every_figure_links(paper: Path, zenodo_env: FakeZenodo) -> None:
    run_cli("publish", "--record", LABEL, "--draft")
    with RecordStore(find_project(paper).store_path) as store:
        publication = store.get(LABEL).publication
    assert publication is not None and publication.doi and not publication.published
    done = run_cli("latex", "--tex", str(paper))
    assert "carry no link" not in done.stderr
    compiled = compile_tex(paper.parent)
    assert compiled.returncode == 0, compiled.log[-3000:]
    assert compiled.pdf is not None
    links = _link_uris(compiled.pdf)
    assert links and set(links) == {f"https://doi.org/{publication.doi}"}
    _assert_public(_file_uris(compiled.pdf, *(paper.parent / n for n in _GENERATED)))
    checked = run_cli("verify", str(compiled.pdf))
    assert "warning" not in checked.stderr


def test_a_public_url_is_linked_and_a_local_one_refused(paper: Path) -> None:
    config = paper.parent.parent / "paperlink.toml"
    settings = config.read_text()
    config.write_text(
        settings + '\n[latex]\npublic_url = "https://provenance.example.org/study/"\n'
    )
    done = run_cli("latex", "--tex", str(paper))
    assert "carry no link" not in done.stderr
    compiled = compile_tex(paper.parent)
    assert compiled.pdf is not None
    assert (
        f"https://provenance.example.org/study/records/{LABEL}/files/figures/{LABEL}.png"
        in _link_uris(compiled.pdf)
    )
    _assert_public(_file_uris(compiled.pdf, *(paper.parent / n for n in _GENERATED)))
    refused = run_cli(
        "latex", "--tex", str(paper), "--public-url", "http://127.0.0.1:8008", ok=False
    )
    assert refused.exit_code == 2
    assert "127.0.0.1 is this machine (loopback)" in refused.output
    for local in ("http://192.168.1.20/records", "file:///srv/records", "http://labserver/"):
        config.write_text(settings + f'\n[latex]\npublic_url = "{local}"\n')
        bad = run_cli("latex", "--tex", str(paper), ok=False)
        assert bad.exit_code == 1 and "is no public address" in bad.output, bad.output
        assert not (paper.parent / "paperlink-data.tex").read_text().count(local)
