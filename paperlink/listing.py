"""``paperlink list --format``: the record list as JSON, CSV, a LaTeX report or a shell script, the formats
Sumatra's ``smt list -f`` offers (the plain table lives in :mod:`paperlink.report`).

The LaTeX report is a complete document (one section per record: when, how it ended, why, the command, the
code version, parameters, inputs and outputs with their digests) with every string escaped by pylatexenc.
The shell script re-runs the listed records, oldest first, each with ``paperlink rerun`` (the recorded
commit in a scratch worktree, the stored diff applied, the inputs restored, the outputs compared), and
exits with the first failing status; record text only ever reaches it inside comments, flattened to one
line, or shell-quoted.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections.abc import Iterable, Sequence

from paperlink.latex import tex_text
from paperlink.records import Record, canonical_json
from paperlink.report import format_duration
from paperlink.store import RecordSummary

FORMATS = ("table", "json", "csv", "latex", "shell")
CSV_COLUMNS = (
    "label",
    "start_time",
    "duration_seconds",
    "status",
    "exit_status",
    "tags",
    "reason",
    "command",
)


def list_json(summaries: Iterable[RecordSummary]) -> str:
    """A JSON array, one compact object per line (json's fast C encoder works only without indent)."""
    items = [
        json.dumps(s._asdict() | {"tags": list(s.tags)}, ensure_ascii=False) for s in summaries
    ]
    return "[\n" + ",\n".join(items) + "\n]" if items else "[]"


def list_csv(summaries: Iterable[RecordSummary]) -> str:
    """RFC 4180 CSV with a header row; tags joined with ``;``, empty cells for what is unknown."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in summaries:
        writer.writerow(
            (
                s.label,
                s.start_time,
                "" if s.duration is None else repr(s.duration),
                s.status,
                "" if s.exit_status is None else s.exit_status,
                ";".join(s.tags),
                s.reason or "",
                s.command,
            )
        )
    return out.getvalue()


def _one_line(text: str | None) -> str:
    """Text for a shell comment: one line, whatever the record holds."""
    return " ".join(str(text or "").split())


def list_shell(
    records: Sequence[Record], *, project: str, root: str, store: str | None = None
) -> str:
    """A POSIX shell script that re-runs ``records`` (given newest first, run oldest first)."""
    rerun = "paperlink" + (f" --store {shlex.quote(store)}" if store else "") + " rerun"
    lines = [
        "#!/bin/sh",
        f"# Re-runs {len(records)} record(s) of the paperlink project '{_one_line(project)}', oldest "
        "first (written by 'paperlink list --format shell').",
        "# Each 'paperlink rerun' checks out the recorded commit in a scratch worktree, applies the "
        "stored diff,",
        "# restores the recorded inputs, runs the command and compares the outputs with the record.",
        "# The script exits with the status of the first re-run that did not reproduce its record.",
        "",
        f"cd {shlex.quote(root)} || exit 1",
        "status=0",
    ]
    for record in reversed(records):
        code = record.code
        version = (code.commit or "no commit")[:12] + (
            " + uncommitted changes" if code.dirty else ""
        )
        lines += [
            "",
            f"# {_one_line(record.label)}: started {record.start_time}, {record.outcome.status}"
            + (f", exit {record.outcome.exit_status}" if record.outcome.exit_status else ""),
        ]
        if record.reason:
            lines.append(f"#   reason: {_one_line(record.reason)}")
        lines += [
            f"#   ran: {_one_line(shlex.join(record.argv))}",
            f"#   in {_one_line(record.working_directory or '.')} at {version}",
            f"{rerun} {shlex.quote(record.label)} || {{ code=$?; [ $status -ne 0 ] || status=$code; }}",
        ]
    lines += ["", "exit $status", ""]
    return "\n".join(lines)


def list_latex(records: Sequence[Record], *, project: str) -> str:
    """A LaTeX document reporting ``records``, one section each (pdfLaTeX, LuaLaTeX, XeLaTeX)."""
    out = [
        "\\documentclass[a4paper,10pt]{article}",
        "\\usepackage[margin=2cm]{geometry}",
        "\\setcounter{secnumdepth}{0}",
        "\\sloppy",
        f"\\title{{Records of {tex_text(project)}}}",
        "\\date{}",
        "\\begin{document}",
        "\\maketitle",
    ]
    if not records:
        out.append("No records.")
    for record in records:
        out += _latex_record(record)
    out += ["\\end{document}", ""]
    return "\n".join(out)


def _tt(text: str) -> str:
    return f"\\texttt{{{tex_text(text)}}}"


def _latex_record(record: Record) -> list[str]:
    o, code = record.outcome, record.code
    items = [
        ("Started", f"{record.start_time} (UTC)"),
        ("Duration", format_duration(record.duration_seconds)),
        ("Status", o.status + (f", exit {o.exit_status}" if o.exit_status is not None else "")),
        ("Reason", record.reason or "--"),
        ("Tags", ", ".join(record.tags) or "--"),
    ]
    lines = [f"\\section{{{tex_text(record.label)}}}", "\\begin{description}"]
    lines += [f"  \\item[{name}] {tex_text(value)}" for name, value in items]
    lines.append(f"  \\item[Command] {_tt(record.command)}")
    lines.append(f"  \\item[Folder] {_tt(record.working_directory or '.')}")
    if code.commit:
        lines.append(
            f"  \\item[Code] {tex_text(code.vcs or '')} {_tt(code.commit)}"
            + (" with uncommitted changes" if code.dirty else "")
        )
    if record.imported_from is not None:
        imported = record.imported_from
        lines.append(
            f"  \\item[Imported] from {tex_text(imported.tool)} project {_tt(imported.project)}"
        )
    if record.parameters:
        shown = ", ".join(
            f"{k} = {canonical_json(v)}" for k, v in sorted(record.parameters.items())
        )
        lines.append(f"  \\item[Parameters] {_tt(shown)}")
    for title, files in (("Inputs", record.inputs), ("Outputs", record.outputs)):
        if files:
            lines.append(f"  \\item[{title}] \\leavevmode")
            lines.append("  \\begin{itemize}")
            for item in files:
                digest = f"sha256:{item.sha256}" if item.sha256 else f"sha1:{item.sha1 or '?'}"
                lines.append(f"    \\item {_tt(item.path)}\\\\ {_tt(digest)}")
            lines.append("  \\end{itemize}")
    lines.append("\\end{description}")
    return lines
