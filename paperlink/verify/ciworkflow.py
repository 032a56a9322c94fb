"""What a paper's repository carries so that a CI runner can verify it from a fresh clone.

A runner has no record store (``.paperlink/`` is not committed) and no paperlink unless the job installs
one. ``paperlink ci --tex paper/main.tex`` therefore writes, for the author to commit:

- ``paperlink-records/``: the records the manuscript uses, exported (:mod:`paperlink.exchange.transfer`), one
  canonical JSON file per record, so a change to a record shows as a readable diff;
- ``.paperlink-ci/paperlink-VERSION-py3-none-any.whl``: the paperlink that made them, as a wheel (built from
  its source folder, or rebuilt from the installed files), since the job must install it from somewhere
  that exists;
- ``.github/workflows/paperlink-verify.yml``: import the records, verify the manuscript, compile it with
  the generated package and verify the PDF's manifest.

The figures themselves must be committed too (the compile needs them); the command says which are not.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import shlex
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from paperlink.core.config import Project, atomic_write_bytes, atomic_write_text
from paperlink.core.model import model
from paperlink.core.packagedata import template_source
from paperlink.core.store import RecordStore
from paperlink.errors import PaperlinkError, UsageError
from paperlink.version import __version__

WORKFLOW = Path(".github/workflows/paperlink-verify.yml")
RECORDS_DIR = Path("paperlink-records")
WHEEL_DIR = Path(".paperlink-ci")


@model
class CISetup:
    """What ``write_ci`` wrote (paths relative to the project root) and the figures git does not track."""

    written: list[str]
    untracked_figures: list[str]


def render_workflow(manuscript: str) -> str:
    """The workflow for the manuscript at ``manuscript`` (a path relative to the repository's root)."""
    if not manuscript or any(c in manuscript for c in "\n\r\0") or manuscript.startswith("/"):
        raise UsageError(
            f"the manuscript path {manuscript!r} cannot go into a workflow",
            hint="give a path inside the repository, such as paper/main.tex",
        )
    pdf = str(Path(manuscript).with_suffix(".pdf"))
    text = template_source("paperlink-verify.yml")
    for key, value in (
        ("@VERSION@", __version__),
        ("@WHEEL_DIR@", WHEEL_DIR.as_posix()),
        ("@RECORDS@", RECORDS_DIR.as_posix()),
        ("@MANUSCRIPT@", shlex.quote(manuscript)),
        ("@PDF@", shlex.quote(pdf)),
    ):
        text = text.replace(key, value)
    return text


def write_ci(project: Project, store: RecordStore, tex: Path) -> CISetup:
    """Write the records, the wheel and the workflow for ``tex`` into ``project``; see the module docstring.

    Raises :class:`UsageError` when the manuscript is outside the project, and :class:`PaperlinkError`
    when no wheel of paperlink can be made.
    """
    from paperlink.exchange.transfer import export_records
    from paperlink.publish.options import PublishOptions
    from paperlink.publish.selection import choose_records

    root = project.root
    manuscript = tex.resolve()
    if not manuscript.is_relative_to(root):
        raise UsageError(
            f"{tex} is outside the project {root}", hint="the manuscript must be in the repository"
        )
    records = choose_records(store, PublishOptions(tex=tex))
    records_dir = root / RECORDS_DIR
    written = [
        p.relative_to(root).as_posix()
        for p in export_records(store, [r.label for r in records], records_dir)
    ]
    wheel = build_wheel(root / WHEEL_DIR)
    written.append(wheel.relative_to(root).as_posix())
    (root / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / WORKFLOW, render_workflow(manuscript.relative_to(root).as_posix()))
    written.append(WORKFLOW.as_posix())
    outputs = sorted({o.path for r in records for o in r.outputs})
    return CISetup(written, _untracked(root, outputs))


def _untracked(root: Path, paths: list[str]) -> list[str]:
    if not paths:
        return []
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return paths
    tracked = set(done.stdout.splitlines())
    return [p for p in paths if p not in tracked]


def build_wheel(folder: Path) -> Path:
    """A wheel of the running paperlink in ``folder`` (older paperlink wheels there are replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = importlib.metadata.distribution("paperlink")
    source = _source_folder(dist)
    with tempfile.TemporaryDirectory(prefix="paperlink-wheel-") as scratch:
        made = (
            _wheel_from_source(source, Path(scratch))
            if source is not None
            else _wheel_from_installed(dist, Path(scratch))
        )
        target = folder / made.name
        atomic_write_bytes(target, made.read_bytes())
    for old in folder.glob("paperlink-*.whl"):
        if old != target:
            old.unlink()
    return target


def _source_folder(dist: importlib.metadata.Distribution) -> Path | None:
    """The source folder of the running paperlink (a checkout, an editable or local install), if any."""
    import paperlink

    running = Path(paperlink.__file__).resolve().parent.parent
    if (running / "pyproject.toml").is_file() and (
        running / "paperlink" / "texfiles" / "paperlink.sty"
    ).is_file():
        return running  # the code that runs, whatever an editable install elsewhere points at
    raw = dist.read_text("direct_url.json")
    if not raw:
        return None
    url = json.loads(raw).get("url", "")
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    folder = Path(unquote(parts.path))
    return folder if (folder / "pyproject.toml").is_file() else None


def _wheel_from_source(source: Path, out: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    if importlib.util.find_spec("setuptools") and importlib.util.find_spec("wheel"):
        command.append("--no-build-isolation")  # offline, with the build tools already here
    done = subprocess.run(
        [*command, str(source)], capture_output=True, text=True, check=False, timeout=600
    )
    wheels = sorted(out.glob("paperlink-*.whl"))
    if done.returncode != 0 or not wheels:
        raise PaperlinkError(
            f"cannot build a wheel of paperlink from {source}: "
            + (done.stderr.strip().splitlines() or ["no wheel made"])[-1],
            hint=f"run 'python -m pip wheel --no-deps {source}' to see why",
        )
    return wheels[0]


def _wheel_from_installed(dist: importlib.metadata.Distribution, out: Path) -> Path:
    """Re-pack the installed files (the package and its .dist-info) as a wheel, with a fresh RECORD."""
    files = [
        f
        for f in dist.files or []
        if f.parts[0] == "paperlink"
        or (
            f.parts[0].endswith(".dist-info")
            and f.name not in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
        )
    ]
    files = [f for f in files if "__pycache__" not in f.parts]
    info = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")), None)
    if info is None or not any(f.parts[0] == "paperlink" for f in files):
        raise PaperlinkError(
            "cannot make a wheel of this paperlink: its installed files are not listed",
            hint="reinstall paperlink with pip, or run 'paperlink ci' from its source folder",
        )
    target = out / f"paperlink-{dist.version}-py3-none-any.whl"
    rows = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for f in sorted(files, key=str):
            data = Path(str(f.locate())).read_bytes()
            wheel.writestr(f.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{f.as_posix()},sha256={digest},{len(data)}")
        rows.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return target
