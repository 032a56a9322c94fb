import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, paperlink_process

from paperlink.containers.engine import engine_url
from paperlink.core.config import (
    PROJECT_KEYS,
    TABLES,
    find_project,
    parse_toml,
    store_path_from_url,
)
from paperlink.core.config import _load as load_project
from paperlink.core.metadata import load_metadata
from paperlink.errors import ConfigError, NotInProjectError
from paperlink.latex.generate import public_url


def test_pyproject_tool_table_is_a_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.paperlink]\nname = "mine"\noutputs = ["plots"]\n'
    )
    (tmp_path / "src").mkdir()
    project = find_project(tmp_path / "src")
    assert project.root == tmp_path and project.name == "mine" and project.output_dirs == ["plots"]


def test_pyproject_without_table_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(NotInProjectError, match="paperlink init"):
        find_project(tmp_path)


def test_broken_toml_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "paperlink.toml").write_text("[project\nname=")
    with pytest.raises(ConfigError, match=r"paperlink\.toml is not valid TOML"):
        find_project(tmp_path)


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    (tmp_path / "paperlink.toml").write_text('[project]\noutputs = "figures"\n')
    with pytest.raises(ConfigError, match="'outputs' must be a list"):
        find_project(tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (".paperlink/records.sqlite", "/p/.paperlink/records.sqlite"),
        ("sqlite:///abs/s.sqlite", "/abs/s.sqlite"),
        ("sqlite://rel/s.sqlite", "/p/rel/s.sqlite"),
    ],
)
def test_store_urls(url: str, expected: str) -> None:
    assert store_path_from_url(url, Path("/p")) == Path(expected)


def test_postgresql_urls_name_a_server_and_other_schemes_are_refused() -> None:
    assert store_path_from_url("postgresql://me@db/x", Path("/p")) == "postgresql://me@db/x"
    assert store_path_from_url("postgres://me@db/x", Path("/p")) == "postgres://me@db/x"
    with pytest.raises(ConfigError, match="a SQLite file or a PostgreSQL database") as info:
        store_path_from_url("mysql://me:hunter2@db/x", Path("/p"))
    assert "hunter2" not in str(info.value)


# -- junk and misspelt settings (issue 12, item 5) ----------------------------------------------------------
def _fails_cleanly(done: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert err.startswith("Error: ") and "Traceback" not in err and "hint: " in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_misspelt_keys_are_refused_with_the_nearest_key(project_dir: Path) -> None:
    config = project_dir / "paperlink.toml"
    config.write_text(
        config.read_text().replace("outputs =", "output =") + '\n[latex]\nbase_ur = "https://x"\n'
    )
    err = _fails_cleanly(
        paperlink_process("run", "--label", "typo", "--", "true"),
        str(config),
        "unknown key 'output' in [project] (did you mean 'outputs'?)",
        "unknown key 'base_ur' in [latex] (did you mean 'base_url'?)",
    )
    assert "README.md" in err
    config.write_text(
        config.read_text().replace("output =", "outputs =").replace("base_ur", "base_url")
    )
    assert json.loads(paperlink_process("list", "--json").stdout) == []  # the run did not start


def test_project_keys_at_the_top_and_wrong_types_are_reported(project_dir: Path) -> None:
    config = project_dir / "paperlink.toml"
    config.write_text('image = "x"\n' + config.read_text())
    _fails_cleanly(paperlink_process("list"), "'image' at the top level belongs in [project]")
    config.write_text('[project]\nname = "s"\nmax_stream_bytes = true\n[publish]\ncreators = "x"\n')
    _fails_cleanly(
        paperlink_process("list"),
        "'max_stream_bytes' must be a integer, not a bool",
        "'creators' must be a list, not a string (in [publish])",
    )


def test_pyproject_table_keys_are_checked(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.paperlink]\noutptus = ["plots"]\n')
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'outptus' at \[tool.paperlink\] \(did you mean 'outputs'\?\)",
    ):
        find_project(tmp_path)


