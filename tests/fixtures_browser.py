"""Fixtures for the viewer: a project with real runs, records carrying container and publication
sections, the viewer as a real ``paperlink serve`` process, and Debian's headless Chromium.

Selenium drives the system browser through the system chromedriver; both paths are given explicitly
and Selenium Manager is told to stay offline, so nothing is ever downloaded.
"""

from __future__ import annotations

import os
import selectors
import shutil
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, git, run_cli

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import (
    CodeVersion,
    Outcome,
    Platform,
    Publication,
    PublishedFile,
    Record,
    format_time,
    utc_now,
)
from paperlink.core.runcontext import ContainerRef
from paperlink.core.store import RecordStore

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

# A script that draws a PNG (no plotting library needed): a coloured band whose colour is argv[2].
PLOT_SCRIPT = """\
import pathlib, struct, sys, zlib

def png(width, height, rgb):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

name = sys.argv[1] if len(sys.argv) > 1 else "plot"
colour = {"teal": (0, 128, 128), "orange": (230, 120, 20)}.get(sys.argv[2] if len(sys.argv) > 2 else "teal", (60, 60, 200))
pathlib.Path("figures").mkdir(exist_ok=True)
pathlib.Path(f"figures/{name}.png").write_bytes(png(320, 200, colour))
print(f"drew figures/{name}.png in", sys.argv[2] if len(sys.argv) > 2 else "teal")
"""

MANUSCRIPT = r"""\documentclass{article}
\usepackage{paperlink}
\begin{document}
\section{Results}
The baseline is in Figure~\ref{fig:base}.
\begin{figure}
  \plincludegraphics[width=.8\linewidth]{baseline:figures/curve.png}
  \caption{Baseline.}\label{fig:base}
\end{figure}
% \plincludegraphics{commented-out}
\input{appendix}
\end{document}
"""
APPENDIX = r"""\section{Appendix}
\plincludegraphics{tuned}
"""


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def file_digest(root: Path, relative: str) -> FileDigest:
    found = digest_file(root / relative)
    return FileDigest(
        path=relative, size=found.size, sha256=found.sha256, md5=found.md5, sha1=found.sha1
    )


def add_built_record(
    root: Path,
    label: str,
    *,
    outputs: list[FileDigest] | None = None,
    reason: str | None = None,
    argv: list[str] | None = None,
    container: ContainerRef | None = None,
    publication: Publication | None = None,
    tags: list[str] | None = None,
    exit_status: int = 0,
) -> Record:
    """Store a complete record built by hand (sections other features fill, hostile text, odd paths)."""
    now = format_time(utc_now())
    record = Record(
        label=label,
        project="study",
        run_id=str(uuid.uuid4()),
        argv=argv or ["python3", "plot.py"],
        code=CodeVersion(vcs="git", commit="0" * 40, branch="main"),
        outputs=outputs or [],
        platform=Platform(hostname="lab-1", os="Linux", python_version="3.11.2"),
        packages={"numpy": "1.26.4"},
        start_time=now,
        end_time=now,
        duration_seconds=1.5,
        outcome=Outcome(
            status="finished" if exit_status == 0 else "failed", exit_status=exit_status
        ),
        reason=reason,
        tags=tags or [],
        container=container,
    )
    with RecordStore(find_project(root).store_path) as store:
        store.add_record(record)
        if publication is not None:
            from dataclasses import asdict

            store.set_annotation(label, "publication", asdict(publication))
    return record


@dataclass
class Study:
    """The project the viewer tests browse: labels of its runs and the paths they made."""

    root: Path
    baseline: str = "baseline"
    tuned: str = "tuned"
    archived: str = "archived-in-container"


