"""Generate what a manuscript needs from the record store: paperlink.sty, paperlink-data.tex and friends.

``paperlink-data.tex`` holds one ``\\paperlinkdeclare{LABEL}{\\plkey{KEY}{VALUE}…}`` per record output (and
per value a run produced), and one ``\\paperlinkfigure{REF}{LABEL}{INDEX}`` per figure reference the
manuscript makes, so the package finds a figure with one lookup; it is rendered with jinja2, and
``paperlink.sty`` does all the checking at compile time. Every string that travels into TeX is escaped here:
labels, paths and URLs as ``\\plU{N}`` where the package's data catcodes need it (:func:`tex_string`), free
text through pylatexenc. The resolver the package mirrors (:mod:`paperlink.latex.references`: ``LABEL``,
``LABEL:PATH``, ``LABEL?FRAGMENT``, ``digest=``) checks a manuscript before anyone compiles it.
"""

from __future__ import annotations

import json
import os
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from paperlink.core.config import Project, atomic_write_bytes, atomic_write_text
from paperlink.core.model import model
from paperlink.core.packagedata import latex_source, template_source
from paperlink.core.paper_values import record_values
from paperlink.core.publicurl import url_problem
from paperlink.core.records import STATUS_FINISHED, Record
from paperlink.core.store import RecordStore
from paperlink.errors import ConfigError, LatexError, UnresolvedReference, UsageError
from paperlink.latex.entries import FigureEntry, LatexData, ValueEntry
from paperlink.latex.escape import comment as _comment
from paperlink.latex.escape import pdf_text_string, tex_string, tex_text
from paperlink.latex.manuscript import Reference, Use, scan_manuscript
from paperlink.latex.references import check_digest, is_image, resolve_path, tex_path, unknown_label
from paperlink.version import __version__

DATA_FILE = "paperlink-data.tex"
STY_FILES = ("paperlink.sty", "sumatra.sty")
BIB_FILE = "paperlink.bib"
# Data version 2: paperlink.sty reads the data file with # $ % & ^ _ ~ and bytes 128-255 as plain characters.
DATA_VERSION = 2


@model
class Problem:
    """Something the manuscript uses that will not compile (or not match)."""

    use: Use
    message: str

    def __str__(self) -> str:
        return f"{self.use.file.name}:{self.use.line}: {self.message}"


@model
class LatexResult:
    """What ``paperlink latex`` wrote and found."""

    folder: Path
    written: list[Path]
    data: LatexData
    uses: list[Use]
    resolved: list[tuple[Use, FigureEntry | ValueEntry]]
    problems: list[Problem]
    # Figures whose record does not claim them alone (another run may have written them): they compile,
    # but ``paperlink verify`` reports them AMBIGUOUS.
    warnings: list[str] = field(default_factory=list)

    @property
    def unlinked(self) -> list[str]:
        """The records whose figures and values carry no link: no DOI, no archive page, no public URL."""
        labels = {e.label for e in self.data.figures if not e.url}
        labels |= {v.label for v in self.data.values if not v.url}
        return sorted(labels)

    def figures_used(self) -> list[dict[str, Any]]:
        """The figures and values the manuscript uses, for ``--json`` (publish and verify read this)."""
        rows = []
        for use, entry in self.resolved:
            row: dict[str, Any] = {
                "macro": use.macro,
                "reference": str(use.reference),
                "file": str(use.file),
                "line": use.line,
                "kind": "value" if isinstance(entry, ValueEntry) else use.kind,
            }
            row.update(entry.manifest())
            if isinstance(entry, FigureEntry):
                row["tex_path"] = entry.file
            rows.append(row)
        return rows


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        block_start_string="((*",
        block_end_string="*))",
        variable_start_string="(((",
        variable_end_string=")))",
        comment_start_string="((=",
        comment_end_string="=))",
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - TeX, not HTML: strings are escaped by the filters below
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["plstr"] = tex_string
    env.filters["pltext"] = tex_text
    env.filters["plcomment"] = _comment
    return env


def render_data_tex(data: LatexData, *, project: str, manuscript: str | None = None) -> str:
    """The text of ``paperlink-data.tex`` for ``data``."""
    template = _environment().from_string(template_source("paperlink-data.tex.j2"))
    # The package numbers a label's declarations 1, 2, ... in the order they are written (figures first).
    index: dict[tuple[str, str], int] = {}
    count: dict[str, int] = {}
    for entry in data.figures:
        count[entry.label] = count.get(entry.label, 0) + 1
        index[(entry.label, entry.path)] = count[entry.label]
    return template.render(
        version=__version__,
        data_version=DATA_VERSION,
        project=project,
        manuscript=manuscript,
        references=[
            {"reference": reference, "label": output[0], "index": index[output]}
            for reference, output in sorted(data.references.items())
            if output in index
        ],
        figures=[
            {
                **entry.__dict__,
                "manifest": _manifest_json(entry.manifest()),
                "tip": pdf_text_string(entry.tooltip()),
            }
            for entry in data.figures
        ],
        values=[
            {
                **value.__dict__,
                "manifest": _manifest_json(value.manifest()),
                "tip": pdf_text_string(value.tooltip()),
            }
            for value in data.values
        ],
    )


