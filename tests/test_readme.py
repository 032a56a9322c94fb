"""The README tells a user what to type: every ``paperlink …`` command it shows parses with the real CLI
(the same parser as tests/test_messages.py), and every ``--option`` it names is an option of some
paperlink command."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from helpers import REPO_ROOT
from test_messages import parse

from paperlink.cli.main import cli

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
# Options the README names that are not paperlink's, each with why.
NOT_OURS = {
    "--lable": "the misspelt option the README shows paperlink refusing",
    "--token": "an option of the user's own command, whose value paperlink redacts",
    "--password": "an option of the user's own command, whose value paperlink redacts",
    "--ntasks": "an option of srun, which the README says paperlink reads the rank count from",
    "--bind": "an option of apptainer exec, in a command paperlink records the image of",
}
PATH_LIKE = re.compile(r"[\w./-]+\.(tex|pdf|jsonl|sif|json|cff|tar|tar\.gz)")


def readme_commands() -> list[tuple[int, str]]:
    """(line, command) for each paperlink command in a shell block or an inline code span."""
    found: list[tuple[int, str]] = []
    in_block = False
    for number, line in enumerate(README.splitlines(), 1):
        if line.startswith("```"):
            in_block = line.strip() in ("```bash", "```sh", "```shell")
            continue
        if in_block:
            text = line.split(" #", 1)[0]
            for piece in re.split(r"&&|\|\||;|\|", text):
                piece = piece.strip().removeprefix("$ ")
                if piece.startswith("paperlink "):
                    found.append((number, re.split(r"\s[<>]\s?", piece)[0].strip()))
        else:
            found.extend(
                (number, m.group(1).strip()) for m in re.finditer(r"`(paperlink [^`]*)`", line)
            )
    return found


def _options(command: click.Command, into: set[str]) -> set[str]:
    for param in command.params:
        if isinstance(param, click.Option):
            into.update(param.opts)
            into.update(param.secondary_opts)
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                _options(sub, into)
    return into


def test_the_readme_shows_commands() -> None:
    commands = [c for _, c in readme_commands()]
    assert len(commands) >= 40
    for needed in (
        "paperlink latex --tex",
        "paperlink verify",
        "paperlink publish",
        "paperlink ci",
    ):
        assert any(c.startswith(needed) for c in commands), needed


@pytest.mark.parametrize(("line", "command"), readme_commands())
def test_every_command_in_the_readme_parses(
    line: int, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dummy.tex").write_text("\\documentclass{article}\n")
    # The files a command names exist, as they would in the user's project.
    monkeypatch.chdir(tmp_path)
    for word in command.split():
        if PATH_LIKE.fullmatch(word) and not word.startswith("-"):
            (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / word).touch()
    try:
        try:
            parse(command, tmp_path)
        except click.BadOptionUsage as exc:
            # Prose names an option of a command (`paperlink run --image`) without its value.
            if "requires an argument" not in exc.format_message():
                raise
            parse(command + " VALUE", tmp_path)
    except click.ClickException as exc:
        pytest.fail(
            f"README.md:{line}: '{command}' does not parse: {exc.format_message()}", pytrace=False
        )


def test_every_option_the_readme_names_exists() -> None:
    known = _options(cli, {"--help", "--version"})
    named = {
        (number, m.group(1))
        for number, line in enumerate(README.splitlines(), 1)
        for m in re.finditer(r"`(--[a-z][a-z0-9-]*)", line)
    }
    missing = sorted((n, o) for n, o in named if o not in known and o not in NOT_OURS)
    assert not missing, f"options named in README.md that no paperlink command has: {missing}"


def _leaf_commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            found += _leaf_commands(sub, f"{prefix} {name}")
        elif sub is not None:
            found.append((f"{prefix} {name}", sub))
    return found


@pytest.mark.parametrize(("name", "command"), _leaf_commands(cli, "paperlink"))
def test_every_command_help_shows_an_example_that_parses(
    name: str, command: click.Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = re.search(r"Example: (paperlink [^\n]+)", command.help or "")
    assert found, f"'{name} --help' shows no example"
    example = found.group(1).split(" && ")[0]
    assert example.startswith(name), example
    monkeypatch.chdir(tmp_path)
    for word in example.split():
        if PATH_LIKE.fullmatch(word):
            (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / word).touch()
        elif word.endswith("-records") or word.startswith(".smt"):
            (tmp_path / word).mkdir(parents=True, exist_ok=True)  # folders the example names
    parse(example, tmp_path)