def make_study(root: Path) -> Study:
    """Real runs (baseline, then a dirty-tree tuned run) plus a record carrying container and publication
    sections, and a manuscript using two of the figures."""
    (root / "plot.py").write_text(PLOT_SCRIPT)
    git(root, "add", "plot.py")
    git(root, "commit", "-q", "-m", "plot")
    run_cli(
        "run", "--label", "baseline", "--tag", "paper", "--reason", "first look",
        "--", sys.executable, "plot.py", "curve", "teal",
    )  # fmt: skip
    (root / "plot.py").write_text(PLOT_SCRIPT.replace("320, 200", "300, 200"))  # uncommitted change
    run_cli(
        "run", "--label", "tuned", "--tag", "paper", "--tag", "sweep", "--reason", "narrower plot",
        "--", sys.executable, "plot.py", "tuned", "orange",
    )  # fmt: skip
    (root / "figures" / "archived.png").write_bytes(png_bytes(240, 160, (90, 40, 160)))
    output = file_digest(root, "figures/archived.png")
    add_built_record(
        root,
        "archived-in-container",
        outputs=[output],
        reason="final figure, in the container",
        argv=["python3", "plot.py", "archived"],
        tags=["paper"],
        container=ContainerRef(
            engine="docker",
            engine_version="24.0.7",
            reference="ghcr.io/lab/analysis:1.2",
            pinned_reference="ghcr.io/lab/analysis@sha256:" + "ab" * 32,
            image_id="sha256:" + "cd" * 32,
            repo_digests=["ghcr.io/lab/analysis@sha256:" + "ab" * 32],
            os="linux",
            architecture="amd64",
        ),
        publication=Publication(
            service="zenodo",
            server="https://sandbox.zenodo.org",
            deposition_id="123456",
            doi="10.5072/zenodo.123456",
            url="https://sandbox.zenodo.org/records/123456",
            published="2026-11-20T10:00:00Z",
            files=[
                PublishedFile(
                    name="archived.png",
                    md5=output.md5,
                    size=output.size,
                    source_path="figures/archived.png",
                )
            ],
        ),
    )
    (root / "paper").mkdir()
    (root / "paper" / "main.tex").write_text(
        MANUSCRIPT.replace(r"\input{appendix}", r"\input{appendix}" + "\n"
        r"\plincludegraphics{archived-in-container:figures/archived.png}")
    )  # fmt: skip
    (root / "paper" / "appendix.tex").write_text(APPENDIX)
    return Study(root)


@pytest.fixture
def study(project_dir: Path) -> Study:
    return make_study(project_dir)


# -- the viewer process ------------------------------------------------------------------------------
@dataclass
class Viewer:
    url: str
    process: subprocess.Popen[str]
    stderr_path: Path

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` (sent as given: no client-side normalisation of ``..``)."""
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def text(self, path: str, status: int = 200) -> str:
        code, _, body = self.get(path)
        assert code == status, f"GET {path}: {code}\n{body[:2000]!r}"
        return body.decode("utf-8")


def start_viewer(root: Path, *args: str, log_dir: Path) -> Viewer:
    """``python -m paperlink serve --port 0 ARGS`` in ``root``; returns once it printed its URL."""
    stderr_path = log_dir / f"viewer-{uuid.uuid4().hex[:8]}.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "paperlink", "serve", "--port", "0", *args],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=30):
        process.kill()
        raise AssertionError(f"the viewer printed no URL: {stderr_path.read_text()}")
    line = process.stdout.readline()
    if "http://" not in line:
        process.wait(timeout=10)
        raise AssertionError(f"the viewer did not start: {line!r} {stderr_path.read_text()}")
    url = line[line.index("http://") :].split()[0]
    return Viewer(url, process, stderr_path)


def stop_viewer(viewer: Viewer) -> str:
    viewer.process.terminate()
    try:
        viewer.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        viewer.process.kill()
        viewer.process.wait(timeout=10)
    if viewer.process.stdout:
        viewer.process.stdout.close()
    return viewer.stderr_path.read_text()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Viewer]]:
    """Start viewers with ``serve(root, *args)``; all are stopped after the test, and none may have
    logged a traceback."""
    started: list[Viewer] = []

    def start(root: Path, *args: str) -> Viewer:
        viewer = start_viewer(root, *args, log_dir=tmp_path)
        started.append(viewer)
        return viewer

    yield start
    for viewer in started:
        log = stop_viewer(viewer)
        assert "Traceback" not in log, log


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# -- the browser ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium through Debian's chromedriver; Selenium Manager stays offline."""
    os.environ["SE_OFFLINE"] = "true"
    for needed in (CHROMIUM, CHROMEDRIVER):
        assert Path(needed).exists() or shutil.which(Path(needed).name), (
            f"{needed} is missing: apt-get install chromium chromium-driver "
            "(listed in scripts/apt-packages.txt)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/NAME.png for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height + 120, 600), 8000))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path
