"""The manifest paperlink.sty embeds in a compiled PDF, read back (the only user of pypdf)."""

from __future__ import annotations

import json
import os
from typing import Any

from paperlink.errors import LatexError

MANIFEST_NAME = "paperlink-manifest.json"


def read_pdf_manifest(pdf: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest paperlink.sty attached to ``pdf`` (``paperlink-manifest.json``), parsed.

    Raises :class:`LatexError` when the file is not a readable PDF or carries no manifest.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        attachments = PdfReader(os.fspath(pdf)).attachments
    except (OSError, PyPdfError, ValueError) as exc:
        raise LatexError(f"cannot read {pdf} as a PDF: {exc}") from exc
    try:
        contents = attachments.get(MANIFEST_NAME)
    except (PyPdfError, ValueError, AttributeError, TypeError, KeyError) as exc:
        # pypdf follows the attachment's objects as they are: a null or malformed stream (an engine that
        # lost the file, a damaged PDF) surfaces as one of these.
        raise LatexError(
            f"{pdf}: the attached {MANIFEST_NAME} is damaged ({type(exc).__name__}: {exc})",
            hint="compile the manuscript again; with XeLaTeX, update paperlink.sty ('paperlink latex')",
        ) from exc
    if not contents:
        raise LatexError(
            f"{pdf} carries no {MANIFEST_NAME}",
            hint="compile the manuscript with paperlink.sty (package option manifest=true, the default)",
        )
    try:
        manifest: dict[str, Any] = json.loads(contents[0].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LatexError(f"{pdf}: {MANIFEST_NAME} is not valid JSON: {exc}") from exc
    return manifest
