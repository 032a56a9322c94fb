"""The paper in a published archive (``publish --pdf``): its embedded manifest against the archive's run
records, so ``verify --doi`` vouches for the PDF a reader downloads and not only for the outputs.

Each figure the manifest lists must be the sha256 its record made; each value must be what the record's
values file (an archived output) holds. A PDF without a manifest is reported, not passed over.
"""

from __future__ import annotations

import json
from typing import Any

from paperlink.core.hashing import digest_file
from paperlink.core.records import Record
from paperlink.errors import LatexError, PaperlinkError
from paperlink.publish.archive_files import PublishedArchive
from paperlink.verify.manuscript import MISMATCH, MISSING, OK, Check, Item, Report


def check_papers(archive: PublishedArchive, records: list[Record], report: Report) -> None:
    """Add an item per figure and value of each archived paper's manifest to ``report`` (or a note
    that the archive holds no paper)."""
    from paperlink.latex.pdf_manifest import read_pdf_manifest

    names = archive.paper_names(records)
    if not names:
        report.notes.append(
            "no paper PDF in the archive ('paperlink publish --pdf FILE'): only the outputs were checked"
        )
    by_label = {r.label: r for r in records}
    for name in names:
        try:
            manifest: Any = read_pdf_manifest(archive.fetch(name))
        # pypdf on a file from the network: a malformed PDF may fail in more ways than it declares.
        except (LatexError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
            reason = exc.message if isinstance(exc, LatexError) else f"{type(exc).__name__}: {exc}"
            item = Item(reference=name, kind="paper", where=name)
            item.checks.append(
                Check("pdf", MISSING, f"{reason}; the paper's figures were not checked")
            )
            report.items.append(item)
            continue
        if not isinstance(manifest, dict):
            manifest = {}
        for entry in _entries(manifest, "figures"):
            label, path = str(entry.get("label", "")), str(entry.get("path", ""))
            item = Item(f"{label}:{path}", "figure", name, label=label, path=path)
            item.checks.append(_figure(by_label.get(label), label, path, entry.get("sha256")))
            report.items.append(item)
        values: dict[str, dict[str, str] | PaperlinkError] = {}
        for entry in _entries(manifest, "values"):
            label, key = str(entry.get("label", "")), str(entry.get("name", ""))
            item = Item(f"{label}:{key}", "value", name, label=label, path=key)
            record = by_label.get(label)
            if record is None:
                item.checks.append(_not_here(label))
            else:
                if label not in values:
                    try:
                        values[label] = archived_values(archive, record)
                    except PaperlinkError as exc:
                        values[label] = exc
                item.checks.append(_value(values[label], label, key, entry.get("value")))
            report.items.append(item)


def _entries(manifest: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = manifest.get(key)
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _not_here(label: str) -> Check:
    return Check(
        "pdf", MISSING, f"the paper uses record '{label}', which the archive does not hold"
    )


def _figure(record: Record | None, label: str, path: str, shown: Any) -> Check:
    if record is None:
        return _not_here(label)
    output = record.output(path)
    if output is None or not output.sha256:
        return Check("pdf", MISSING, f"the paper shows {path}, which record '{label}' did not make")
    if shown == output.sha256:
        return Check("pdf", OK, "the archived paper shows the recorded file")
    return Check(
        "pdf",
        MISMATCH,
        f"the archived paper shows {path} as sha256:{str(shown)[:12]}… but record '{label}' made "
        f"sha256:{output.sha256[:12]}…; the PDF was compiled from other figures",
    )


def _value(found: dict[str, str] | PaperlinkError, label: str, key: str, shown: Any) -> Check:
    if isinstance(found, PaperlinkError):
        return Check("pdf", MISSING, found.message)
    if key not in found:
        return Check("pdf", MISSING, f"record '{label}' made no value '{key}'")
    if str(shown) != found[key]:
        return Check(
            "pdf",
            MISMATCH,
            f"the archived paper shows {key} = {shown} but record '{label}' made {found[key]}",
        )
    return Check("pdf", OK, f"{key} = {found[key]}")


def archived_values(archive: PublishedArchive, record: Record) -> dict[str, str]:
    """The values ``record`` made, read from its archived values files (each checked against the
    record's sha256). Raises :class:`LatexError` when one is missing, changed or not JSON."""
    from paperlink.core.paper_values import _flatten, is_values_file

    values: dict[str, str] = {}
    for output in sorted(record.outputs, key=lambda o: o.path):
        if not is_values_file(output.path) or not output.sha256:
            continue
        name = archive.output_name(record.label, output.path)
        if name not in archive.files:
            raise LatexError(f"record '{record.label}': {output.path} is not in the archive")
        path = archive.fetch(name)
        if digest_file(path).sha256 != output.sha256:
            raise LatexError(
                f"record '{record.label}': the archive's {name} is not the recorded file"
            )
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise LatexError(f"record '{record.label}': {name} is not JSON: {exc}") from exc
        if isinstance(loaded, dict):
            _flatten(loaded, "", values)
    return values
