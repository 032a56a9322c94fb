"""Find what a LaTeX manuscript uses from paperlink: each figure and value macro, where it stands.

The scanner reads the .tex source (following ``\\input``, ``\\include``, ``\\subfile`` and ``\\import``),
skips comments and reports every ``\\plincludegraphics``, ``\\smtincludegraphics``, ``\\plvalue``,
``\\pldigest``, ``\\plrecordurl``, ``\\plenvironment`` and ``\\plrerun`` with its file and line. A reference
is Sumatra's: ``LABEL`` (the record's only image output), ``LABEL:PATH`` (an exact path) or
``LABEL?FRAGMENT`` (the output whose path contains the fragment).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import field
from pathlib import Path
from typing import Any

from paperlink.core.model import model
from paperlink.errors import LatexError

FIGURE_MACROS = ("plincludegraphics", "smtincludegraphics")
VALUE_MACROS = ("plvalue",)
OTHER_MACROS = ("pldigest", "plrecordurl", "plenvironment", "plrerun")


@model(frozen=True)
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


@model(frozen=True)
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
    """``width=.5\\linewidth, trim={1 2 3 4}, digest=ab12`` → a dict; commas inside braces stay put."""
    options: dict[str, str] = {}
    if not text:
        return options
    items, depth, current = [], 0, ""
    for char in text:
        depth += (char == "{") - (char == "}")
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    for item in items:
        key, eq, value = item.partition("=")
        if key.strip():
            options[key.strip()] = value.strip() if eq else ""
    return options


def scan_manuscript(tex: str | Path) -> list[Use]:
    """Every paperlink macro in ``tex`` and the files it inputs, in reading order.

    The source is parsed with pylatexenc, so comments, ``\\verb`` and verbatim environments hide what
    they hold, and optional arguments with nested brackets or braces are read whole. Raises
    :class:`LatexError` when the manuscript (or a file it inputs) cannot be read.
    """
    main = Path(tex)
    if not main.is_file():
        raise LatexError(
            f"manuscript {main} not found", hint="give the path of your main .tex file"
        )
    uses: list[Use] = []
    _scan(main.resolve(), main.resolve().parent, uses, seen=set())
    return uses


# Argument specifications, as the .sty declares them (``s O{} m`` is pylatexenc's ``*[{``).
_SPECS = {
    **{name: "*[{" for name in FIGURE_MACROS},
    **{name: "{" for name in VALUE_MACROS + OTHER_MACROS},
    "input": "{",
    "include": "{",
    "subfile": "{",
    "import": "{{",
    "subimport": "{{",
}
_INPUTS = ("input", "include", "subfile", "import", "subimport")


def _context() -> object:
    from pylatexenc import latexwalker, macrospec

    context = latexwalker.get_default_latex_context_db()
    context.add_context_category(
        "paperlink",
        prepend=True,
        macros=[
            macrospec.MacroSpec(name, args_parser=_raw_args_parser(spec))
            if name in FIGURE_MACROS + VALUE_MACROS + OTHER_MACROS
            else macrospec.MacroSpec(name, spec)
            for name, spec in _SPECS.items()
        ],
    )
    return context


def _raw_args_parser(argspec: str) -> Any:
    """Reads our macros' arguments as TeX does: balanced braces and nothing else.

    pylatexenc would parse a reference such as ``{a$b}`` as LaTeX, and its ``$`` open math that swallows
    the closing brace and the text after it.
    """
    from pylatexenc import latexwalker, macrospec

    class RawArgsParser(macrospec.MacroStandardArgsParser):  # type: ignore[misc]
        def parse_args(self, w: Any, pos: int, parsing_state: Any = None) -> Any:
            text, start = w.s, pos
            nodes: list[Any] = []
            for kind in self.argspec:
                at = _skip_space(text, pos)
                end = _argument_end(text, at, kind)
                if end is None:
                    nodes.append(None)
                    continue
                nodes.append(
                    w.make_node(
                        latexwalker.LatexCharsNode,
                        parsing_state=parsing_state,
                        chars=text[at:end],
                        pos=at,
                        len=end - at,
                    )
                )
                pos = end
            argd = macrospec.ParsedMacroArgs(argspec=self.argspec, argnlist=nodes)
            return (argd, start, pos - start)

    return RawArgsParser(argspec)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n":
        pos += 1
    return pos


def _argument_end(text: str, pos: int, kind: str) -> int | None:
    """Where the argument of ``kind`` (``*``, ``[`` or ``{``) starting at ``pos`` ends; None if absent."""
    if pos >= len(text):
        return None
    if kind == "*":
        return pos + 1 if text[pos] == "*" else None
    if kind == "[" and text[pos] != "[":
        return None
    if kind == "{" and text[pos] != "{":
        # TeX takes one token: a control sequence or a character.
        match = re.match(r"\\(?:[A-Za-z@]+|.)|.", text[pos:], re.DOTALL)
        return pos + len(match.group(0)) if match else None
    braces, brackets, index = 0, 0, pos
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        braces += (char == "{") - (char == "}")
        if kind == "[" and braces == 0:
            brackets += (char == "[") - (char == "]")
            if brackets == 0:
                return index + 1
        elif kind == "{" and braces == 0:
            return index + 1
        index += 1
    return None  # unbalanced: TeX would fail too


def _scan(path: Path, base: Path, uses: list[Use], seen: set[Path]) -> None:
    from pylatexenc import latexwalker

    if path in seen:
        return
    seen.add(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LatexError(f"cannot read {path}: {exc.strerror}") from exc
    walker = latexwalker.LatexWalker(text, latex_context=_context(), tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    for node in _macros(nodes):
        name = node.macroname
        args = [a for a in (node.nodeargd.argnlist if node.nodeargd else [])]
        line = walker.pos_to_lineno_colno(node.pos)[0]
        if name in _INPUTS:
            parts = [_inner(a) for a in args if a is not None]
            if not parts:
                continue
            target_name = (
                str(Path(parts[0]) / parts[1])
                if name in ("import", "subimport") and len(parts) > 1
                else parts[0]
            )
            target = _resolve_input(base, path.parent, target_name)
            if target is not None:
                _scan(target, base, uses, seen)
            continue
        if not args or args[-1] is None:
            continue
        options = (
            parse_options(_inner(args[-2]))
            if name in FIGURE_MACROS and len(args) >= 2 and args[-2] is not None
            else {}
        )
        uses.append(
            Use(
                macro=name,
                reference=Reference.parse(_inner(args[-1])),
                options=options,
                file=path,
                line=line,
            )
        )


def _macros(nodes: list[object]) -> Iterator[Any]:
    """Our macros in document order, looking inside groups, environments, math and other macros'
    arguments."""
    from pylatexenc import latexwalker

    for node in nodes:
        if node is None:
            continue
        if isinstance(node, latexwalker.LatexMacroNode):
            if node.macroname in _SPECS:
                yield node
                continue  # our macros hold no other macros
            if node.nodeargd is not None:
                yield from _macros([a for a in node.nodeargd.argnlist if a is not None])
        elif isinstance(
            node,
            (
                latexwalker.LatexGroupNode,
                latexwalker.LatexEnvironmentNode,
                latexwalker.LatexMathNode,
            ),
        ):
            yield from _macros(node.nodelist or [])


def _inner(node: Any) -> str:
    """An argument's text without its delimiters (``{…}`` or ``[…]``)."""
    text = str(node.latex_verbatim()).strip()
    if text[:1] in "{[" and text[-1:] in "}]":
        text = text[1:-1]
    return text.strip()


def _resolve_input(base: Path, here: Path, name: str) -> Path | None:
    """TeX looks for inputs from the main file's folder; ``\\subfile``/``\\import`` from the current one."""
    for folder in (base, here):
        for candidate in (folder / name, folder / f"{name}.tex"):
            if candidate.is_file():
                return candidate.resolve()
    return None
