"""The version of the code a run used: the git commit, branch, remote and the uncommitted changes.

The diff covers tracked files and new files that git does not ignore (through a throw-away index with
``git add --intent-to-add``, which writes nothing to the user's repository), so the exact code that ran can
be rebuilt from the commit plus the stored diff with ``git apply``. A new file's content goes into the diff
only when it is UTF-8 text of at most :data:`MAX_UNTRACKED_BYTES` whose name and content do not look
secret (``.env.local``, ``id_rsa``, a ``params.json`` with a password); every new file is listed in the
record with its size, its sha256 (unless it looks secret) and why its content was left out. Known secret
values are replaced in the diff too.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from paperlink.core.hashing import digest_file
from paperlink.core.model import model
from paperlink.core.programs import which
from paperlink.core.records import CodeVersion, UntrackedFile, format_time
from paperlink.core.redaction import Redactor, redact_url
from paperlink.core.secretfiles import secret_file_pattern
from paperlink.errors import CaptureError

# Untracked files larger than this are named in the record but left out of the diff.
MAX_UNTRACKED_BYTES = 1 << 20
# Program source, where only a string literal assigned to a secret-looking name counts as a secret (an
# unquoted name is a variable); any other text file is read as configuration, where ``token=abc`` counts.
CODE_SUFFIXES = frozenset(
    [
        ".py",
        ".r",
        ".jl",
        ".pl",
        ".rb",
        ".js",
        ".ts",
        ".m",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".java",
        ".go",
        ".rs",
        ".scala",
        ".kt",
        ".f",
        ".f90",
        ".lua",
        ".php",
        ".tex",
        ".do",
        ".sas",
    ]
)
# sha256 of the big files, which the caller may take from its digest cache.
Hasher = Callable[[Path], str | None]
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@model
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


def snapshot_code(
    root: Path,
    exclude: tuple[str, ...] = (),
    *,
    redactor: Redactor | None = None,
    hasher: Hasher | None = None,
) -> CodeSnapshot:
    """Read the repository holding ``root``; outside one (or without git), ``vcs`` is None.

    ``exclude`` lists folders, relative to ``root``, whose new files are outputs rather than code.
    ``redactor`` (default: none but the rule's forms) says which values are secret; ``hasher`` gives the
    sha256 of a new file too big for the diff (default: read it).
    """
    redactor = redactor or Redactor()
    if which("git") is None:
        return CodeSnapshot(CodeVersion(), b"")
    # The output folders are left out of git's listing of new files: with tens of thousands of results
    # in them, listing and parsing those would cost more than the rest of the run's start. Their tracked
    # files still count, asked for on their own (a listing without new files does not read the folders).
    outputs = [d for d in (os.path.normpath(d) for d in exclude) if d != "."]
    status_args = ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all", "--", "."]
    commands = [
        ["rev-parse", "--show-toplevel", "--show-prefix"],
        ["log", "-1", "--format=%H%x00%ct"],
        [*status_args, *(f":(exclude,literal){d}" for d in outputs)],
        ["config", "--get", "remote.origin.url"],
    ]
    if outputs:
        commands.append(
            ["status", "--porcelain=v1", "-z", "--untracked-files=no", "--",
             *(f":(literal){d}" for d in outputs)]
        )  # fmt: skip
    # Independent questions, asked at once: this is on the start-up path of every run.
    where, head, status, remote_out, *tracked_outputs = _git_parallel(root, *commands)
    if where.returncode != 0:
        return CodeSnapshot(CodeVersion(), b"")
    top, prefix = [*where.stdout.decode().splitlines(), ""][:2]
    commit = commit_time = None
    if head.returncode == 0 and head.stdout.strip():
        commit, _, stamp = head.stdout.decode().strip().partition("\x00")
        commit_time = format_time(datetime.fromtimestamp(int(stamp), tz=timezone.utc))
    if status.returncode != 0 and outputs:  # a git older than 1.9 knows no ':(exclude)'
        status = _git(root, *status_args)
    branch, untracked, changed = _parse_status(status.stdout)
    changed = changed or any(_parse_status(out.stdout)[2] for out in tracked_outputs)
    excluded = tuple(prefix + d.strip("/") + "/" for d in exclude)  # for that older git
    untracked = [p for p in untracked if not p.startswith(excluded)]
    listed = [untracked_file(Path(top) / p, p, redactor, hasher) for p in untracked]
    included = [p for p, item in zip(untracked, listed, strict=True) if item.in_diff]
    remote = remote_out.stdout.decode().strip() or None
    diff = _diff(Path(top), commit or EMPTY_TREE, included) if (changed or included) else b""
    version = CodeVersion(
        vcs="git",
        commit=commit,
        commit_time=commit_time,
        branch=branch,
        remote=redactor.url(redact_url(remote)) if remote else None,
        dirty=bool(changed or untracked),
        untracked=untracked,
        untracked_files=listed,
    )
    # Only the known values: a diff must still apply, so the forms (token = "…") are left to the
    # choice of files above.
    return CodeSnapshot(version, redactor.literal_data(diff))


def untracked_file(
    path: Path, name: str, redactor: Redactor, hasher: Hasher | None = None
) -> UntrackedFile:
    """What the record says about one new file, and whether its content may go into the diff."""
    item = UntrackedFile(path=name)
    try:
        st = path.lstat()
    except OSError as exc:
        item.left_out = f"unreadable ({exc.strerror or exc})"
        return item
    item.size = st.st_size
    pattern = secret_file_pattern(name)
    if pattern is not None:
        item.left_out = f"its name looks like a secret ({pattern})"
        return item
    if stat.S_ISLNK(st.st_mode):
        item.left_out = "a symbolic link"
        return item
    if not stat.S_ISREG(st.st_mode):
        item.left_out = "not a regular file"
        return item
    if st.st_size > MAX_UNTRACKED_BYTES:
        item.sha256 = (hasher or _sha256_of)(path)
        item.left_out = f"larger than {MAX_UNTRACKED_BYTES >> 20} MiB"
        return item
    try:
        content = path.read_bytes()
    except OSError as exc:
        item.left_out = f"unreadable ({exc.strerror or exc})"
        return item
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        item.sha256 = hashlib.sha256(content).hexdigest()
        item.left_out = "not a UTF-8 text file"
        return item
    line = redactor.secret_line(text, code=path.suffix.lower() in CODE_SUFFIXES)
    if line is not None:
        item.left_out = f"line {line} looks like a secret"
        return item
    item.sha256 = hashlib.sha256(content).hexdigest()
    item.in_diff = True
    return item


def _sha256_of(path: Path) -> str | None:
    try:
        return digest_file(path).sha256
    except CaptureError:
        return None


def _diff(top: Path, base: str, untracked: list[str]) -> bytes:
    import shutil  # only for a dirty tree: not on a clean run's start-up path
    import tempfile

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
