"""Start a project: write its settings and create its store; keep its settings in git.

A ``paperlink.toml`` that git does not track makes every record dirty (the file is an untracked change,
so its diff is stored with each run). ``init`` says so, and commits it on request; ``run`` reminds once.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from paperlink.core.config import STATE_DIR, Project, find_project, write_config
from paperlink.core.programs import which
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import ConfigError, UsageError

# Present while the reminder about an untracked settings file has been given (see untracked_warning).
WARNED_MARKER = "warned-untracked-config"


def init_project(
    root: Path,
    *,
    name: str | None = None,
    store: str | None = None,
    outputs: list[str] | None = None,
    commit: bool = False,
) -> Project:
    """Write ``paperlink.toml`` in ``root``, create the store and the output folders; return the project.

    The store's folder gets a ``.gitignore`` so the database never makes the code look modified. With
    ``commit``, ``paperlink.toml`` is committed to the git repository holding ``root`` (and nothing else,
    whatever is staged); :class:`UsageError` before anything is written when there is no repository.
    """
    from paperlink.core.config import DEFAULT_STORE
    from paperlink.core.store import display_location

    if store is not None and display_location(store) != store:
        # paperlink.toml is committed: a password there would be published with the code.
        raise UsageError(
            f"the store URL {display_location(store)} is given with a password, which paperlink.toml "
            "(committed with the code) must not hold",
            hint="leave the password out of the URL and put it in PGPASSWORD or ~/.pgpass",
        )
    if commit and git_top(root) is None:
        raise UsageError(
            f"--commit needs a git repository, and {root} is not inside one",
            hint="run 'git init' first, or leave out --commit",
        )
    write_config(root, name=name or root.name, store=store or DEFAULT_STORE, outputs=outputs)
    project = find_project(root)
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# paperlink's record store and caches: not code\n*\n")
    RecordStore.create(project.store_path).close()
    for folder in project.output_dirs:
        (root / folder).mkdir(parents=True, exist_ok=True)
    if commit:
        commit_settings(project)
    return project


def git_top(root: Path) -> Path | None:
    """The top folder of the git work tree holding ``root``; None outside one or without git."""
    if which("git") is None:
        return None
    done = _git(root, "rev-parse", "--show-toplevel")
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def settings_untracked(project: Project) -> bool:
    """Whether the project's settings file is inside a git work tree but not tracked (nor ignored)."""
    config = project.config_path
    if config is None or git_top(project.root) is None:
        return False
    done = _git(
        project.root, "status", "--porcelain=v1", "--untracked-files=all", "--", config.name
    )
    return done.returncode == 0 and done.stdout.startswith("??")


def commit_settings(project: Project) -> None:
    """Commit the project's settings file alone; raises :class:`ConfigError` when git refuses."""
    config = project.config_path
    assert config is not None
    for args in (
        ("add", "--", config.name),
        ("commit", "-q", "-m", "add paperlink.toml", "--", config.name),
    ):
        done = _git(project.root, *args)
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise ConfigError(
                f"{config} is written but not committed: 'git {args[0]}' failed: "
                + (said[-1] if said else f"exit {done.returncode}"),
                hint=f"fix that, then: git add {config.name} && git commit -m 'add paperlink.toml'",
            )


def untracked_warning(project: Project, record: Record) -> str | None:
    """The reminder to commit the settings file, the first time a record is made while git does not
    track it (``record.code.untracked`` says so; no extra git call on the run's start-up path); None
    otherwise. Given once until the file is tracked: a marker in the state folder remembers."""
    config = project.config_path
    marker = project.state_dir / WARNED_MARKER
    if config is None or not _among(config, record.code.untracked):
        if record.code.vcs and marker.exists():
            with contextlib.suppress(OSError):
                marker.unlink()
        return None
    if marker.exists():
        return None
    with contextlib.suppress(OSError):
        marker.write_text(f"{config.name} was untracked when this reminder was given\n")
    return (
        f"{config.name} is not committed, so this record and every one until it is are marked dirty "
        f"and keep its diff; commit it: git add {config.name} && git commit -m 'add paperlink.toml'"
    )


def _among(config: Path, untracked: list[str]) -> bool:
    """Whether ``config`` is one of ``untracked`` (paths relative to the top of its work tree)."""
    for path in untracked:
        parts = Path(path).parts
        if parts and config.parts[-len(parts) :] == parts:
            top = Path(*config.parts[: -len(parts)])
            if (top / ".git").exists():
                return True
    return False


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
