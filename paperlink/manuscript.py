"""Find what a LaTeX manuscript uses from paperlink: each figure and value macro, where it stands.

The scanner reads the .tex source (following ``\\input``, ``\\include``, ``\\subfile`` and ``\\import``),
skips comments and reports every ``\\plincludegraphics``, ``\\smtincludegraphics``, ``\\plvalue``,
``\\pldigest``, ``\\plrecordurl``, ``\\plenvironment`` and ``\\plrerun`` with its file and line. A reference
is Sumatra's: ``LABEL`` (the record's only image output), ``LABEL:PATH`` (an exact path) or
``LABEL?FRAGMENT`` (the output whose path contains the fragment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from paperlink.errors import LatexError

FIGURE_MACROS = ("plincludegraphics", "smtincludegraphics")
VALUE_MACROS = ("plvalue",)
OTHER_MACROS = ("pldigest", "plrecordurl", "plenvironment", "plrerun")
_ALL = FIGURE_MACROS + VALUE_MACROS + OTHER_MACROS

_MACRO = re.compile(r"\\(" + "|".join(_ALL) + r")\*?\s*(?:\[([^\]]*)\])?\s*\{([^{}]*)\}")
_INPUT = re.compile(
    r"\\(input|include|subfile|import|subimport)\s*(?:\{([^{}]*)\})?\s*\{([^{}]*)\}"
)


@dataclass(frozen=True)
class Reference:
    """``LABEL``, ``LABEL:PATH`` or ``LABEL?FRAGMENT``, parsed."""

    label: str
    path: str | None = None
    fragment: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        text = text.strip()
        if ":" in text:
            label, _, path = text.partition(":")
            return cls(label.strip(), path=path.strip())
        if "?" in text:
            label, _, fragment = text.partition("?")
            return cls(label.strip(), fragment=fragment.strip())
        return cls(text)

    def __str__(self) -> str:
        if self.path is not None:
            return f"{self.label}:{self.path}"
        if self.fragment is not None:
            return f"{self.label}?{self.fragment}"
        return self.label


@dataclass(frozen=True)
class Use:
    """One macro in the manuscript: which, its reference and options, and where it stands."""

    macro: str
    reference: Reference
    options: dict[str, str] = field(default_factory=dict)
    file: Path = Path()
    line: int = 0

    @property
    def kind(self) -> str:
        if self.macro in FIGURE_MACROS:
            return "figure"
        return "value" if self.macro in VALUE_MACROS else "other"

    @property
    def digest(self) -> str | None:
        """The ``digest=`` option, if the author wrote one."""
        return self.options.get("digest")


def strip_comments(text: str) -> str:
    """Drop ``%`` comments (not ``\\%``), keeping line breaks so line numbers stay right."""
    out = []
    for line in text.split("\n"):
        match = re.search(r"(?<!\\)(?:\\\\)*%", line)
        out.append(line[: match.start() + len(match.group(0)) - 1] if match else line)
    return "\n".join(out)


def parse_options(text: str | None) -> dict[str, str]:
    """``width=.5\\linewidth, digest=ab12`` → ``{"width": ".5\\linewidth", "digest": "ab12"}``."""
    options: dict[str, str] = {}
    if not text:
        return options
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if key.strip():
            options[key.strip()] = value.strip() if eq else ""
    return options


def scan_manuscript(tex: str | Path) -> list[Use]:
    """Every paperlink macro in ``tex`` and the files it inputs, in reading order.

    Raises :class:`LatexError` when the manuscript (or a file it inputs) cannot be read.
    """
    main = Path(tex)
    if not main.is_file():
        raise LatexError(
            f"manuscript {main} not found", hint="give the path of your main .tex file"
        )
    uses: list[Use] = []
    _scan(main.resolve(), main.resolve().parent, uses, seen=set())
    return uses


def _scan(path: Path, base: Path, uses: list[Use], seen: set[Path]) -> None:
    if path in seen:
        return
    seen.add(path)
    try:
        text = strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise LatexError(f"cannot read {path}: {exc.strerror}") from exc
    events: list[tuple[int, re.Match[str], str]] = [
        (m.start(), m, "macro") for m in _MACRO.finditer(text)
    ]
    events += [(m.start(), m, "input") for m in _INPUT.finditer(text)]
    for start, match, what in sorted(events, key=lambda e: e[0]):
        line = text.count("\n", 0, start) + 1
        if what == "macro":
            uses.append(
                Use(
                    macro=match.group(1),
                    reference=Reference.parse(match.group(3)),
                    options=parse_options(match.group(2)),
                    file=path,
                    line=line,
                )
            )
            continue
        command, folder, name = match.group(1), match.group(2), match.group(3).strip()
        if command in ("import", "subimport") and folder:
            name = str(Path(folder.strip()) / name)
        target = _resolve_input(base, path.parent, name)
        if target is not None:
            _scan(target, base, uses, seen)


def _resolve_input(base: Path, here: Path, name: str) -> Path | None:
    """TeX looks for inputs from the main file's folder; ``\\subfile``/``\\import`` from the current one."""
    for folder in (base, here):
        for candidate in (folder / name, folder / f"{name}.tex"):
            if candidate.is_file():
                return candidate.resolve()
    return None
