"""paperlink list --format table|json|csv|latex|shell, each read by the program that consumes it: Python's
csv reader, pdflatex, and sh running the re-run script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_latex import compile_tex
from helpers import run_cli

# A reason with everything a CSV cell, a LaTeX document and a shell script must survive.
NASTY = 'a, "quoted" reason\n$HOME; rm -rf / # 50% & {braces} ~x_y^z \\end{document}'
RANDOM_FIGURE = (
    "import os, pathlib; pathlib.Path('figures').mkdir(exist_ok=True); "
    "pathlib.Path('figures/noise.bin').write_bytes(os.urandom(16))"
)


@pytest.fixture
def listed(project_dir: Path) -> Path:
    """Records ``fig1`` (tagged, with the nasty reason) and ``fig2`` (made by make_figure.py)."""
    python = sys.executable
    run_cli("run", "--label", "fig1", "--tag", "accepted", "--reason", NASTY, "--", python,
            "make_figure.py", "fig1")  # fmt: skip
    run_cli("run", "--label", "fig2", "--", python, "make_figure.py", "fig2")
    return project_dir


def test_default_table_and_json_are_unchanged(listed: Path) -> None:
    table = run_cli("list").output
    assert table.splitlines()[0].split()[:2] == ["LABEL", "STARTED"]
    assert run_cli("list", "--format", "json").output == run_cli("list", "--json").output
    rows = json.loads(run_cli("list", "--format", "json").output)
    assert [r["label"] for r in rows] == ["fig2", "fig1"] and rows[1]["reason"] == NASTY


def test_csv_is_read_back_cell_for_cell(listed: Path) -> None:
    text = run_cli("list", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["label"] for r in rows] == ["fig2", "fig1"]
    fig1 = rows[1]
    assert fig1["reason"] == NASTY and fig1["tags"] == "accepted"
    assert fig1["status"] == "finished" and fig1["exit_status"] == "0"
    assert fig1["command"].endswith("make_figure.py fig1") and float(fig1["duration_seconds"]) > 0


@pytest.mark.tex
def test_latex_report_compiles_and_shows_each_record(listed: Path, tmp_path: Path) -> None:
    (tmp_path / "records.tex").write_text(
        run_cli("list", "--format", "latex").output, encoding="utf-8"
    )
    compiled = compile_tex(tmp_path, "records.tex")
    assert compiled.returncode == 0, compiled.log[-2000:]
    from pypdf import PdfReader

    text = " ".join(p.extract_text() for p in PdfReader(compiled.pdf).pages)  # type: ignore[arg-type]
    assert "fig1" in text and "fig2" in text and "figures/fig1.svg" in text
    assert "rm -rf" in text  # the reason is typeset, not interpreted


def test_shell_script_reruns_the_records_and_reports_a_difference(
    listed: Path, tmp_path: Path
) -> None:
    script = tmp_path / "rerun.sh"
    script.write_text(run_cli("list", "--tag", "accepted", "--format", "shell").output)
    text = script.read_text()
    assert "paperlink rerun fig1" in text and "rerun fig2" not in text
    # Record text stays inside one-line comments: the reason's newline and '; rm' run nothing.
    assert all(line.startswith("#") or "rm -rf" not in line for line in text.splitlines())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, check=False, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical  figures/fig1.svg" in done.stdout
    # A run that writes random bytes does not reproduce: the script exits with rerun's status 3.
    run_cli("run", "--label", "noise", "--", sys.executable, "-c", RANDOM_FIGURE)
    script.write_text(run_cli("list", "--format", "shell").output)
    done = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, check=False, env=env, cwd=tmp_path
    )
    assert done.returncode == 3, done.stdout + done.stderr
    order = [
        line.split()[2] for line in script.read_text().splitlines() if line.startswith("paperlink")
    ]
    # Oldest first, as Sumatra's script: the re-run of fig1 the first script made is a record too.
    assert order[:2] == ["fig1", "fig2"] and order[3] == "noise" and len(order) == 4


def test_an_unknown_format_is_a_usage_error(listed: Path) -> None:
    result = run_cli("list", "--format", "html", ok=False)
    assert result.exit_code == 2 and "'html' is not one of" in result.output