def _manifest_json(item: dict[str, str]) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=True, separators=(", ", ": "))


# -- collecting ------------------------------------------------------------------------------------------
def public_url(project: Project) -> str | None:
    """``[latex] public_url`` from the project settings (``base_url``, its older name, too): where the
    records are served publicly (``paperlink serve`` or a site), for figures that have no DOI yet.

    Raises :class:`ConfigError` when it is not public: a link into the author's machine or network would
    reach no reader.
    """
    table = project.settings.get("latex", {})
    if not isinstance(table, dict):
        return None
    key = "public_url" if table.get("public_url") else "base_url"
    url = table.get(key)
    if not url:
        return None
    problem = url_problem(str(url))
    if problem:
        raise ConfigError(
            f"{project.config_path}: [latex] {key} = {url!r} is no public address: {problem}",
            hint="give the public https:// address where the records are served, or remove the key "
            "(figures then link to their DOI: reserve one with 'paperlink publish --draft')",
        )
    return str(url).rstrip("/")


def record_url(record: Record, base: str | None, path: str | None = None) -> str:
    """The DOI URL once the record has one (reserved by ``publish --draft`` or minted), else its archive's
    page once published (a server without a DOI provider), else its page (or file) under the public
    ``base``, else "" (no link: a folder written by ``publish --to`` or the local viewer is no address a
    reader can open)."""
    publication = record.publication
    if publication is not None and publication.doi:
        return safe_uri(f"https://doi.org/{publication.doi}")
    if (
        publication is not None
        and publication.service != "directory"
        and publication.published
        and publication.url
    ):
        return safe_uri(publication.url)
    if not base:
        return ""
    url = f"{base}/records/{quote(record.label, safe='')}"
    return safe_uri(f"{url}/files/{quote(path, safe='/')}" if path else url)


