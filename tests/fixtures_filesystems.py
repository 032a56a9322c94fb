"""Real small and read-only file systems for the store's fault tests: a tmpfs of a given size, a
loop-mounted ext4 image (for ``chattr +i`` and read-only remounts), each unmounted after its test.

Where mounting is refused (not root, no CAP_SYS_ADMIN), a full disk falls back to ``ulimit -f``: the
processes a test starts get RLIMIT_FSIZE, which stops a file from growing as a full disk would. Which one
ran is shown in the terminal summary (and in each test's junit properties).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import require

TMPFS = "tmpfs"
ULIMIT = "ulimit -f"
_ran: dict[str, list[str]] = {}


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def _umount(path: Path) -> None:
    done = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # A process the test started may still hold a file open; detach the mount all the same.
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=True)


class SmallFileSystem:
    """``size`` bytes of room at ``path``: a tmpfs, or a folder whose writers get ``ulimit -f``."""

    def __init__(self, path: Path, size: int, kind: str) -> None:
        self.path = path
        self.size = size
        self.kind = kind
        self.limit: int | None = size if kind == ULIMIT else None
        self._filler = path / "filler.bin"

    def fill(self) -> None:
        """Take all the room that is left."""
        if self.kind == ULIMIT:
            self.limit = 0
            return
        with self._filler.open("ab", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 65536)
            except OSError:
                pass
            try:
                while True:
                    out.write(b"\0" * 512)
            except OSError:
                pass

    def free(self) -> None:
        """Give back what :meth:`fill` took (and lift ``ulimit -f``)."""
        self._filler.unlink(missing_ok=True)
        self.limit = None

    def run(
        self, *args: str, cwd: Path, limited: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """``python -m paperlink ARGS`` as a real process (under ``ulimit -f`` in the fallback)."""
        limit = self.limit if limited else None

        def preexec() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run(
            [sys.executable, "-m", "paperlink", *args],
            cwd=cwd,
            capture_output=True,
            check=False,
            preexec_fn=preexec,
            timeout=300,
        )


@pytest.fixture
def small_fs(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[int], SmallFileSystem]]:
    """``small_fs(size)``: a file system with ``size`` bytes of room (PAPERLINK_TEST_SMALL_FS=ulimit
    forces the fallback)."""
    mounted: list[Path] = []

    def make(size: int) -> SmallFileSystem:
        path = tmp_path / f"small-{len(mounted)}"
        path.mkdir()
        kind = ULIMIT
        if os.environ.get("PAPERLINK_TEST_SMALL_FS") != "ulimit":
            done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
            if done.returncode == 0:
                kind = TMPFS
                mounted.append(path)
        _ran.setdefault(kind, []).append(request.node.nodeid)
        request.node.user_properties.append(("small_fs", kind))
        print(f"small file system of {size} bytes at {path}: {kind}")
        return SmallFileSystem(path, size, kind)

    try:
        yield make
    finally:
        for path in mounted:
            _umount(path)


@pytest.fixture
def ext4_fs(tmp_path: Path) -> Iterator[Path]:
    """A loop-mounted ext4 image of 64 MiB (tmpfs has no immutable flag), unmounted after the test."""
    for tool in ("mkfs.ext4", "chattr", "mount"):
        require(shutil.which(tool), f"{tool} is missing (apt-get install e2fsprogs mount)")
    require(os.geteuid() == 0, "mounting an ext4 image needs root")
    image = tmp_path / "ext4.img"
    with image.open("wb") as out:
        out.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    path = tmp_path / "ext4"
    path.mkdir()
    done = _mount("-o", "loop", str(image), str(path))
    require(done.returncode == 0, f"mount -o loop {image} failed: {done.stderr.strip()}")
    try:
        yield path
    finally:
        # Immutable files would outlive the image's folder otherwise; the image itself is a plain file.
        subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True, check=False)
        _umount(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for kind, tests in sorted(_ran.items()):
        terminalreporter.write_line(f"small file systems: {kind} for {len(tests)} test(s)")
