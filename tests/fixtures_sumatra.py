"""Fixtures for the Sumatra tests: real Sumatra from PyPI, in its own virtualenv, making real records.

The virtualenv is made once per machine under a folder named after the requirement (``SUMATRA_VENV``, or
``$PAPERLINK_SUMATRA_VENV``), with a marker written last so that a half-made one is made again; when it
cannot be made (no network to PyPI, no ``venv``) the tests fail with what is missing, never skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import git, require

# Sumatra 0.8 with the git support and the Django store its `smt init` makes (its "web" extra: Django<6).
SUMATRA_REQUIREMENTS = ("sumatra>=0.8,<0.9", "GitPython>=3.1", "Django>=4.2,<6")
_KEY = hashlib.sha256(
    "\n".join((*SUMATRA_REQUIREMENTS, sys.version.split()[0])).encode()
).hexdigest()[:12]
SUMATRA_VENV = Path(os.environ.get("PAPERLINK_SUMATRA_VENV", f"/tmp/paperlink-sumatra-venv-{_KEY}"))

# The analysis Sumatra runs: a PNG into its data store (Sumatra's default layout: Data/), its colour and
# name from the JSON parameter file, after reading an input file; `shapes` is a local package, which
# Sumatra records as a dependency.
SCRIPT = """\
import json, pathlib, struct, sys, zlib
import shapes

params = json.loads(pathlib.Path(sys.argv[1]).read_text())
data = pathlib.Path(sys.argv[2]).read_text().split()
out = pathlib.Path('Data') / params['name']
out.mkdir(parents=True, exist_ok=True)
(out / 'plot.png').write_bytes(shapes.png((params['shade'], len(data), 255 - params['shade'])))
(out / 'values.csv').write_text('alpha,%s\\n' % params['model']['alpha'])
print('made', params['name'], 'from', len(data), 'values')
"""
HELPERS = '''\
"""PNG writing for plot.py."""
__version__ = "1.2"
import struct, zlib


def png(rgb):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\\x00" + bytes(rgb) * 4 for _ in range(4))
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
'''


def _make_venv(target: Path) -> str | None:
    """Make the virtualenv at ``target``; the error text when that fails."""
    shutil.rmtree(target, ignore_errors=True)
    steps = (
        [sys.executable, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "-q", *SUMATRA_REQUIREMENTS],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(step)} exited {done.returncode}: {done.stderr[-1500:]}"
    return None


@pytest.fixture(scope="session")
def sumatra_bin() -> Path:
    """The ``bin/`` folder of a virtualenv with Sumatra 0.8 (``smt``), GitPython and Django."""
    SUMATRA_VENV.parent.mkdir(parents=True, exist_ok=True)
    marker = SUMATRA_VENV / ".paperlink-ready"
    with open(f"{SUMATRA_VENV}.lock", "w") as lock:  # another test process may be making it
        fcntl.flock(lock, fcntl.LOCK_EX)
        error = None if marker.exists() else _make_venv(SUMATRA_VENV)
        if error is None and not marker.exists():
            marker.write_text("\n".join(SUMATRA_REQUIREMENTS) + "\n")
    require(error is None, f"cannot install Sumatra from PyPI into {SUMATRA_VENV}: {error}")
    smt = SUMATRA_VENV / "bin" / "smt"
    require(smt.is_file(), f"{smt} is missing after installing Sumatra")
    return SUMATRA_VENV / "bin"


def smt(bin_dir: Path, root: Path, *args: str) -> str:
    """Run Sumatra's ``smt`` in ``root``; its output, or a failure with it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [str(bin_dir / "smt"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, f"smt {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@dataclass
class SumatraProject:
    """A git repository where real Sumatra recorded ``fig1`` (committed code, tagged ``draft`` and
    ``accepted``, with a comment) and ``fig2`` (uncommitted changes, stored as a diff), then exported."""

    root: Path
    bin: Path
    name: str = "study"

    @property
    def store(self) -> Path:
        return self.root / ".smt" / "records"

    @property
    def export(self) -> Path:
        return self.root / ".smt" / "records_export.json"


@pytest.fixture(scope="module")
def sumatra_project(
    sumatra_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SumatraProject]:
    root = tmp_path_factory.mktemp("sumatra") / "study"
    (root / "inputs").mkdir(parents=True)
    (root / "plot.py").write_text(SCRIPT)
    (root / "shapes").mkdir()
    (root / "shapes" / "__init__.py").write_text(HELPERS)
    (root / "inputs" / "samples.txt").write_text("3 1 4 1 5 9 2 6\n")
    (root / "params.json").write_text(
        '{"name": "fig1", "shade": 40, "model": {"alpha": 0.5, "depth": 3}}\n'
    )
    (root / ".gitignore").write_text("Data/\n.smt/\n.paperlink/\npaper/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "analysis")
    python = str(sumatra_bin / "python")
    smt(sumatra_bin, root, "init", "-d", "Data", "-i", ".", "--on-changed=store-diff", "study")
    run = ("run", "-e", python, "-m", "plot.py")
    smt(
        sumatra_bin,
        root,
        *run,
        "-l",
        "fig1",
        "-r",
        "first look",
        "-t",
        "draft",
        "params.json",
        "inputs/samples.txt",
        "model.alpha=0.75",
    )
    smt(sumatra_bin, root, "tag", "accepted", "fig1")
    smt(sumatra_bin, root, "comment", "fig1", "the colours look right")
    with (root / "plot.py").open("a") as stream:  # an uncommitted change: Sumatra stores the diff
        stream.write("# tweaked after the first run\n")
    smt(
        sumatra_bin,
        root,
        *run,
        "-l",
        "fig2",
        "-r",
        "brighter",
        "params.json",
        "inputs/samples.txt",
        "name=fig2",
        "shade=200",
    )
    smt(sumatra_bin, root, "export")
    yield SumatraProject(root=root, bin=sumatra_bin)