def safe_uri(url: str) -> str:
    """``url`` as plain ASCII without parentheses or backslashes, so it goes into a PDF string as it is."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def image_digest(record: Record) -> str:
    container = record.container
    if container is None:
        return ""
    if container.repo_digests:
        return container.repo_digests[0]
    return container.pinned_reference or container.image_id or ""


def collect_data(
    project: Project,
    store: RecordStore,
    folder: Path,
    *,
    labels: list[str] | None = None,
    base: str | None = None,
) -> LatexData:
    """The entries for ``labels`` (every finished record when None), with paths relative to ``folder``.

    ``base`` is the public address of the records (default: ``[latex] public_url``); raises
    :class:`UsageError` when it is not public."""
    if base:
        problem = url_problem(base)
        if problem:
            raise UsageError(
                f"--public-url {base} is no public address: {problem}",
                hint="give the public https:// address where the records are served, or leave it out "
                "(figures then link to their DOI: reserve one with 'paperlink publish --draft')",
            )
        base = base.rstrip("/")
    else:
        base = public_url(project)
    data = LatexData()
    if labels is None:
        labels = [s.label for s in store.summaries() if s.status == STATUS_FINISHED]
        labels.sort()
    for label in labels:
        record = store.get(label)
        doi = record.publication.doi if record.publication and record.publication.doi else ""
        for output in sorted(record.outputs, key=lambda o: o.path):
            if output.kind != "file" or not (output.sha256 and output.md5 and output.sha1):
                continue
            data.figures.append(
                FigureEntry(
                    label=record.label,
                    path=output.path,
                    file=tex_path(project.root, folder, output.path),
                    # The same notion of "image output" as `paperlink verify` (references.py).
                    kind="image" if is_image(output.path) else "file",
                    sha256=output.sha256,
                    md5=output.md5,
                    sha1=output.sha1,
                    url=record_url(record, base, output.path),
                    doi=doi,
                    image=image_digest(record),
                    rerun=f"paperlink rerun {record.label}",
                    alias=_alias(record, output.path),
                )
            )
        for name, value in record_values(project, store, record).items():
            data.values.append(ValueEntry(record.label, name, value, record_url(record, base), doi))
    return data


def _alias(record: Record, path: str) -> str:
    """The output's path relative to an imported record's data store, when that differs from ``path``."""
    alias = record.datastore_path(path)
    return alias if alias is not None and alias != path else ""


# -- resolving, as paperlink.sty does ---------------------------------------------------------------------
def resolve_figure(reference: Reference, data: LatexData) -> FigureEntry:
    """The output ``reference`` names among the data file's; raises :class:`UnresolvedReference` with the
    message the package would stop with (references.py holds the rules)."""
    if not _declares(data, reference.label):
        raise unknown_label(reference)
    outputs = {e.path: e for e in data.figures if e.label == reference.label}
    aliases = {p: e.alias for p, e in outputs.items() if e.alias}
    return outputs[
        resolve_path(reference, outputs, {p: e.file for p, e in outputs.items()}, aliases)
    ]


def resolve_value(reference: Reference, data: LatexData) -> ValueEntry:
    if reference.path is None:
        raise LatexError(f"value '{reference}' must be written LABEL:NAME")
    for value in data.values:
        if value.label == reference.label and value.name == reference.path:
            return value
    names = ", ".join(v.name for v in data.values if v.label == reference.label) or "none"
    raise LatexError(
        f"record '{reference.label}' has no value named '{reference.path}' (values: {names})",
        hint="record values with 'paperlink value NAME VALUE' inside the run",
    )


def check_uses(
    uses: list[Use], data: LatexData
) -> tuple[list[tuple[Use, FigureEntry | ValueEntry]], list[Problem]]:
    """Resolve every use; digests given with ``digest=`` must match the record."""
    resolved: list[tuple[Use, FigureEntry | ValueEntry]] = []
    problems: list[Problem] = []
    for use in uses:
        try:
            entry: FigureEntry | ValueEntry
            if use.kind == "value":
                entry = resolve_value(use.reference, data)
            else:
                entry = resolve_figure(use.reference, data)
                if use.digest is not None:
                    check_digest(use.reference, use.digest, entry.label, entry)
        except (LatexError, UnresolvedReference) as exc:
            problems.append(Problem(use, exc.message))
            continue
        resolved.append((use, entry))
    return resolved, problems


# -- writing ---------------------------------------------------------------------------------------------
def write_latex(
    project: Project,
    store: RecordStore,
    *,
    tex: Path | None = None,
    out: Path | None = None,
    base: str | None = None,
) -> LatexResult:
    """Write paperlink.sty, sumatra.sty, paperlink-data.tex and paperlink.bib next to the manuscript.

    With ``tex`` only the records the manuscript uses are declared and every use is checked (problems are
    returned, not raised: the caller decides); ``out`` overrides the folder (default: the manuscript's
    folder, else the current one). Raises :class:`LatexError` for an unreadable manuscript.
    """
    from paperlink.latex.bibtex import render_bibliography

    folder = (out or (tex.parent if tex is not None else Path.cwd())).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    uses: list[Use] = scan_manuscript(tex) if tex is not None else []
    labels = None
    if tex is not None:
        labels = sorted({u.reference.label for u in uses if store.exists(u.reference.label)})
    data = collect_data(project, store, folder, labels=labels, base=base)
    resolved, problems = check_uses(uses, data) if tex is not None else ([], [])
    data.references = {
        str(use.reference): (entry.label, entry.path)
        for use, entry in resolved
        if isinstance(entry, FigureEntry)
    }
    for problem in problems:
        label = problem.use.reference.label
        if labels and label in labels and not _declares(data, label):
            record = store.get(label)
            problem.message = (
                f"record '{label}' ({record.outcome.status}) has no outputs or values to use"
            )
    records = [store.get(label) for label in sorted({e.label for e in data.figures})]
    warnings = ambiguity_warnings(records, resolved if tex is not None else None, data)
    written = []
    for name in STY_FILES:
        atomic_write_bytes(folder / name, latex_source(name))
        written.append(folder / name)
    manuscript = Path(os.path.relpath(tex.resolve(), folder)).as_posix() if tex else None
    atomic_write_text(
        folder / DATA_FILE, render_data_tex(data, project=project.name, manuscript=manuscript)
    )
    written.append(folder / DATA_FILE)
    atomic_write_text(folder / BIB_FILE, render_bibliography(project, records))
    written.append(folder / BIB_FILE)
    return LatexResult(folder, written, data, uses, resolved, problems, warnings)


def ambiguity_warnings(
    records: list[Record],
    resolved: list[tuple[Use, FigureEntry | ValueEntry]] | None,
    data: LatexData,
) -> list[str]:
    """A warning for each figure the manuscript uses (every declared output, without one) whose record
    marks it ambiguous."""
    by_label = {record.label: record for record in records}
    if resolved is not None:
        used = [(f"{u.file.name}:{u.line}: ", e) for u, e in resolved if isinstance(e, FigureEntry)]
    else:
        used = [("", e) for e in data.figures]
    warnings = []
    for where, entry in used:
        record = by_label.get(entry.label)
        shared = record.ambiguity(entry.path) if record is not None else None
        if shared is not None:
            warnings.append(
                f"{where}{entry.path} of record '{entry.label}' is ambiguous: run(s) "
                f"{', '.join(shared.runs)} ran at the same time and may have written it; re-run it "
                "alone or with 'paperlink run --trace -- COMMAND'"
            )
    return warnings


def _declares(data: LatexData, label: str) -> bool:
    return any(e.label == label for e in data.figures) or any(v.label == label for v in data.values)
