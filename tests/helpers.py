"""Helpers the tests share: run git, the CLI in-process, or paperlink as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from paperlink.cli.main import cli

REPO_ROOT = Path(__file__).resolve().parent.parent


def require(available: object, what: str) -> None:
    """Fail (never skip) when a real part a test needs is missing: a skipped test proves nothing."""
    if not available:
        pytest.fail(
            f"{what}: `bash scripts/test.sh` installs and starts everything the tests need",
            pytrace=False,
        )


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def run_cli(*args: str, ok: bool = True, input: str | None = None) -> Result:
    """Invoke the CLI in-process; with ``ok`` the call must succeed (exceptions are not swallowed)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=not ok, input=input)
    if ok:
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def paperlink_process(
    *args: str, cwd: Path | None = None, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m paperlink ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "paperlink", *args],
        cwd=cwd,
        capture_output=True,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
