"""What a server, a project name or a label says never becomes markup or a link that runs code: the
archive's HTML description, the URLs and DOIs a server answers, and the static site's pages and outputs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from selenium.webdriver.common.by import By

from paperlink.core.config import find_project
from paperlink.core.metadata import load_metadata
from paperlink.publish.api import Deposit

EVIL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
    "onload=\"top.document.title='pwned'\"><script>top.document.title='pwned';"
    'parent.document.title=\'pwned\'</script><rect width="40" height="40" fill="red"/></svg>'
)


def test_the_archive_description_escapes_the_project_name_and_labels(project_dir: Path) -> None:
    (project_dir / "paperlink.toml").write_text(
        (project_dir / "paperlink.toml")
        .read_text()
        .replace('name = "study"', 'name = "<script>alert(1)</script>"')
    )
    project = find_project(project_dir)
    assert project.name == "<script>alert(1)</script>"
    description = load_metadata(project, labels=["<img src=x onerror=alert(2)>"]).metadata[
        "description"
    ]
    assert "<script>" not in description and "<img" not in description
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in description
    assert "&lt;img src=x onerror=alert(2)&gt;" in description


def test_an_abstract_from_citation_cff_is_text(project_dir: Path) -> None:
    (project_dir / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: T\nmessage: m\nauthors:\n  - family-names: Curie\n"
        "    given-names: Marie\nabstract: 'Spectra <b>bold</b> & more'\n"
    )
    metadata = load_metadata(find_project(project_dir), labels=["a"]).metadata
    assert metadata["description"] == "<p>Spectra &lt;b&gt;bold&lt;/b&gt; &amp; more</p>"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://zenodo.org/records/12", True),
        (
            "http://127.0.0.1:5000/records/12",
            True,
        ),  # a server's own address; the PDF check is elsewhere
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("file:///etc/passwd", False),
        ("https://user:secret@zenodo.org/records/1", False),
        ('https://zenodo.org/records/1"><script>', False),
        ("//zenodo.org/records/1", False),
    ],
)
def test_a_server_url_reaches_nothing_unless_it_is_plain_http(url: str, kept: bool) -> None:
    deposit = Deposit("1", True, "10.5281/zenodo.12", url, {}, {})
    assert deposit.url == (url if kept else None)


@pytest.mark.parametrize(
    ("doi", "kept"),
    [
        ("10.5281/zenodo.12", True),
        ("10.5072/zenodo.12", True),
        ("javascript:alert(1)", False),
        ('10.5281/x"}, note={evil', False),
        ("10.5281/a b", False),
    ],
)
def test_a_server_doi_must_look_like_one(doi: str, kept: bool) -> None:
    assert Deposit("1", True, doi, None, {}, {}).doi == (doi if kept else None)


@pytest.mark.slow
def test_the_static_site_carries_the_policy_and_sandboxes_active_outputs(
    project_dir: Path, tmp_path: Path, browser: Any
) -> None:
    script = f"import pathlib; pathlib.Path('figures').mkdir(exist_ok=True); pathlib.Path('figures/evil.svg').write_text({EVIL_SVG!r})"
    run_cli("run", "-q", "--label", "evil", "--", sys.executable, "-c", script)
    site = tmp_path / "site"
    run_cli("site", str(site))
    pages = list(site.rglob("*.html"))
    assert pages
    for page in pages:
        assert '<meta http-equiv="Content-Security-Policy" content="default-src' in page.read_text()
    record = (site / "records" / "evil.html").read_text()
    assert 'href="evil/view/figures/evil.svg.html"' in record  # links go through the sandbox page
    assert (site / "records" / "evil" / "files" / "figures" / "evil.svg").read_text() == EVIL_SVG
    wrapper = site / "records" / "evil" / "view" / "figures" / "evil.svg.html"
    assert "<iframe" in wrapper.read_text() and " sandbox " in wrapper.read_text()

    browser.get((site / "records" / "evil.html").as_uri())
    images = browser.find_elements(By.CSS_SELECTOR, "img")
    assert images and all(
        browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
        for i in images
    )
    browser.get(wrapper.as_uri())
    time.sleep(1)
    assert browser.title != "pwned"
    frame = browser.find_element(By.CSS_SELECTOR, "iframe.output")
    assert frame.get_attribute("sandbox") == ""
    browser.get((site / "records" / "evil.html").as_uri())
    time.sleep(0.5)
    assert browser.title != "pwned"
