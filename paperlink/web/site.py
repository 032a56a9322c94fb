"""The viewer's pages as a static site: plain HTML and CSS with relative links, opened from disk.

``paperlink site DIR`` writes the records list, one page and one JSON file per record, the figure pages
(with a manuscript), comparisons of each run with the previous run of the same script, and a copy of
each output that still matches its record, so a reader of an archive can browse the provenance without
installing anything. The site is built in a temporary folder beside DIR and moved into place at the end:
an interrupted build leaves the previous site as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from paperlink.core.model import model
from paperlink.core.store import RecordStore
from paperlink.errors import SecretFound, ViewerError
from paperlink.web import outputs, pages
from paperlink.web.figures import figure_page, figures_page, load_figures
from paperlink.web.links import SiteLinks, is_active

MARKER = ".paperlink-site"
DEFAULT_MAX_FILE_BYTES = 100 << 20


@model
class SiteSummary:
    folder: Path
    pages: int
    records: int
    files: int
    skipped_files: list[str]  # "LABEL:PATH (why)"


def write_site(
    store: RecordStore,
    root: Path,
    target: Path,
    *,
    tex: Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> SiteSummary:
    """Write the static site to ``target`` (replacing a site paperlink wrote there before).

    With ``environ``, the site is first scanned for the values of its secret-looking variables (an
    output copied into the site may hold one): :class:`SecretFound` then names file and line, and
    nothing is written. Raises :class:`ViewerError` when ``target`` holds something other than a
    paperlink site, and :class:`LatexError` when the manuscript cannot be read.
    """
    target = Path(os.path.abspath(target))
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".paperlink-site-", dir=target.parent))
    try:
        summary = _build(store, root, staging, tex, max_file_bytes, on_progress)
        if environ is not None:
            _check_secrets(staging, environ)
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary.folder = target
    return summary


def _check_secrets(staging: Path, environ: Mapping[str, str]) -> None:
    from paperlink.core.secretscan import SecretScanner

    scanner = SecretScanner.for_publish(environ)
    if scanner.empty:
        return
    findings = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        findings += scanner.scan_file(path.relative_to(staging).as_posix(), path)
    if findings:
        raise SecretFound(
            [f.as_tuple() for f in findings],
            refusing="refusing to write the site, nothing was written",
            hint="take the value out of the output (change the program so that it does not write "
            "it, then re-run it), or leave such outputs out with --max-file-size",
        )


def _check_target(target: Path) -> None:
    if target.is_file() or (
        target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists()
    ):
        raise ViewerError(
            f"{target} exists and is not a site paperlink wrote",
            hint="choose a new or empty folder; paperlink only replaces a folder it wrote itself",
        )


def _replace(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    staging.chmod(0o755)  # mkdtemp made it private; a site is for reading
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(
    store: RecordStore,
    root: Path,
    out: Path,
    tex: Path | None,
    max_file_bytes: int,
    on_progress: Callable[[int, int], None] | None,
) -> SiteSummary:
    renderer = pages.Renderer()
    summaries = store.summaries()
    figures = load_figures(store, root, tex)
    records = [store.get(s.label) for s in summaries]

    # Which outputs to copy: those inside the project that still match the record.
    copies: dict[tuple[str, str], Path] = {}
    skipped: list[str] = []
    for record in records:
        for view in outputs.output_views(root, store, record):
            if view.item.kind != "file":
                continue
            key = (record.label, view.item.path)
            located = outputs.inside_project(root, view.item.fs_path)
            if view.state != outputs.STATE_OK or located is None:
                skipped.append(f"{record.label}:{view.item.path} ({view.state})")
            elif (view.item.size or 0) > max_file_bytes:
                skipped.append(f"{record.label}:{view.item.path} (larger than the size limit)")
            else:
                copies[key] = located

    comparisons = {
        (previous, record.label)
        for record in records
        if (previous := pages.previous_run(summaries, record)) is not None
    }
    figure_keys = {(f.label, f.path) for f in figures or [] if f.output is not None}
    links = SiteLinks("index.html", set(copies), comparisons, figure_keys)
    written = 0
    active = sum(1 for k in copies if is_active(k[1]))
    total = len(records) + len(comparisons) + len(figure_keys) + len(copies) + active + 2
    done = 0

    def write(path: str, text: str | bytes) -> None:
        nonlocal written, done
        destination = out / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            destination.write_text(text, encoding="utf-8")
        else:
            destination.write_bytes(text)
        written += path.endswith(".html")
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    write("static/paperlink.css", renderer.css())
    write(MARKER, "This folder was written by 'paperlink site'; it is replaced when run again.\n")

    page_count = max(1, -(-len(summaries) // pages.PAGE_SIZE))
    for number in range(1, page_count + 1):
        path = SiteLinks.records_path(number)
        template, context = pages.records_page(store, pages.RecordQuery(page=number))
        write(path, renderer.render(template, context, links.at(path)))

    for record in records:
        path = SiteLinks.record_path(record.label)
        template, context = pages.record_page(store, root, record.label, figures, summaries)
        write(path, renderer.render(template, context, links.at(path)))
        write(SiteLinks.json_path(record.label), record.to_json(indent=2) + "\n")

    for left, right in sorted(comparisons):
        path = SiteLinks.compare_path(left, right)
        template, context = pages.compare_page(store, root, left, right)
        write(path, renderer.render(template, context, links.at(path)))

    template, context = figures_page(figures, tex)
    write("figures/index.html", renderer.render(template, context, links.at("figures/index.html")))
    for label, file_path in sorted(figure_keys):
        path = SiteLinks.figure_path(label, file_path)
        template, context = figure_page(figures or [], tex, root, label, file_path)
        write(path, renderer.render(template, context, links.at(path)))

    for label, file_path in sorted(k for k in copies if is_active(k[1])):
        path = SiteLinks.sandbox_path(label, file_path)
        here = links.at(path)
        context = {"title": file_path, "label": label, "path": file_path,
                   "src": here.file(label, file_path)}  # fmt: skip
        write(path, renderer.render("sandbox.html.j2", context, here))

    for (label, file_path), source in sorted(copies.items()):
        destination = out / SiteLinks.file_path(label, file_path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    return SiteSummary(out, written, len(records), len(copies), skipped)
