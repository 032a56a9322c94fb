"""Text as TeX reads it: strings in the data file (read with paperlink.sty's data catcodes), free text to
typeset, PDF text strings for the figure links, and one-line comments."""

from __future__ import annotations

import re
import unicodedata

from pylatexenc.latexencode import unicode_to_latex

_ESCAPED = frozenset("\\{}")


def tex_string(text: str) -> str:
    """``text`` for a string in the data file, read with paperlink.sty's data catcodes.

    Backslashes, braces, control and non-ASCII space characters become ``\\plU{N}``, and so does every space
    TeX would drop or merge (leading, trailing, or after another space); everything else stays as it is.
    """
    out = []
    last = len(text) - 1
    for index, ch in enumerate(text):
        if ch == " ":
            literal = 0 < index < last and text[index - 1] != " "
        else:
            literal = ch not in _ESCAPED and not _invisible(ch)
        out.append(ch if literal else f"\\plU{{{ord(ch)}}}")
    return "".join(out)


def _invisible(ch: str) -> bool:
    """Control, format and separator characters (other than a plain space): TeX would mangle or drop them."""
    return unicodedata.category(ch)[0] in "CZ"


def tex_text(text: str) -> str:
    """Free text to typeset (a value, a title), escaped by pylatexenc so that it is balanced TeX."""
    return str(unicode_to_latex(text, non_ascii_only=False, unknown_char_warning=False))


def pdf_text_string(text: str) -> str:
    """``text`` as a PDF text string object: ``(…)`` when it is printable ASCII, else UTF-16 hex ``<FEFF…>``.

    The literal form is a quarter of the hex one, and TeX's time per figure grows with the length.
    """
    if all(" " <= ch <= "~" for ch in text):
        return "(" + re.sub(r"([\\()])", r"\\\1", text) + ")"
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def comment(text: str) -> str:
    return " ".join(str(text).split()).encode("ascii", "backslashreplace").decode("ascii")
