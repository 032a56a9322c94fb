"""What each page of the viewer shows, gathered from the store and the project, and rendered with jinja2.

Every ``*_page`` function returns the name of a template and its context; :class:`Renderer` turns that
into HTML. The functions only read: the store is never written, and files are re-hashed without updating
the store's digest cache, so the viewer can run beside ``paperlink run``.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import field
from datetime import date
from pathlib import Path
from typing import Any

import jinja2

from paperlink.core.compare import diff_records
from paperlink.core.envpackages import MANAGER_TITLES, EnvironmentFile
from paperlink.core.envrecipes import environment_of
from paperlink.core.humanize import format_duration, format_size
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.store import RecordStore, RecordSummary
from paperlink.errors import RecordNotFound, StoreError
from paperlink.version import __version__
from paperlink.web.figures import FigureView
from paperlink.web.links import Links
from paperlink.web.outputs import (
    output_views,
)

PAGE_SIZE = 50
SCRIPT_SUFFIXES = (".py", ".r", ".jl", ".sh", ".m", ".ipynb", ".pl", ".rb", ".js", ".do", ".smk")
STATUSES = ("finished", "failed", "interrupted", "killed", "running", "incomplete")
MAX_STREAM_CHARS = 200_000


# -- templates ------------------------------------------------------------------------------------
def template_folder() -> Path:
    """``paperlink/templates/web``, the package data beside the code (in a checkout and when installed)."""
    return Path(__file__).resolve().parent.parent / "templates" / "web"


class Renderer:
    """The jinja2 environment of the viewer: HTML autoescaping on, undefined names are errors."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(template_folder()),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["size"] = format_size
        self.env.filters["duration"] = format_duration
        self.env.filters["when"] = lambda t: (t or "")[:19].replace("T", " ")
        self.env.filters["short"] = _short_digest
        self.env.filters["jsonvalue"] = _json_value

    def render(self, template: str, context: dict[str, Any], links: Links) -> str:
        return self.env.get_template(template).render(**context, links=links, version=__version__)

    def css(self) -> bytes:
        return (template_folder() / "paperlink.css").read_bytes()


def _short_digest(value: str | None) -> str:
    if not value:
        return "-"
    return value[:12] + "…" if len(value) > 16 else value


def _json_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# -- the records page -----------------------------------------------------------------------------
@model
class RecordQuery:
    """The search and filters of the records page, from its query string."""

    text: str = ""
    tag: str = ""
    status: str = ""
    script: str = ""
    since: str = ""
    until: str = ""
    page: int = 1
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str]) -> RecordQuery:
        query = cls(
            text=params.get("q", "").strip(),
            tag=params.get("tag", "").strip(),
            status=params.get("status", "").strip(),
            script=params.get("script", "").strip(),
            since=params.get("since", "").strip(),
            until=params.get("until", "").strip(),
        )
        try:
            query.page = max(1, int(params.get("page", "1")))
        except ValueError:
            query.page = 1
        for name in ("since", "until"):
            value = getattr(query, name)
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    query.problems.append(f"'{value}' is not a date: write it as YYYY-MM-DD")
                    setattr(query, name, "")
        return query

    def as_params(self) -> dict[str, str]:
        return {
            "q": self.text,
            "tag": self.tag,
            "status": self.status,
            "script": self.script,
            "since": self.since,
            "until": self.until,
        }

    @property
    def active(self) -> bool:
        return any(self.as_params().values())

    def matches(self, summary: RecordSummary) -> bool:
        if self.tag and self.tag not in summary.tags:
            return False
        if self.status and summary.status != self.status:
            return False
        if self.script and script_of(summary.command) != self.script:
            return False
        day = summary.start_time[:10]
        if self.since and day < self.since:
            return False
        if self.until and day > self.until:
            return False
        if self.text:
            needle = self.text.casefold()
            haystack = f"{summary.label}\n{summary.command}\n{summary.reason or ''}".casefold()
            return needle in haystack
        return True


def script_of(command: str) -> str:
    """The script a command ran (``python3 analysis/fit.py -n 3`` → ``analysis/fit.py``), else its
    program's name."""
    words = command.split()
    for word in words:
        if word.lower().endswith(SCRIPT_SUFFIXES):
            return word
    return posixpath.basename(words[0]) if words else ""


def records_page(store: RecordStore, query: RecordQuery) -> tuple[str, dict[str, Any]]:
    summaries = store.summaries()
    tags = sorted({t for s in summaries for t in s.tags})
    scripts = sorted({script_of(s.command) for s in summaries} - {""})
    found = [s for s in summaries if query.matches(s)]
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(query.page, pages)
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return "records.html.j2", {
        "title": "Records",
        "query": query,
        "summaries": shown,
        "total": len(summaries),
        "found": len(found),
        "page": page,
        "pages": pages,
        "tags": tags,
        "scripts": scripts,
        "statuses": STATUSES,
        "script_of": script_of,
    }


