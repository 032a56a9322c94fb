"""The environment variables a record keeps: the allow-list's glob patterns, matched without a regex."""

from __future__ import annotations

import fnmatch

import pytest

from paperlink.recorder.platform import ENV_ALLOW, _name_matcher, recorded_environment

PATTERNS = (*ENV_ALLOW, "MY_*", "A?C", "X[YZ]", "*_HOME")
NAMES = ["PATH", "PATHX", "path", "LC_ALL", "LC_", "lc_all", "MY_", "MY_X", "ABC", "AC", "XY", "XA",
         "JAVA_HOME", "HOME", "SLURM_JOB_ID", "OMP_NUM_THREADS", "A*C"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_allowed_names_are_those_fnmatchcase_accepts(name: str) -> None:
    allowed = _name_matcher(PATTERNS)
    assert allowed(name) == any(fnmatch.fnmatchcase(name, p) for p in PATTERNS)


def test_recorded_environment_keeps_allowed_names_and_redacts_secrets() -> None:
    environ = {"PATH": "/usr/bin", "LC_ALL": "C", "EDITOR": "vi", "MY_TOKEN": "hunter2-secret"}
    kept = recorded_environment(environ, ["MY_*"])
    assert set(kept) == {"PATH", "LC_ALL", "MY_TOKEN"}
    assert kept["PATH"] == "/usr/bin" and kept["MY_TOKEN"] != "hunter2-secret"
