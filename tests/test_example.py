"""The quickstart in examples/ runs end to end, as the README's first command runs it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT


def test_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    assert shutil.which("paperlink", path=env["PATH"]), (
        "paperlink must be installed in the test environment"
    )
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "examples/quickstart/run.sh"), str(tmp_path / "qs")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Record baseline" in done.stdout
    assert "slope: 0.8 (from file baseline.json)  ->  1.6 (from file steep.json)" in done.stdout
    assert (tmp_path / "qs" / "figures" / "steep.svg").is_file()