def test_binary_paperlink_toml_is_reported(project_dir: Path) -> None:
    config = project_dir / "paperlink.toml"
    config.write_bytes(Path(sys.executable).resolve().read_bytes()[:4096])
    _fails_cleanly(paperlink_process("list"), f"{config} is a binary file", "git checkout")
    config.write_bytes(b'[project]\nname = "caf\xe9"\n')  # Latin-1, not UTF-8
    _fails_cleanly(
        paperlink_process("list"), f"{config} is not UTF-8 text", "line 2 holds the byte 0xe9"
    )


def test_init_refuses_a_name_with_a_newline_and_writes_nothing(tmp_path: Path) -> None:
    done = paperlink_process("init", "--name", "a\nb", cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err, err
    assert "project name 'a\\nb' is not one line" in err and "--name NAME" in err
    assert not (tmp_path / "paperlink.toml").exists()
    assert not (tmp_path / ".paperlink").exists()


def test_init_writes_odd_folder_names_paperlink_can_read(tmp_path: Path) -> None:
    odd = 'new\nline "quoted" back\\slash\ttab\x7f'
    done = paperlink_process("init", "--output", odd, "--output", "figures", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert find_project(tmp_path).output_dirs == [odd, "figures"]
    assert paperlink_process("list", cwd=tmp_path).returncode == 0


EVERY_KEY = """
[project]
name = "every"
outputs = ["figures"]
store = ".paperlink/records.sqlite"
env_allow = ["OMP_NUM_THREADS"]
max_stream_bytes = 1024
image = "busybox:1"
source_date_epoch = 1
trace = true
[publish]
title = "t"
description = "d"
creators = [{name = "Curie, Marie", orcid = "0000-0002-1825-0097", affiliation = "A"}, "Noether, Emmy"]
license = "cc-by-4.0"
keywords = ["k"]
version = "1"
upload_type = "dataset"
paper = "10.1234/paper"
paper_doi = "10.1234/paper"
arxiv = "2401.01234"
related = ["10.1234/other", {identifier = "10.1234/third", relation = "references"}]
communities = ["c"]
organizations = {"A" = "https://a.example.org"}
[latex]
public_url = "https://example.org/viewer"
base_url = "https://example.org/viewer"
[containers]
engine = "unix:///run/podman.sock"
"""


def _readme_keys() -> set[tuple[str, str]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `\[(\w+)\]` \| `(\w+)` \|", section, re.MULTILINE))


def test_readme_lists_exactly_the_keys_paperlink_accepts(tmp_path: Path) -> None:
    schema = {("project", key) for key in PROJECT_KEYS} | {
        (table, key) for table, keys in TABLES.items() for key in keys
    }
    assert _readme_keys() == schema

    (tmp_path / "paperlink.toml").write_text(EVERY_KEY)
    assert find_project(tmp_path).name == "every"


class _Recording(dict):  # type: ignore[type-arg]
    """A settings table that notes every key the code looks up in it."""

    def __init__(self, name: str, data: dict[str, Any], seen: set[tuple[str, str]]) -> None:
        super().__init__(data)
        self.name, self.seen = name, seen

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add((self.name, key))
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.seen.add((self.name, key))
        return super().__getitem__(key)


def test_every_key_the_code_reads_is_accepted(tmp_path: Path) -> None:
    """Load a project, its archive metadata, its viewer URL and its engine address from settings that
    record each lookup: every key the code asks for is one the check accepts (and README lists)."""
    seen: set[tuple[str, str]] = set()
    data = parse_toml(EVERY_KEY)
    settings = _Recording("", {k: _Recording(k, v, seen) for k, v in data.items()}, seen)
    (tmp_path / "paperlink.toml").write_text(EVERY_KEY)
    project = load_project(tmp_path, tmp_path / "paperlink.toml", settings)
    load_metadata(project, labels=["a"])
    public_url(project)
    engine_url(project.settings)
    read = {(table, key) for table, key in seen if table}  # "": the top level, a table's name
    assert len(read) >= 20, read
    assert read <= _readme_keys(), read - _readme_keys()
    assert {key for table, key in seen if not table} <= {"project", *TABLES}
