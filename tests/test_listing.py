"""``paperlink list --format table|json|csv|latex|shell``, each read by the program that consumes it: Python's
csv and json modules, pdflatex (and pdftotext on the PDF), bash -n and sh running the re-run script."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_latex import compile_tex
from helpers import require, run_cli

from paperlink.cli.listing import render_list
from paperlink.errors import UsageError

# Labels and a command with everything CSV, TeX and the shell treat specially.
AWKWARD_LABEL = "fig_50%&$x#'\"{1}~^\\"
AWKWARD_CODE = "print('a & b, 50% $HOME #1 \"q\" ~^\\\\ é {x}')\nprint(2)"


@pytest.fixture
def listed_project(project_dir: Path) -> Path:
    run_cli("run", "-q", "--label", "plain", "--tag", "again", "--", "python3", "make_figure.py")
    run_cli(
        "run", "-q", "--label", AWKWARD_LABEL, "--reason", 'why, "quoted"\nand more',
        "--tag", "t1", "--tag", "t2", "--", "python3", "-c", AWKWARD_CODE,
    )  # fmt: skip
    run_cli(
        "run", "-q", "--label", "failed", "--", "python3", "-c", "raise SystemExit(4)", ok=False
    )
    return project_dir


def as_json() -> list[dict[str, object]]:
    items = json.loads(run_cli("list", "--format", "json").output)
    assert isinstance(items, list)
    return items


def test_json_and_the_old_json_flag_agree(listed_project: Path) -> None:
    items = as_json()
    assert [i["label"] for i in items] == ["failed", AWKWARD_LABEL, "plain"]
    assert json.loads(run_cli("list", "--json").output) == items


def test_csv_parses_with_pythons_csv_module(listed_project: Path) -> None:
    output = run_cli("list", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(output, newline="")))
    items = as_json()
    assert [r["label"] for r in rows] == [i["label"] for i in items]
    awkward = rows[1]
    assert awkward["command"] == items[1]["command"]
    assert AWKWARD_CODE in awkward["command"]  # newline and quotes survive
    assert awkward["reason"] == 'why, "quoted"\nand more'
    assert awkward["tags"].split() == ["t1", "t2"]
    assert rows[0]["status"] == "failed" and rows[0]["exit_status"] == "4"
    assert float(rows[2]["duration_seconds"]) > 0


def test_latex_compiles_with_pdflatex_and_shows_the_text(listed_project: Path) -> None:
    folder = listed_project / "doc"
    folder.mkdir()
    (folder / "records.tex").write_text(run_cli("list", "--format", "latex").output)
    (folder / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
        "\\usepackage{longtable}\n\\begin{document}\n\\input{records.tex}\n\\end{document}\n"
    )
    compiled = compile_tex(folder)
    assert compiled.returncode == 0, compiled.log[-3000:]
    assert compiled.pdf is not None
    require(
        subprocess.run(["which", "pdftotext"], capture_output=True).returncode == 0,
        "pdftotext (poppler-utils)",
    )
    text = subprocess.run(
        ["pdftotext", str(compiled.pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for token in ("plain", "failed (4)", "50%", "$HOME", "#1", "é", "{x}"):
        assert token in text, (token, text)
    assert AWKWARD_LABEL in text and "print('a & b," in text


def test_shell_lists_rerun_commands_bash_accepts(listed_project: Path) -> None:
    script = run_cli("list", "--format", "shell").output
    check = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
    lines = [shlex.split(line) for line in script.splitlines() if line.startswith("paperlink ")]
    assert all(words[3:] == ["||", "status=$?"] for words in lines)  # one failure stops none
    reruns = [words[:3] for words in lines]
    # oldest first, each label exactly as the store has it
    assert reruns == [
        ["paperlink", "rerun", "plain"],
        ["paperlink", "rerun", AWKWARD_LABEL],
        ["paperlink", "rerun", "failed"],
    ]
    assert f"cd {shlex.quote(str(listed_project))}" in script


def test_the_shell_script_reruns_the_records(listed_project: Path, tmp_path: Path) -> None:
    script = tmp_path / "again.sh"
    script.write_text(run_cli("list", "--tag", "again", "--format", "shell").output)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "paperlink"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m paperlink "$@"\n')
    wrapper.chmod(0o755)
    done = subprocess.run(
        ["sh", str(script)],
        cwd=tmp_path,  # the script changes into the project itself
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all outputs identical" in done.stdout
    reruns = [i for i in as_json() if i["label"] not in ("plain", AWKWARD_LABEL, "failed")]
    assert len(reruns) == 1


def test_table_is_the_default(listed_project: Path) -> None:
    output = run_cli("list").output
    assert output.splitlines()[0].startswith("LABEL")
    assert output == run_cli("list", "--format", "table").output


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        render_list([], "yaml")
    result = run_cli("list", "--format", "yaml", ok=False)
    assert result.exit_code == 2


def test_empty_lists_in_every_format(project_dir: Path) -> None:
    assert json.loads(run_cli("list", "--format", "json").output) == []
    assert run_cli("list", "--format", "csv").output.startswith("label,status")
    shell = run_cli("list", "--format", "shell").output
    assert subprocess.run(["bash", "-n"], input=shell, text=True).returncode == 0
    assert "\\end{longtable}" in run_cli("list", "--format", "latex").output
