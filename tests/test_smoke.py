from pathlib import Path

from helpers import run_cli


def test_run_records_new_figure(project_dir: Path) -> None:
    result = run_cli("run", "--label", "first", "--", "python3", "make_figure.py", "fig1")
    assert "made fig1" in result.output
    shown = run_cli("show", "first", "--json").output
    assert '"path": "figures/fig1.svg"' in shown
