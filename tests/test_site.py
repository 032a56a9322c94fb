"""``paperlink site DIR``: the viewer's pages as plain files with relative links, checked link by link."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from fixtures_browser import Study, add_built_record, file_digest, png_bytes
from helpers import paperlink_process, run_cli

from paperlink.core.config import find_project
from paperlink.core.store import RecordStore
from paperlink.errors import ViewerError
from paperlink.web.site import MARKER, write_site


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value is not None:
                self.found.append((tag, value))
            if name == "id" and value:
                self.ids.add(value)


def check_links(site: Path) -> int:
    """Every href/src/action of every HTML file resolves to a file in the site; returns the link count."""
    pages = list(site.rglob("*.html"))
    assert pages
    parsed = {}
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        parsed[page] = parser
    checked = 0
    for page, parser in parsed.items():
        for tag, link in parser.found:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc, f"{page}: external link {link}"
            assert not link.startswith("/"), f"{page}: absolute link {link}"
            if not parts.path:  # a fragment on the same page
                assert parts.fragment in parser.ids, f"{page}: no #{parts.fragment}"
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page}: <{tag}> {link} → {target} is missing"
            assert site.resolve() in target.parents, f"{page}: {link} leaves the site"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in parsed[target].ids, f"{page}: {link}: no such anchor"
            checked += 1
    return checked


def test_site_has_no_broken_or_external_links(study: Study, tmp_path: Path) -> None:
    # Labels and paths that need quoting, as file names and as links.
    (study.root / "figures" / "odd name%.png").write_bytes(png_bytes(8, 8, (1, 2, 3)))
    add_built_record(
        study.root, "sweep/a%2F..", outputs=[file_digest(study.root, "figures/odd name%.png")]
    )
    add_built_record(study.root, "..", outputs=[file_digest(study.root, "figures/curve.png")])
    add_built_record(
        study.root,
        "<script>x</script>",
        argv=["sh", "-c", "<img src=x onerror=alert(1)>"],
        reason="<script>document.title='pwned'</script>",
    )
    site = tmp_path / "site"
    result = run_cli("site", str(site), "--tex", "paper/main.tex")
    assert f"to {site}" in result.output
    assert check_links(site) > 50
    assert (site / "records" / "sweep%2Fa%252F...html").is_file()
    assert (site / "records" / "%2E%2E.html").is_file()
    copied = site / "records" / "sweep%2Fa%252F.." / "files" / "figures" / "odd%20name%25.png"
    assert copied.read_bytes() == (study.root / "figures" / "odd name%.png").read_bytes()
    css = (site / "static" / "paperlink.css").read_text()
    assert "http" not in css.replace("https://", "")  # no remote fonts or images
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert "<script" not in text
        assert "http://" not in text


def test_site_pages_show_the_records(study: Study, tmp_path: Path) -> None:
    site = tmp_path / "site"
    run_cli("site", str(site), "--tex", "paper/main.tex")
    index = (site / "index.html").read_text()
    assert 'href="records/baseline.html"' in index and "3 records, newest first." in index
    record = (site / "records" / "tuned.html").read_text()
    assert 'src="tuned/files/figures/tuned.png"' in record
    assert 'href="../compare/baseline/tuned.html"' in record
    assert 'href="../figures/tuned/figures/tuned.png.html"' in record
    assert 'href="../static/paperlink.css"' in record
    assert "Compare with record" not in record  # no form without a server
    archived = (site / "records" / "archived-in-container.html").read_text()
    assert "<code>10.5072/zenodo.123456</code>" in archived  # the DOI as text: no external links
    data = json.loads((site / "records" / "baseline.json").read_text())
    assert data["label"] == "baseline"
    figure = (site / "figures" / "baseline" / "figures" / "curve.png.html").read_text()
    assert 'src="../../../records/baseline/files/figures/curve.png"' in figure
    assert "main.tex</code>, line 7" in figure


def test_site_leaves_out_files_that_changed_since_their_run(study: Study, tmp_path: Path) -> None:
    (study.root / "figures" / "curve.png").write_bytes(png_bytes(3, 3, (9, 9, 9)))
    site = tmp_path / "site"
    result = run_cli("site", str(site), "--json")
    summary = json.loads(result.output)
    assert summary["skipped_files"] == ["baseline:figures/curve.png (changed)"]
    assert summary["records"] == 3 and summary["files"] == 2
    assert not (site / "records" / "baseline" / "files").exists()
    assert "changed since the run" in (site / "records" / "baseline.html").read_text()
    check_links(site)


def test_site_size_limit(study: Study, tmp_path: Path) -> None:
    summary = json.loads(
        run_cli("site", str(tmp_path / "s"), "--max-file-size", "0", "--json").output
    )
    assert summary["files"] == 0 and len(summary["skipped_files"]) == 3
    check_links(tmp_path / "s")


def test_site_replaces_its_own_folder_but_nothing_else(study: Study, tmp_path: Path) -> None:
    site = tmp_path / "site"
    run_cli("site", str(site))
    (site / "stale.html").write_text("old")
    run_cli("site", str(site))
    assert (site / MARKER).is_file() and not (site / "stale.html").exists()

    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("precious")
    done = paperlink_process("site", str(foreign), cwd=study.root)
    assert done.returncode == 1
    assert b"is not a site paperlink wrote" in done.stderr
    assert (foreign / "chapter1.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".paperlink-site")) == []


def test_failed_build_leaves_the_previous_site(study: Study, tmp_path: Path) -> None:
    site = tmp_path / "site"
    run_cli("site", str(site))
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    project = find_project(study.root)
    with RecordStore(project.store_path) as store, pytest.raises(Exception, match="manuscript"):
        write_site(store, project.root, site, tex=study.root / "missing.tex")
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".paperlink-site")]


def test_site_into_a_file_is_refused(study: Study, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    project = find_project(study.root)
    with RecordStore(project.store_path) as store, pytest.raises(ViewerError):
        write_site(store, project.root, target)


def test_site_of_an_empty_store(project_dir: Path, tmp_path: Path) -> None:
    run_cli("site", str(tmp_path / "empty"))
    assert "No records yet" in (tmp_path / "empty" / "index.html").read_text()
    check_links(tmp_path / "empty")


def test_site_paginates_the_records_list(project_dir: Path, tmp_path: Path) -> None:
    for number in range(55):
        add_built_record(project_dir, f"bulk-{number:03d}")
    site = tmp_path / "site"
    run_cli("site", str(site))
    assert 'href="records/page-2.html"' in (site / "index.html").read_text()
    second = (site / "records" / "page-2.html").read_text()
    assert 'href="bulk-004.html"' in second and 'href="../index.html"' in second
    check_links(site)


def test_every_web_template_is_package_data() -> None:
    """paperlink/templates/web is a package of its own in the wheel; its package-data globs must take every file."""
    import fnmatch
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    from helpers import REPO_ROOT

    from paperlink.web.pages import template_folder

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert "paperlink.templates.web" in setuptools["packages"]
    patterns = setuptools["package-data"]["paperlink.templates.web"]
    files = [p.name for p in template_folder().iterdir()]
    assert "paperlink.css" in files and "record.html.j2" in files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
