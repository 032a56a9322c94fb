"""The figures a manuscript uses, each with the record that made it and its state now.

The manuscript is scanned with :func:`paperlink.latex.manuscript.scan_manuscript` and each reference resolved
with :mod:`paperlink.latex.references`, as ``paperlink verify`` does, so the viewer and ``verify`` agree on which
file a figure is; the state (OK / changed since the run / not archived) comes from re-hashing the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import RecordNotFound, UnresolvedReference
from paperlink.latex.manuscript import Use, scan_manuscript
from paperlink.latex.references import DIGEST_MISMATCH, check_digest, resolve_output, unknown_label
from paperlink.web.outputs import STATE_MISSING, OutputView, output_views


@model
class FigureView:
    """One output a manuscript uses, with every place it is used."""

    label: str
    path: str
    uses: list[Use]
    record: Record | None = None
    output: OutputView | None = None
    problem: str | None = None

    @property
    def verdict(self) -> str:
        if self.output is None:
            return STATE_MISSING
        return self.output.verdict

    @property
    def digest_problems(self) -> list[str]:
        """Places where the manuscript pins a ``digest=`` other than the record's (the rule of
        references.py, as ``verify`` and paperlink.sty apply it)."""
        if self.output is None:
            return []
        problems = []
        for use in self.uses:
            pinned = use.digest
            if pinned is None:
                continue
            try:
                check_digest(use.reference, pinned, self.label, self.output.item)
            except UnresolvedReference as exc:
                if exc.code == DIGEST_MISMATCH:
                    problems.append(
                        f"{use.file.name}:{use.line} pins {pinned}, not the record's digest"
                    )
                else:
                    problems.append(f"{use.file.name}:{use.line}: {exc.message}")
        return problems


def manuscript_figures(store: RecordStore, root: Path, tex: Path) -> list[FigureView]:
    """The figures ``tex`` uses, one per output, in the order the manuscript first uses them.

    Raises :class:`LatexError` when the manuscript cannot be read.
    """
    figures: dict[tuple[str, str], FigureView] = {}
    records: dict[str, Record | None] = {}
    for use in scan_manuscript(tex):
        if use.kind != "figure":
            continue
        label = use.reference.label
        if label not in records:
            records[label] = store.get(label) if store.exists(label) else None
        record = records[label]
        if record is None:
            key = (label, str(use.reference))
            figures.setdefault(
                key,
                FigureView(
                    label, str(use.reference), [], problem=_one_line(unknown_label(use.reference))
                ),
            ).uses.append(use)
            continue
        try:
            found = resolve_output(record, use.reference, root=root, folder=tex.resolve().parent)
        except UnresolvedReference as exc:
            key = (label, str(use.reference))
            problem = _one_line(exc)
            figures.setdefault(
                key, FigureView(label, str(use.reference), [], record, problem=problem)
            ).uses.append(use)
            continue
        key = (label, found.path)
        figures.setdefault(key, FigureView(label, found.path, [], record)).uses.append(use)
    for figure in figures.values():
        if figure.record is not None and figure.problem is None:
            views = output_views(root, store, figure.record)
            figure.output = next(v for v in views if v.item.path == figure.path)
    return list(figures.values())


def _one_line(exc: UnresolvedReference) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def figures_page(figures: list[FigureView] | None, tex: Path | None) -> tuple[str, dict[str, Any]]:
    return "figures.html.j2", {"title": "Figures", "figures": figures, "tex": tex}


def figure_page(
    figures: list[FigureView], tex: Path | None, root: Path, label: str, path: str
) -> tuple[str, dict[str, Any]]:
    """Raises :class:`RecordNotFound` when the manuscript uses no such figure."""
    for figure in figures:
        if figure.label == label and figure.path == path and figure.output is not None:
            return "figure.html.j2", {
                "title": f"Figure {path}",
                "figure": figure,
                "tex_root": tex.resolve().parent if tex else root,
                "relative": _relative_to,
            }
    raise RecordNotFound(f"the manuscript uses no figure '{path}' of record '{label}'")


def _relative_to(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def load_figures(store: RecordStore, root: Path, tex: Path | None) -> list[FigureView] | None:
    """The manuscript's figures, or ``None`` without a manuscript; raises :class:`LatexError`."""
    return None if tex is None else manuscript_figures(store, root, tex)
