"""``paperlink list`` in the formats Sumatra's ``smt list`` users rely on: a table for the terminal, JSON,
CSV for spreadsheets, a LaTeX ``longtable`` for a lab notebook or a thesis appendix, and a shell script
that re-runs the listed records.

Every format is written from the store's summaries alone (no record JSON is parsed), so all are as fast
as the table.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from paperlink.core.store import RecordSummary
from paperlink.errors import UsageError

LIST_FORMATS = ("table", "json", "csv", "latex", "shell")
CSV_COLUMNS = (
    "label",
    "status",
    "start_time",
    "duration_seconds",
    "exit_status",
    "tags",
    "reason",
    "command",
)
_SPACE = re.compile(r"\s+")
_QUOTES = re.compile(r"(['\"`])")
_QUOTE_TEX = {"'": "\\textquotesingle{}", '"': "\\textquotedbl{}", "`": "\\textasciigrave{}"}


def render_list(summaries: Sequence[RecordSummary], fmt: str, *, root: Path | None = None) -> str:
    """``summaries`` (newest first, as the store returns them) in format ``fmt`` (one of
    :data:`LIST_FORMATS`). ``root`` is the project folder the shell script changes into."""
    if fmt == "table":
        from paperlink.cli.views import list_table

        return list_table(summaries)
    if fmt == "json":
        return list_json(summaries)
    if fmt == "csv":
        return list_csv(summaries)
    if fmt == "latex":
        return list_latex(summaries)
    if fmt == "shell":
        return list_shell(summaries, root=root)
    raise UsageError(
        f"unknown list format {fmt!r}", hint=f"choose one of {', '.join(LIST_FORMATS)}"
    )


def list_json(summaries: Sequence[RecordSummary]) -> str:
    # One compact object per line: readable, and json's fast C encoder works only without indent.
    items = [
        json.dumps(s._asdict() | {"tags": list(s.tags)}, ensure_ascii=False) for s in summaries
    ]
    return "[\n" + ",\n".join(items) + "\n]" if items else "[]"


def list_csv(summaries: Sequence[RecordSummary]) -> str:
    """RFC 4180 CSV with a header row; tags separated by spaces (a tag holds none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in summaries:
        writer.writerow(
            (
                s.label,
                s.status,
                s.start_time,
                "" if s.duration is None else f"{s.duration:.6g}",
                "" if s.exit_status is None else s.exit_status,
                " ".join(s.tags),
                s.reason or "",
                s.command,
            )
        )
    return out.getvalue().rstrip("\r\n")


def list_latex(summaries: Sequence[RecordSummary]) -> str:
    """A ``longtable`` (it breaks across pages; needs ``\\usepackage{longtable}``) of the records."""
    from paperlink.core.humanize import format_duration
    from paperlink.latex.escape import tex_text

    def cell(text: str) -> str:
        # One line per cell: a newline or tab in a command would end the row or the paragraph. Quotes
        # stay straight (TeX would curl ' and turn " into ''), so a command reads as it ran.
        pieces = _QUOTES.split(_SPACE.sub(" ", text).strip())
        return "".join(_QUOTE_TEX.get(piece) or tex_text(piece) for piece in pieces if piece)

    lines = [
        "% paperlink list --format latex: needs \\usepackage{longtable} in the preamble",
        "\\begin{longtable}{@{}llrlp{0.4\\linewidth}@{}}",
        "Label & Started (UTC) & Duration & Status & Command \\\\",
        "\\hline",
        "\\endhead",
    ]
    for s in summaries:
        status = s.status if not s.exit_status else f"{s.status} ({s.exit_status})"
        lines.append(
            f"\\texttt{{{cell(s.label)}}} & {cell(s.start_time[:19].replace('T', ' '))} & "
            f"{cell(format_duration(s.duration))} & {cell(status)} & "
            f"\\texttt{{{cell(s.command)}}} \\\\"
        )
    lines.append("\\end{longtable}")
    return "\n".join(lines)


def list_shell(summaries: Sequence[RecordSummary], *, root: Path | None = None) -> str:
    """A POSIX shell script that re-runs the records, oldest first, with ``paperlink rerun LABEL`` (each
    on a scratch copy, its outputs compared with the record's); it goes on after a failed one and exits
    with the last non-zero status."""
    lines = [
        "#!/bin/sh",
        f"# Re-run {len(summaries)} record(s), oldest first: 'paperlink rerun LABEL' executes each",
        "# again on a scratch copy and compares its outputs with the record's (exit 3: they differ).",
        "status=0",
    ]
    if root is not None:
        lines.append(f"cd {shlex.quote(str(root))} || exit 1")
    for s in reversed(summaries):
        command = _SPACE.sub(" ", s.command).strip()
        lines.append(f"# {s.label}: {command}  ({s.status})")
        lines.append(f"paperlink rerun {shlex.quote(s.label)} || status=$?")
    lines.append('exit "$status"')
    return "\n".join(lines)
