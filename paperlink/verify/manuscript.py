"""Prove that every figure and value a paper uses matches its record: on disk, in the .tex, in the PDF, in
the archive and, on request, in a re-execution.

:func:`verify_manuscript` scans the manuscript, resolves each reference to its record's output and runs the
checks asked for; each check gives OK, MISMATCH, MISSING, AMBIGUOUS (another run of the project may have
written the file), NOT ARCHIVED, DRIFT (this machine's environment is not the one the record ran in), FAILED
(a re-execution that did not end as the original did) or ERROR with a reason that says what to do. Files are hashed through the digest cache, so a warm verify re-reads nothing that is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, field
from pathlib import Path
from typing import Any

from paperlink.core.config import Project
from paperlink.core.files import FileDigest
from paperlink.core.filestate import DigestCache
from paperlink.core.hashing import Digests
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import (
    CaptureError,
    ExitCode,
    LatexError,
    PaperlinkError,
    RecordNotFound,
    UnresolvedReference,
)
from paperlink.latex.manuscript import Use, scan_manuscript
from paperlink.latex.references import check_digest, resolve_output, unknown_label

OK = "OK"
MISMATCH = "MISMATCH"
MISSING = "MISSING"
NOT_ARCHIVED = "NOT ARCHIVED"
FAILED = "FAILED"  # a re-execution exited non-zero or was killed: the record does not reproduce
ERROR = "ERROR"
# The record does not claim the figure alone: another run of the project ran at the same time and may
# have written it (paperlink.recorder.overlap). Not proven, so not OK: verification fails (exit 3) until it is re-run.
AMBIGUOUS = "AMBIGUOUS"
# The figure matches, but the environment here differs from the one its record ran in (verify
# --environment): making it again here may give other bytes. Not OK: verification fails (exit 3).
DRIFT = "DRIFT"
# Worst first: an item's status is the worst of its checks.
_SEVERITY = {
    ERROR: 7,
    FAILED: 6,
    MISMATCH: 5,
    MISSING: 4,
    AMBIGUOUS: 3,
    NOT_ARCHIVED: 2,
    DRIFT: 1,
    OK: 0,
}


@model
class Check:
    # disk | tex-digest | pdf | archive | download | image | rerun | value | attribution | environment
    # | archive-environment | environment-drift
    name: str
    status: str
    reason: str = ""
    details: dict[str, Any] | None = None  # what a machine reads (environment-drift: the changes)

    def to_dict(self) -> dict[str, Any]:
        found = {"name": self.name, "status": self.status, "reason": self.reason}
        return found if self.details is None else found | {"details": self.details}


@model
class Item:
    """One figure or value the paper uses, and what each check found."""

    reference: str
    kind: str
    where: str
    label: str | None = None
    path: str | None = None
    sha256: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.checks:
            return OK
        return max((c.status for c in self.checks), key=lambda s: _SEVERITY[s])

    @property
    def reason(self) -> str:
        bad = [c for c in self.checks if c.status != OK]
        if bad:
            return "; ".join(f"{c.name}: {c.reason}" for c in bad)
        return "matches " + ", ".join(
            c.name + (f" ({c.reason})" if c.reason else "") for c in self.checks
        )


@model
class Report:
    source: str
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not checked, and why
    # What a reader would miss but the figures do not depend on (no public provenance links).
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        statuses = {item.status for item in self.items}
        if ERROR in statuses:
            return ExitCode.ERROR
        if statuses - {OK}:
            return ExitCode.MISMATCH
        return ExitCode.OK

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "exit_code": int(self.exit_code),
            "items": [
                asdict(item)
                | {
                    "checks": [check.to_dict() for check in item.checks],
                    "status": item.status,
                    "reason": item.reason,
                }
                for item in self.items
            ],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


ExtraCheck = Callable[[Item, Record, FileDigest], Check | None]
# A check of a named value: the item, its record, the value's name and the value the record made.
ValueCheck = Callable[[Item, Record, str, str], Check | None]


class Verifier:
    """Runs the checks for one project; extra checks (PDF, archive, image, rerun) plug in as callables,
    for figures (``extra_checks``) and for values (``value_checks``)."""

    def __init__(
        self,
        project: Project,
        store: RecordStore,
        *,
        cache: DigestCache | None = None,
        extra_checks: list[ExtraCheck] | None = None,
        value_checks: list[ValueCheck] | None = None,
    ) -> None:
        self.project = project
        self.store = store
        self.cache = cache or DigestCache(store, root=project.root)
        self.extra_checks = list(extra_checks or [])
        self.value_checks = list(value_checks or [])
        self._records: dict[str, Record | PaperlinkError] = {}

    def record(self, label: str) -> Record:
        found = self._records.get(label)
        if found is None:
            try:
                found = self.store.get(label)
            except RecordNotFound as exc:
                found = exc
            self._records[label] = found
        if isinstance(found, PaperlinkError):
            raise found
        return found

    def verify_uses(self, source: str, uses: list[Use], folder: Path | None = None) -> Report:
        """Check the figures and values a manuscript's macros name (``folder``: the main manuscript's,
        where ``LABEL:PATH`` may also start from)."""
        report = Report(source=source)
        figures: list[tuple[Item, Record, FileDigest, list[Check]]] = []
        for use in uses:
            where = f"{self.project.relative(use.file)}:{use.line}"
            if use.kind == "value":
                report.items.append(self._value(str(use.reference), where, use.reference.label,
                                                use.reference.path or "", None))  # fmt: skip
                continue
            if use.kind != "figure":
                continue
            item = Item(str(use.reference), "figure", where, label=use.reference.label)
            report.items.append(item)
            try:
                try:
                    record = self.record(use.reference.label)
                except RecordNotFound as exc:
                    raise unknown_label(use.reference, exc.hint) from exc
                output = resolve_output(
                    record, use.reference, root=self.project.root, folder=folder
                )
            except PaperlinkError as exc:
                item.checks.append(Check("record", MISSING, _one_line(exc)))
                continue
            first = [_tex_digest(use, record, output)] if use.digest is not None else []
            figures.append((item, record, output, first))
        self._check_figures(figures)
        return report

    def verify_manifest(self, source: str, manifest: dict[str, Any]) -> Report:
        """Check the figures and values a PDF's manifest lists: each against its record (a PDF built from
        an older run is caught) and then like a manuscript's."""
        report = Report(source=source)
        figures: list[tuple[Item, Record, FileDigest, list[Check]]] = []
        for entry in manifest.get("figures") or []:
            label, path = str(entry.get("label", "")), str(entry.get("path", ""))
            item = Item(f"{label}:{path}", "figure", source, label=label, path=path)
            report.items.append(item)
            try:
                record = self.record(label)
            except PaperlinkError as exc:
                item.checks.append(Check("record", MISSING, _one_line(exc)))
                continue
            output = record.output(path)
            if output is None or not output.sha256:
                item.checks.append(
                    Check("record", MISSING, f"record '{label}' has no output {path}")
                )
                continue
            if entry.get("sha256") == output.sha256:
                pdf = Check("pdf", OK)
            else:
                pdf = Check(
                    "pdf",
                    MISMATCH,
                    f"the PDF shows {path} as sha256:{str(entry.get('sha256'))[:12]}… but record "
                    f"'{label}' made sha256:{output.sha256[:12]}…; the PDF is stale: compile it again",
                )
            figures.append((item, record, output, [pdf]))
        for entry in manifest.get("values") or []:
            label, name = str(entry.get("label", "")), str(entry.get("name", ""))
            report.items.append(
                self._value(f"{label}:{name}", source, label, name, entry.get("value"))
            )
        self._check_figures(figures)
        return report

    def _check_figures(self, figures: list[tuple[Item, Record, FileDigest, list[Check]]]) -> None:
        root = self.project.root
        # All files in one call: the cache answers what it knows and hashes the rest in parallel.
        on_disk = self.cache.digests(
            [root / o.fs_path for _, _, o, _ in figures if (root / o.fs_path).exists()]
        )
        for item, record, output, first in figures:
            item.path, item.sha256 = output.path, output.sha256
            item.checks.extend(first)
            disk = self._disk(output, on_disk.get(root / output.fs_path))
            found = on_disk.get(root / output.fs_path)
            if disk.status == MISMATCH and isinstance(found, Digests):
                newer = self.store.label_of_output(output.path, found.sha256)
                if newer and newer != record.label:
                    disk.reason = (
                        f"{output.path} now comes from record '{newer}', not '{record.label}'; "
                        f"refer to '{newer}' in the paper, run 'paperlink latex' and compile it again"
                    )
            item.checks.append(disk)
            shared = record.ambiguity(output.path)
            if shared is not None:
                item.checks.append(
                    Check(
                        "attribution",
                        AMBIGUOUS,
                        f"record '{record.label}' does not claim {output.path} alone: run(s) "
                        f"{', '.join(shared.runs)} of the project ran at the same time and may have "
                        "written it; re-run it alone or with 'paperlink run --trace -- COMMAND', then run "
                        "'paperlink latex'",
                    )
                )
            for extra in self.extra_checks:
                check = extra(item, record, output)
                if check is not None:
                    item.checks.append(check)
        self.cache.flush()

    def _value(self, reference: str, where: str, label: str, name: str, shown: Any) -> Item:
        """A ``\\plvalue``: the record must have produced it (and the PDF must show today's value)."""
        from paperlink.core.paper_values import record_values

        item = Item(reference, "value", where, label=label, path=name)
        try:
            record = self.record(label)
            values = record_values(self.project, self.store, record)
        except PaperlinkError as exc:
            item.checks.append(Check("record", MISSING, _one_line(exc)))
            return item
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            item.checks.append(
                Check("value", MISSING, f"record '{label}' has no value '{name}' (values: {known})")
            )
        elif shown is not None and str(shown) != values[name]:
            item.checks.append(
                Check(
                    "pdf",
                    MISMATCH,
                    f"the PDF shows {name} = {shown} but record '{label}' made {values[name]}; "
                    "the PDF is stale: compile it again",
                )
            )
        else:
            item.checks.append(Check("value", OK, f"{name} = {values[name]}"))
        if name in values:
            for extra in self.value_checks:
                check = extra(item, record, name, values[name])
                if check is not None:
                    item.checks.append(check)
        return item

    def _disk(self, output: FileDigest, found: Digests | CaptureError | None) -> Check:
        if found is None:
            return Check(
                "disk", MISSING, f"{output.path} is not there; restore it or re-run the record"
            )
        if isinstance(found, CaptureError):
            return Check("disk", ERROR, found.message)
        return compare_digests("disk", output.path, found, output)


