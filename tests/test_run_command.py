"""``paperlink run`` starts without click: its own parser reads the options exactly as click does, hands
anything else to click, and the run it makes is the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from helpers import paperlink_process
from hypothesis import given, settings
from hypothesis import strategies as st

from paperlink.cli.records import run as run_click
from paperlink.cli.run_command import (
    FLAG,
    RUN_OPTIONS,
    SWITCH,
    defaults,
    parse_run_arguments,
)


def click_reads(args: list[str]) -> tuple[dict[str, object], list[str]] | None:
    """What click makes of ``paperlink run ARGS``, or None when it refuses them."""
    try:
        ctx = run_click.make_context("run", list(args))
    except click.exceptions.ClickException:
        return None
    params = dict(ctx.params)
    command = list(params.pop("command"))
    return params, command


def _value(kind: str) -> st.SearchStrategy[str]:
    if kind == "int":
        return st.integers(-(10**12), 10**12).map(str)
    if kind == "seconds":
        return st.floats(0.001, 1e6, allow_nan=False).map(repr)
    # An argument never holds NUL: the kernel's argv cannot carry one.
    return st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
    )


@st.composite
def run_arguments(draw: st.DrawFn) -> list[str]:
    args: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        option = draw(st.sampled_from(RUN_OPTIONS))
        name = draw(st.sampled_from(option.names))
        if option.kind in (FLAG, SWITCH):
            args.append(name)
        elif name.startswith("--") and draw(st.booleans()):
            args.append(f"{name}={draw(_value(option.kind))}")
        else:
            args += [name, draw(_value(option.kind))]
    if draw(st.booleans()):
        args.append("--")
    words = st.sampled_from(["python3", "fig.py", "-q", "--label", "x=1", "--", "-", "--lable"])
    return args + draw(st.lists(words, max_size=4))


@settings(max_examples=400, deadline=None)
@given(run_arguments())
def test_the_quick_parser_reads_what_click_reads_or_leaves_it_to_click(args: list[str]) -> None:
    quick = parse_run_arguments(args)
    if quick is not None:
        assert quick == click_reads(args), args


@pytest.mark.parametrize(
    "args",
    [
        ["--lable", "x", "--", "true"],  # a typo: click suggests --label
        ["--label"],  # no value
        ["-q"],  # no command
        ["--source-date-epoch", "soon", "true"],
        ["--timeout", "0", "true"],
        ["--quiet=yes", "true"],
        ["--help"],
        ["-qx", "true"],
    ],
)
def test_what_click_must_answer_is_left_to_click(args: list[str]) -> None:
    assert parse_run_arguments(args) is None


def test_options_end_where_click_ends_them() -> None:
    values, command = parse_run_arguments(
        ["--tag", "a", "--tag=b", "-q", "--no-trace", "python3", "--label", "x"]
    ) or ({}, [])
    assert command == ["python3", "--label", "x"]
    assert values == {
        **defaults(),
        "tags": ("a", "b"),
        "quiet": True,
        "trace": False,
    }
    assert parse_run_arguments(["--", "--label", "x"]) == (defaults(), ["--label", "x"])


def test_a_run_imports_no_click_and_records_as_before(project_dir: Path) -> None:
    script = project_dir / "fig.py"
    script.write_text("import pathlib\npathlib.Path('figures/f.svg').write_text('<svg/>')\n")
    (project_dir / "figures").mkdir(exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "paperlink",
            "run",
            "--label",
            "quick",
            "--tag",
            "t1",
            "--",
            sys.executable,
            "fig.py",
        ],
        cwd=project_dir,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines()}
    assert "paperlink.recorder.host_run" in imported  # the listing is what it claims to be
    assert not {name for name in imported if name == "click" or name.startswith("click.")}
    assert (
        b"paperlink: recorded quick: finished (exit 0), 1 output(s): figures/f.svg" in done.stderr
    )
    shown = paperlink_process("show", "quick", "--json", cwd=project_dir)
    record = json.loads(shown.stdout)
    assert record["tags"] == ["t1"] and [o["path"] for o in record["outputs"]] == ["figures/f.svg"]


def test_the_group_options_before_run_are_read_too(project_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other.sqlite"
    shutil.copy(project_dir / ".paperlink" / "records.sqlite", elsewhere)  # an empty store
    done = paperlink_process(
        "--store", str(elsewhere), "-C", str(project_dir), "run", "-q", "--label", "there", "--",
        "true", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    listed = paperlink_process("--store", str(elsewhere), "list", "--json", cwd=project_dir)
    assert [r["label"] for r in json.loads(listed.stdout)] == ["there"]
    assert b"there" not in paperlink_process("list", cwd=project_dir).stdout


def test_errors_on_the_quick_path_are_reported_as_everywhere(tmp_path: Path) -> None:
    outside = paperlink_process("run", "--", "true", cwd=tmp_path)
    assert outside.returncode == 4, outside.stderr
    assert outside.stderr.startswith(b"Error: ") and b"Traceback" not in outside.stderr
    debug = paperlink_process("--debug", "run", "--", "true", cwd=tmp_path)
    assert debug.returncode == 4 and b"Traceback" in debug.stderr


def test_a_typo_goes_to_click_and_records_nothing(project_dir: Path) -> None:
    typo = paperlink_process("run", "--lable", "x", "--", "true", cwd=project_dir)
    assert typo.returncode == 2 and b"Did you mean '--label'?" in typo.stderr
    listed = paperlink_process("list", "--json", cwd=project_dir)
    assert json.loads(listed.stdout) == []
