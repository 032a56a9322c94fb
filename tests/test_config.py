from pathlib import Path

import pytest

from paperlink.config import find_project, store_path_from_url
from paperlink.errors import ConfigError, NotInProjectError


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


def test_other_store_schemes_are_refused() -> None:
    with pytest.raises(ConfigError, match="only SQLite"):
        store_path_from_url("postgresql://db/x", Path("/p"))
