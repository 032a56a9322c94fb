"""Finding programs on PATH without shutil: the same answers as shutil.which on POSIX."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from paperlink.core.programs import which


@pytest.fixture
def folders(tmp_path: Path) -> str:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    for folder, name, mode in [(first, "tool", 0o644), (second, "tool", 0o755), (second, "run", 0o755),
                               (first, "run", 0o755)]:  # fmt: skip
        path = folder / name
        path.write_text("#!/bin/sh\n")
        path.chmod(mode)
    (first / "dir").mkdir()
    return os.pathsep.join([str(first), str(second), str(first)])


@pytest.mark.parametrize("name", ["tool", "run", "dir", "missing", "sh", "/bin/sh", "/no/such"])
def test_which_answers_as_shutil_which(folders: str, name: str) -> None:
    path = f"{folders}{os.pathsep}/bin"
    assert which(name, path=path) == shutil.which(name, path=path)


def test_which_reads_path_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, folders: str
) -> None:
    monkeypatch.setenv("PATH", folders)
    assert which("tool") == shutil.which("tool") and which("tool", path="") is None