# -- one record -----------------------------------------------------------------------------------
def diff_lines(text: str) -> list[tuple[str, str]]:
    """A unified diff as ``(css class, line)`` pairs for server-side colouring."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append((kind, line))
    return lines


def stream_text(store: RecordStore, label: str, stream: str) -> str | None:
    """The kept head (and tail) of a stream as text, or ``None`` when nothing was kept."""
    parts = store.get_stream(label, stream)
    if not parts:
        return None
    text = parts.get("head", b"").decode("utf-8", errors="replace")
    if "tail" in parts:
        text += "\n[… paperlink kept only the head and the tail of this stream …]\n"
        text += parts["tail"].decode("utf-8", errors="replace")
    if len(text) > MAX_STREAM_CHARS:
        half = MAX_STREAM_CHARS // 2
        label_word = shlex.quote(label)
        show = (
            f"'paperlink show {label_word} --stdout'"
            if stream == "stdout"
            else f"'paperlink show {label_word} --stderr'"
        )
        note = f"\n[… cut here for the page; {show} prints it all …]\n"
        text = text[:half] + note + text[-half:]
    return text or None


def commit_url(remote: str | None, commit: str | None) -> str | None:
    """A web link to ``commit`` for remotes on GitHub, GitLab, Codeberg and similar forges."""
    if not remote or not commit:
        return None
    match = re.match(
        r"^(?:git@([^:]+):|(?:https?|ssh)://(?:[^@/]+@)?([^/]+)/)(.+?)(?:\.git)?/?$", remote
    )
    if not match:
        return None
    host = match.group(1) or match.group(2)
    return f"https://{host}/{match.group(3)}/commit/{commit}"


def previous_run(summaries: list[RecordSummary], record: Record) -> str | None:
    """The label of the run before ``record`` of the same script (or of anything, failing that);
    ``summaries`` are newest first."""
    script = script_of(record.command)
    before = [s for s in summaries if s.start_time < record.start_time]
    for summary in before:
        if script_of(summary.command) == script:
            return summary.label
    return before[0].label if before else None


def record_page(
    store: RecordStore,
    root: Path,
    label: str,
    figures: list[FigureView] | None = None,
    summaries: list[RecordSummary] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Raises :class:`RecordNotFound` for an unknown label."""
    record = store.get(label)
    summaries = store.summaries() if summaries is None else summaries
    diff = None
    if record.code.diff_sha256:
        try:
            diff = diff_lines(store.get_blob(record.code.diff_sha256).decode("utf-8", "replace"))
        except RecordNotFound:
            diff = [("meta", "(the stored diff is missing from the store)")]
    groups, files, note = environment_view(store, record)
    used = [f for f in figures or [] if f.label == record.label]
    recent = [s.label for s in summaries[:200] if s.label != record.label]
    return "record.html.j2", {
        "title": f"Record {record.label}",
        "record": record,
        "outputs": output_views(root, store, record),
        "diff": diff,
        "commit_url": commit_url(record.code.remote, record.code.commit),
        "stdout": stream_text(store, record.label, "stdout"),
        "stderr": stream_text(store, record.label, "stderr"),
        "record_json": record.to_json(indent=2),
        "previous": previous_run(summaries, record),
        "recent": recent,
        "figures_used": {f.path for f in used},
        "rerun_command": f"paperlink rerun {shlex.quote(record.label)}",
        "command_line": shlex.join(record.argv) if record.argv else record.command,
        "packages_by_manager": groups,
        "environment_files": files,
        "environment_note": note,
    }


def _public_source(source: str) -> str:
    return source.rsplit("/", 1)[-1] if source.startswith("/") else source


def environment_view(
    store: RecordStore, record: Record
) -> tuple[list[dict[str, Any]], list[EnvironmentFile], str | None]:
    """The record's packages by manager (title, source, packages), its lock files and a note when the
    store lacks the environment the record names."""
    if not record.environment_digest:
        return [], [], None
    try:
        environment = store.get_environment(record.environment_digest)
    except RecordNotFound:
        return [], [], f"the store lacks this run's environment {record.environment_digest}"
    except StoreError as exc:
        return [], [], exc.message
    groups = [
        {
            "manager": manager,
            "title": MANAGER_TITLES.get(manager, manager),
            # A folder on the author's machine is named by its last part: the site may be public.
            "source": _public_source(environment.sources.get(manager, "")),
            "packages": environment.packages[manager],
        }
        for manager in environment.managers()
    ]
    return groups, environment.files, None


# -- comparing two records ------------------------------------------------------------------------
def compare_page(
    store: RecordStore, root: Path, left: str, right: str
) -> tuple[str, dict[str, Any]]:
    """Raises :class:`RecordNotFound` when either label is unknown."""
    a, b = store.get(left), store.get(right)
    result = diff_records(a, b, environment_of(store, a), environment_of(store, b))
    sections: dict[str, list[Any]] = {}
    for difference in result.differences:
        sections.setdefault(difference.section, []).append(difference)
    images_a = {v.item.path: v for v in output_views(root, store, a) if v.is_image}
    images_b = {v.item.path: v for v in output_views(root, store, b) if v.is_image}
    pairs = [
        (path, images_a[path], images_b[path]) for path in sorted(images_a.keys() & images_b.keys())
    ]
    return "compare.html.j2", {
        "title": f"Compare {a.label} and {b.label}",
        "left": a,
        "right": b,
        "sections": sections,
        "same": result.same,
        "image_pairs": pairs,
    }


def error_page(status: str, message: str, hint: str | None = None) -> tuple[str, dict[str, Any]]:
    return "error.html.j2", {"title": status, "status": status, "message": message, "hint": hint}
