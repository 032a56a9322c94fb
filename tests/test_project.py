"""`paperlink init` and the project's settings in git (issue 12, item 9), against real git."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git, paperlink_process

from paperlink.core.records import Record


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one committed script, no paperlink yet."""
    root = tmp_path / "analysis"
    root.mkdir()
    (root / "fig.py").write_text("import pathlib\npathlib.Path('figures/f.txt').write_text('1')\n")
    (root / ".gitignore").write_text("figures/\nresults/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "analysis")
    return root


def _record(root: Path, label: str) -> Record:
    done = paperlink_process("show", label, "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    return Record.from_json(done.stdout.decode())


def _run(root: Path, label: str) -> subprocess.CompletedProcess[bytes]:
    done = paperlink_process("run", "--label", label, "--", sys.executable, "fig.py", cwd=root)
    assert done.returncode == 0, done.stderr
    return done


def test_init_says_to_commit_paperlink_toml(repo: Path) -> None:
    done = paperlink_process("init", cwd=repo)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr
    assert "Commit paperlink.toml before the first run" in out and "marked dirty" in out
    assert "git add paperlink.toml && git commit" in out and "paperlink init --commit" in out
    assert git(repo, "status", "--porcelain", "--", "paperlink.toml").startswith("??")


def test_init_commit_makes_the_first_record_clean(repo: Path) -> None:
    done = paperlink_process("init", "--commit", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "committed paperlink.toml" in done.stdout.decode()
    assert "Commit paperlink.toml" not in done.stdout.decode()
    assert git(repo, "log", "-1", "--format=%s", "--name-only").split() == [
        "add", "paperlink.toml", "paperlink.toml"
    ]  # fmt: skip
    assert git(repo, "status", "--porcelain") == ""
    done = _run(repo, "first")
    assert b"warning" not in done.stderr
    record = _record(repo, "first")
    assert not record.code.dirty and record.code.untracked == [] and record.code.diff_sha256 is None
    assert record.code.commit == git(repo, "rev-parse", "HEAD").strip()


def test_init_commit_commits_paperlink_toml_alone(repo: Path) -> None:
    (repo / "notes.txt").write_text("work in progress\n")
    git(repo, "add", "notes.txt")
    done = paperlink_process("init", "--commit", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert git(repo, "show", "--format=", "--name-only", "HEAD").split() == ["paperlink.toml"]
    assert git(repo, "diff", "--cached", "--name-only").split() == ["notes.txt"]  # still staged


def test_init_commit_outside_git_is_a_usage_error_writing_nothing(tmp_path: Path) -> None:
    done = paperlink_process("init", "--commit", cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err, err
    assert "--commit needs a git repository" in err and "git init" in err
    assert list(tmp_path.iterdir()) == []


def test_init_commit_refused_by_git_says_what_to_do(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'policy: no commits today' >&2\nexit 1\n")
    hook.chmod(0o755)
    done = paperlink_process("init", "--commit", cwd=repo)
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err, err
    assert "paperlink.toml is written but not committed" in err and "no commits today" in err
    assert "git add paperlink.toml && git commit" in err
    assert (repo / "paperlink.toml").is_file()  # the project itself is usable


def test_run_warns_once_while_paperlink_toml_is_untracked(repo: Path) -> None:
    assert paperlink_process("init", cwd=repo).returncode == 0
    first = _run(repo, "r1").stderr.decode()
    assert first.count("paperlink: warning: paperlink.toml is not committed") == 1, first
    assert "git add paperlink.toml && git commit" in first
    assert _record(repo, "r1").code.dirty  # what the warning is about
    assert "warning" not in _run(repo, "r2").stderr.decode()  # once
    git(repo, "add", "paperlink.toml")
    git(repo, "commit", "-q", "-m", "settings")
    assert "warning" not in _run(repo, "r3").stderr.decode()
    assert not _record(repo, "r3").code.dirty
    git(repo, "rm", "-q", "--cached", "paperlink.toml")
    git(repo, "commit", "-q", "-m", "untrack the settings again")
    assert "paperlink.toml is not committed" in _run(repo, "r4").stderr.decode()  # untracked anew
