"""The example paper, end to end as the README's first command runs it, and the three things its
"done when" names: a changed figure, a stale PDF and a tampered archive, each caught."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT, require


def paperlink(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paperlink", *args],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_example_paper_end_to_end(tmp_path: Path) -> None:
    require(
        shutil.which("latexmk") and shutil.which("docker"),
        "the example paper needs latexmk and docker",
    )
    work = tmp_path / "paper-study"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "examples/paper/run.sh"), str(work)],
        capture_output=True, text=True, env=env, check=False, timeout=1800,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    assert ("analyses run in a container" in out) == engine
    # From the .tex (values in math mode too) and from the PDF: 3 values and 2 figures each time.
    assert out.count("5 checked, all OK.") == 2, out[-4000:]
    assert (
        "(paperlink verify exited 3" in out
        and "Package paperlink Error: Figure 'spectrum?spectrum.png'" in out
    )

    # Verified from the PDF alone: record, archive and re-execution for every figure.
    shutil.copyfile(work / "archive/spectrum__figures__spectrum.png", work / "figures/spectrum.png")
    report = json.loads(paperlink(work, "verify", "paper/main.pdf", "--zenodo", "--json").stdout)
    assert report["ok"], report
    checks = {
        c["name"] for item in report["items"] if item["kind"] == "figure" for c in item["checks"]
    }
    assert {"pdf", "disk", "archive"} <= checks and ("image" in checks) == engine

    # A tampered archive is caught.
    archived = work / "archive/decay__figures__decay.pdf"
    original = archived.read_bytes()
    archived.write_bytes(original.replace(b"/Producer", b"/Prodvcer", 1))
    tampered = paperlink(work, "verify", "paper/main.pdf", "--zenodo")
    assert tampered.returncode == 3 and "differs from the record" in tampered.stdout
    archived.write_bytes(original)

    # A stale PDF: the decay analysis is run again with other parameters; the old PDF no longer matches.
    params = work / "params/decay.json"
    data = json.loads(params.read_text())
    data["seed"] += 1
    params.write_text(json.dumps(data))
    rerun_args = ["run", "-q", "--label", "decay-2"]
    if engine:
        rerun_args += [
            "--dockerfile",
            "Dockerfile",
            "--build-arg",
            "BASE=paperlink-example-base:bookworm",
        ]
    if (
        engine
        and subprocess.run(
            ["docker", "image", "inspect", "python:3.11-slim"], capture_output=True
        ).returncode
        == 0
    ):
        rerun_args = ["run", "-q", "--label", "decay-2", "--dockerfile", "Dockerfile"]
    again = paperlink(work, *rerun_args, "--", "python3", "analysis/decay.py", "params/decay.json")
    assert again.returncode == 0, again.stderr
    stale = paperlink(work, "verify", "paper/main.pdf")
    assert stale.returncode == 3
    assert "figures/decay.pdf now comes from record 'decay-2', not 'decay'" in stale.stdout
    assert "compile it again" in stale.stdout
