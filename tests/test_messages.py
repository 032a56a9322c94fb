"""Every ``paperlink …`` command a message, hint, template or LaTeX message quotes is one the real CLI
accepts: a user who copies it gets a command, not a usage error.

The quotes are collected from the package's string constants and f-strings (not docstrings) with an
ast walk, from the templates and from ``paperlink.sty``'s messages. Each is parsed by the click command
itself (``make_context``, as ``paperlink`` would before running it); placeholders such as LABEL, FILE or
``…`` are filled with dummies. A quote that only names a command (``'paperlink image save'``) must name
one that exists; a quote with arguments must parse as it stands.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest
from helpers import REPO_ROOT

from paperlink.cli.main import cli

QUOTED = [
    re.compile(r"'(paperlink [^']*)'"),
    re.compile(r"`(paperlink [^`]*)`"),
    re.compile(r"<code>(paperlink [^<]*)</code>"),
]
FIELD = "LABEL"  # what an f-string's {…} stands for in a quoted command


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _render(node: ast.JoinedStr) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        else:
            parts.append(FIELD)
    return "".join(parts)


def python_strings() -> list[tuple[str, str]]:
    """(where, text) of every string constant and f-string in ``paperlink/`` but docstrings."""
    found = []
    for path in sorted((REPO_ROOT / "paperlink").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                skip.update(id(v) for v in node.values)
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO_ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.JoinedStr):
                found.append((where, _render(node)))
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                found.append((where, node.value))
    return found


def template_strings() -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO_ROOT / "paperlink" / "templates").rglob("*.j2")):
        # Template expressions (((…))) and {{ … }}, and tags {% … %}: what they add is an option
        # and its value, checked as the plain command here.
        text = re.sub(r"\(\(\(.*?\)\)\)|\{%.*?%\}", "", path.read_text(encoding="utf-8"))
        text = re.sub(r"\{\{.*?\}\}", FIELD, text)
        found.append((str(path.relative_to(REPO_ROOT)), text))
    return found


def sty_strings() -> list[tuple[str, str]]:
    """The text of each message in paperlink.sty (``~`` is a space there; ``#1`` and macros are
    filled in at run time)."""
    text = (REPO_ROOT / "paperlink" / "texfiles" / "paperlink.sty").read_text(encoding="utf-8")
    messages = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("%"):
            continue
        line = re.sub(r"\\[A-Za-z_:@]+(\s*\{[^}]*\})?|#\d", "main", line.replace("~", " "))
        messages.append((f"paperlink/texfiles/paperlink.sty:{number}", line))
    return messages


def quoted_commands() -> list[tuple[str, str]]:
    commands = []
    for where, text in [*python_strings(), *template_strings(), *sty_strings()]:
        for pattern in QUOTED:
            commands.extend((where, m.group(1).strip()) for m in pattern.finditer(text))
    return sorted(set(commands))


def fill(token: str, scratch: Path) -> str:
    """A dummy for a placeholder (an existing file for FILE/PATH/….tex, a folder for DIR)."""
    if token in ("…", "...") or "…" in token:
        return "true"
    if re.fullmatch(r"<[^>]+>", token):
        return "fig1"
    if token == "DIR":
        return str(scratch)
    if token in ("FILE", "PATH", "MANUSCRIPT") or re.fullmatch(
        r"[A-Za-z_.]+\.(tex|pdf|tar)", token
    ):
        return str(scratch / "dummy.tex")
    if re.fullmatch(r"[A-Z][A-Z_]*(:[A-Z_]+)?", token):
        return "1"
    return token


def parse(command: str, scratch: Path) -> None:
    """Parse ``command`` as the real CLI would; raises click's UsageError (or BadParameter) if not."""
    words = [fill(t, scratch) for t in shlex.split(command)]
    assert words[0] == "paperlink"
    rest = words[1:]
    group: click.Command = cli
    ctx = click.Context(cli, info_name="paperlink")
    while isinstance(group, click.Group):
        if not rest or rest[0].startswith("-"):
            raise click.UsageError(f"'{command}' names no command of paperlink {ctx.info_name}")
        name, sub, rest = group.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        group, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
    if rest:  # an invocation to copy, not only a command's name: it must parse as it stands
        with group.make_context(str(ctx.info_name), rest, parent=ctx.parent):
            pass


def test_the_scan_finds_the_quoted_commands() -> None:
    found = {c for _, c in quoted_commands()}
    assert len(found) >= 20, found
    assert "paperlink latex" in found and "paperlink image save" in found


@pytest.mark.parametrize(("where", "command"), quoted_commands())
def test_a_quoted_command_parses_with_the_real_cli(
    where: str, command: str, tmp_path: Path
) -> None:
    (tmp_path / "dummy.tex").write_text("\\documentclass{article}\n")
    try:
        parse(command, tmp_path)
    except click.ClickException as exc:
        pytest.fail(f"{where}: '{command}' does not parse: {exc.format_message()}", pytrace=False)


def test_a_command_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    for wrong in (
        "paperlink publish LABEL",
        "paperlink show --stdout/--stderr",
        "paperlink nosuch",
    ):
        with pytest.raises(click.ClickException):
            parse(wrong, tmp_path)
