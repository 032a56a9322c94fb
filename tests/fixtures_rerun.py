"""A committed script that records a figure and two values, and can be made to fail only in a rerun."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import git, run_cli

# A script that writes its figure, then records a value with 'paperlink value'. Without results/local.txt
# (ignored by git, so never in a rerun's scratch copy) it ends as LOCAL_MISSING says: a crash after the
# figure is written, a kill, or another value.
VALUED = """import os, pathlib, signal, subprocess, sys
pathlib.Path('figures').mkdir(exist_ok=True)
pathlib.Path('figures/fit.svg').write_text('<svg id="fit"/>')
local = pathlib.Path('results/local.txt').exists()
slope = '0.42' if local or os.environ.get('LOCAL_MISSING') != 'other-value' else '0.99'
subprocess.run([sys.executable, '-m', 'paperlink', 'value', 'slope', slope], check=True)
subprocess.run([sys.executable, '-m', 'paperlink', 'value', 'n', '12'], check=True)
if not local and os.environ.get('LOCAL_MISSING') == 'exit':
    sys.exit(2)
if not local and os.environ.get('LOCAL_MISSING') == 'kill':
    os.kill(os.getpid(), signal.SIGKILL)
"""


def valued_project(root: Path) -> None:
    """Commit fit.py and record run 'orig' of it, with results/local.txt present."""
    (root / "fit.py").write_text(VALUED)
    git(root, "add", "fit.py")
    git(root, "commit", "-q", "-m", "fit")
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / "local.txt").write_text("here\n")
    run_cli("run", "-q", "--label", "orig", "--", sys.executable, "fit.py")
    assert json.loads((root / "results" / "orig.values.json").read_text()) == {
        "n": "12",
        "slope": "0.42",
    }
