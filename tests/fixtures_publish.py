"""Fixtures for the publish tests: a project with recorded runs and CITATION.cff (``make_study``; each
test module names its own ``study`` fixture, as the browser tests have another), and the fake server in
the environment ``paperlink publish`` reads."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from fixtures_zenodo import FakeZenodo
from helpers import git, run_cli

GEN = """\
import pathlib, sys
size = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
pathlib.Path('figures').mkdir(exist_ok=True)
pathlib.Path('results').mkdir(exist_ok=True)
pathlib.Path('figures/plot.svg').write_text('<svg id="plot"/>')
block = bytes(range(256)) * 4096
with open('results/big.bin', 'wb') as out:
    left = size
    while left > 0:
        out.write(block[: min(left, len(block))])
        left -= len(block)
print('generated')
"""

CITATION = """\
cff-version: 1.2.0
message: "If you use these results, please cite them."
title: "Results of the tide study"
authors:
  - family-names: Curie
    given-names: Marie
    orcid: "https://orcid.org/0000-0002-1825-0097"
    affiliation: "Sorbonne Université"
  - name: "The Tide Consortium"
license: MIT
keywords: [tides, "sea level"]
version: 1.0.0
preferred-citation:
  type: article
  title: "Tides"
  authors: [{family-names: Curie, given-names: Marie}]
  doi: 10.1234/tides.2026
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_study(project_dir: Path) -> Path:
    """The scratch project with CITATION.cff and two recorded runs: 'fig1' (clean) and 'gen' (dirty)."""
    (project_dir / "gen.py").write_text(GEN)
    (project_dir / "CITATION.cff").write_text(CITATION)
    git(project_dir, "add", ".")
    git(project_dir, "commit", "-q", "-m", "generator")
    run_cli("run", "--label", "fig1", "--", sys.executable, "make_figure.py", "fig1")
    with (project_dir / "gen.py").open("a") as script:
        script.write("# tuned\n")
    run_cli("run", "--label", "gen", "--", sys.executable, "gen.py", str(3 << 20))
    return project_dir


@pytest.fixture
def zenodo_env(zenodo: FakeZenodo, monkeypatch: pytest.MonkeyPatch) -> FakeZenodo:
    monkeypatch.setenv("ZENODO_TOKEN", zenodo.token)
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", zenodo.api)
    return zenodo


@pytest.fixture
def invenio_env(invenio: FakeZenodo, monkeypatch: pytest.MonkeyPatch) -> FakeZenodo:
    """The fake server as a plain InvenioRDM (records API only), with the token in the environment."""
    monkeypatch.setenv("ZENODO_TOKEN", invenio.token)
    monkeypatch.delenv("PAPERLINK_ZENODO_URL", raising=False)
    monkeypatch.delenv("PAPERLINK_ZENODO_API", raising=False)
    return invenio
