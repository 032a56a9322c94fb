"""The version of the code a run used: the git commit, branch, remote and the uncommitted changes.

The diff covers tracked files and new files that git does not ignore (through a throw-away index with
``git add --intent-to-add``, which writes nothing to the user's repository), so the exact code that ran can
be rebuilt from the commit plus the stored diff with ``git apply``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from paperlink.environment import redact_url
from paperlink.records import CodeVersion, format_time

# Untracked files larger than this are named in the record but left out of the diff.
MAX_UNTRACKED_BYTES = 1 << 20
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass
class CodeSnapshot:
    version: CodeVersion
    diff: bytes  # empty when the tree is clean


def _git(
    root: Path, *args: str, stdin: bytes | None = None, index: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = None
    if index is not None:
        env = {**os.environ, "GIT_INDEX_FILE": index}
    return subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        check=False,
        env=env,
    )


def _git_parallel(root: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[bytes]]:
    procs = [
        subprocess.Popen(
            ["git", "-C", str(root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        for args in commands
    ]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        out, _ = proc.communicate()
        results.append(subprocess.CompletedProcess(args, proc.returncode, out, b""))
    return results


def snapshot_code(root: Path, exclude: tuple[str, ...] = ()) -> CodeSnapshot:
    """Read the repository holding ``root``; outside one (or without git), ``vcs`` is None.

    ``exclude`` lists folders, relative to ``root``, whose new files are outputs rather than code.
    """
    if shutil.which("git") is None:
        return CodeSnapshot(CodeVersion(), b"")
    # Four independent questions, asked at once: this is on the start-up path of every run.
    where, head, status, remote_out = _git_parallel(
        root,
        ["rev-parse", "--show-toplevel", "--show-prefix"],
        ["log", "-1", "--format=%H%x00%ct"],
        ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all", "--", "."],
        ["config", "--get", "remote.origin.url"],
    )
    if where.returncode != 0:
        return CodeSnapshot(CodeVersion(), b"")
    top, prefix = [*where.stdout.decode().splitlines(), ""][:2]
    commit = commit_time = None
    if head.returncode == 0 and head.stdout.strip():
        commit, _, stamp = head.stdout.decode().strip().partition("\x00")
        commit_time = format_time(datetime.fromtimestamp(int(stamp), tz=timezone.utc))
    branch, untracked, changed = _parse_status(status.stdout)
    excluded = tuple(prefix + d.strip("/") + "/" for d in exclude)
    untracked = [p for p in untracked if not p.startswith(excluded)]
    small = [p for p in untracked if _small_file(Path(top) / p)]
    remote = remote_out.stdout.decode().strip() or None
    diff = _diff(Path(top), commit or EMPTY_TREE, small) if (changed or small) else b""
    version = CodeVersion(
        vcs="git",
        commit=commit,
        commit_time=commit_time,
        branch=branch,
        remote=redact_url(remote) if remote else None,
        dirty=bool(changed or untracked),
        untracked=untracked,
    )
    return CodeSnapshot(version, diff)


def _small_file(path: Path) -> bool:
    try:
        return (
            path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_UNTRACKED_BYTES
        )
    except OSError:
        return False


def _diff(top: Path, base: str, untracked: list[str]) -> bytes:
    import tempfile  # only for a dirty tree: not on a clean run's start-up path

    git_dir = _git(top, "rev-parse", "--absolute-git-dir").stdout.decode().strip()
    with tempfile.TemporaryDirectory(prefix="paperlink-index-") as tmp:
        index = str(Path(tmp) / "index")
        source = Path(git_dir) / "index"
        if source.is_file():
            shutil.copyfile(source, index)
        if untracked:
            _git(
                top,
                "add",
                "--intent-to-add",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                stdin=b"\x00".join(p.encode("utf-8", "surrogateescape") for p in untracked),
                index=index,
            )
        return _git(top, "diff", "--binary", base, index=index).stdout


def _parse_status(raw: bytes) -> tuple[str | None, list[str], bool]:
    """(branch, untracked paths, whether tracked files changed) from ``git status --porcelain -z``."""
    branch: str | None = None
    untracked: list[str] = []
    changed = False
    skip_next = False
    for entry in raw.decode("utf-8", "surrogateescape").split("\x00"):
        if skip_next:  # the original name of a rename or copy
            skip_next = False
            continue
        if not entry:
            continue
        if entry.startswith("## "):
            head = entry[3:]
            if head.startswith("No commits yet on "):
                branch = head[len("No commits yet on ") :]
            elif not head.startswith("HEAD (no branch)"):
                branch = head.split("...", 1)[0]
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.append(path)
        else:
            changed = True
            skip_next = "R" in code or "C" in code
    return branch, untracked, changed
