"""Shared fixtures: a scratch project (a git repository with paperlink initialised).

Area-specific fixtures live in ``tests/fixtures_<area>.py`` modules, registered in ``pytest_plugins``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO_ROOT, git, run_cli

pytest_plugins: list[str] = [
    "fixtures_zenodo",
    "fixtures_publish",
    "fixtures_browser",
    "fixtures_docker",
    "fixtures_latex",
    "fixtures_hostile",
    "fixtures_filesystems",
    "fixtures_slurm",
    "fixtures_sumatra",
    "fixtures_postgres",
]

# Subprocesses (`python -m paperlink`) import this checkout, whatever is installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)
# Commits in scratch repositories need an identity, whatever the machine's git config says.
os.environ.setdefault("GIT_AUTHOR_NAME", "paperlink tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "tests@paperlink.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "paperlink tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "tests@paperlink.invalid")


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A git repository with one committed script, ``paperlink init`` done, as the working directory."""
    root = tmp_path / "study"
    root.mkdir()
    (root / "make_figure.py").write_text(
        "import sys, pathlib\n"
        "name = sys.argv[1] if len(sys.argv) > 1 else 'fig1'\n"
        "pathlib.Path('figures').mkdir(exist_ok=True)\n"
        "pathlib.Path(f'figures/{name}.svg').write_text(f'<svg id=\"{name}\"/>')\n"
        "print('made', name)\n"
    )
    (root / ".gitignore").write_text("figures/\nresults/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "analysis")
    monkeypatch.chdir(root)
    run_cli("init", "--name", "study")
    git(root, "add", "paperlink.toml")
    git(root, "commit", "-q", "-m", "paperlink")
    yield root


# With pytest-xdist (scripts/test.sh runs the whole suite on two workers, --dist loadgroup), the tests
# that share one machine-wide resource run on one worker, one after the other: the Docker engine and its
# images (a test may remove an image another uses), and the Slurm cluster (one slurmctld per machine).
_DOCKER_FIXTURES = {
    "docker_engine",
    "busybox_image",
    "unique_image",
    "registry",
    "container_project",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "slurm_cluster" in fixtures:
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif (
            item.get_closest_marker("docker") is not None
            or fixtures & _DOCKER_FIXTURES
            or item.nodeid.startswith("tests/test_example_paper.py")
        ):
            item.add_marker(pytest.mark.xdist_group("docker"))