def compare_digests(name: str, what: str, found: Digests, expected: FileDigest) -> Check:
    if found.sha256 == expected.sha256:
        return Check(name, OK)
    return Check(
        name,
        MISMATCH,
        f"{what} is sha256:{found.sha256[:12]}… but the record says sha256:{(expected.sha256 or '')[:12]}…; "
        "re-run the producing command or restore the file",
    )


def _tex_digest(use: Use, record: Record, output: FileDigest) -> Check:
    """The ``digest=`` the manuscript pins, against the record (the rule of references.py)."""
    try:
        check_digest(use.reference, use.digest or "", record.label, output)
    except UnresolvedReference as exc:
        return Check("tex-digest", MISMATCH, _one_line(exc))
    return Check("tex-digest", OK)


def _one_line(exc: PaperlinkError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def verify_manuscript(
    project: Project,
    store: RecordStore,
    source: str | os.PathLike[str],
    *,
    extra_checks: list[ExtraCheck] | None = None,
    value_checks: list[ValueCheck] | None = None,
    rehash: bool = False,
) -> Report:
    """Check every figure and value ``source`` uses: a .tex manuscript (and the files it inputs) or a PDF
    compiled with paperlink.sty (its embedded manifest); ``rehash`` reads every file again instead of
    trusting the digest cache. Raises :class:`LatexError` for a PDF without a manifest."""
    path = Path(source)
    cache = DigestCache(store, root=project.root, rehash=rehash)
    verifier = Verifier(
        project, store, cache=cache, extra_checks=extra_checks, value_checks=value_checks
    )
    if path.suffix.lower() == ".pdf":
        from paperlink.latex.pdf_manifest import read_pdf_manifest

        if not path.is_file():
            raise LatexError(f"{path} not found", hint="give the path of the compiled paper")
        manifest = read_pdf_manifest(path)
        report = verifier.verify_manifest(project.relative(path), manifest)
        report.warnings += link_warnings(project.relative(path), manifest)
        return report
    return verifier.verify_uses(
        project.relative(path), scan_manuscript(path), folder=path.resolve().parent
    )


def link_warnings(source: str, manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the provenance links of a PDF (its manifest lists the URL of each figure and
    value link): none at all, or links a reader cannot open (the author's machine, network or disk)."""
    from paperlink.core.publicurl import url_problem

    entries = [*(manifest.get("figures") or []), *(manifest.get("values") or [])]
    if not entries:
        return []
    urls = [str(e.get("record_url") or "") for e in entries]
    local = sorted({u for u in urls if u and url_problem(u)})
    if all(not u or url_problem(u) for u in urls):
        what = f" (it links to {local[0]}: {url_problem(local[0])})" if local else ""
        return [
            f"{source} has no public provenance links{what}: a reader cannot follow a figure to its "
            "record; reserve a DOI with 'paperlink publish --draft' (or set [latex] public_url), run "
            "'paperlink latex' and compile the paper again"
        ]
    if local:
        return [
            f"{source} links {len(local)} figure(s) or value(s) to addresses a reader cannot open, such "
            f"as {local[0]} ({url_problem(local[0])}); run 'paperlink latex' and compile the paper again"
        ]
    return []
