"""The house rules of the source tree (issue 14): the import contract in pyproject.toml holds, it catches a
wrong-way import, and no module outgrows what a newcomer can hold in their head."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# "Roughly 100-400 lines" per module, and none over about 450 (issue 14).
MAX_MODULE_LINES = 460
STAGES = ("core", "recorder", "containers", "exchange", "latex", "publish", "verify", "web", "cli")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # grimp finds the package to analyse on sys.path: PYTHONPATH makes it the copy under ``root``.
    done = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "NO_COLOR": "1", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Some import-linter releases colour their report even into a pipe: the words are what counts.
    done.stdout = _ANSI.sub("", done.stdout)
    return done


def test_the_import_contract_holds() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(
        REPO_ROOT / "paperlink",
        root / "paperlink",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__", "texfiles", "templates"),
    )
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_a_wrong_way_import_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    records = root / "paperlink" / "core" / "records.py"
    # Function-level, as the ones that slip in: the core reaching up into the command layer.
    records.write_text(
        records.read_text()
        + "\n\ndef _shortcut() -> None:\n    from paperlink.cli import main  # noqa\n"
    )
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "Stages import only downward BROKEN" in result.stdout
    assert "paperlink.core.records -> paperlink.cli.main" in result.stdout


def test_publish_importing_the_viewer_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    bundle = root / "paperlink" / "publish" / "bundle.py"
    bundle.write_text(
        bundle.read_text() + "\n\nfrom paperlink.web.site import write_site  # noqa\n"
    )
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "paperlink.publish.bundle -> paperlink.web.site" in result.stdout


def test_a_third_party_library_outside_its_stage_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    hashing = root / "paperlink" / "core" / "hashing.py"
    hashing.write_text(hashing.read_text() + "\n\nimport requests  # noqa\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "requests is used by publish only" in result.stdout
    assert "BROKEN" in result.stdout


def test_a_circle_inside_a_stage_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    links = root / "paperlink" / "web" / "links.py"
    links.write_text(
        links.read_text()
        + "\n\ndef _back() -> None:\n    from paperlink.web import pages  # noqa\n"
    )
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "No circles between the modules of a stage BROKEN" in result.stdout


def test_the_tree_is_the_stages_and_each_says_what_it_holds() -> None:
    package = REPO_ROOT / "paperlink"
    found = sorted(p.name for p in package.iterdir() if (p / "__init__.py").is_file())
    assert found == sorted(STAGES)
    for stage in STAGES:
        doc = (package / stage / "__init__.py").read_text()
        assert doc.startswith('"""') and len(doc.splitlines()[0]) > 20, (
            f"{stage}/__init__.py has no docstring"
        )
    # Everything at the top is the public API or below every stage.
    top = sorted(p.name for p in package.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "errors.py", "version.py"]


def test_the_readme_map_names_every_module_of_every_stage() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## How paperlink is built") :]
    section = section[: section.index("\n## ", 1)]
    bullets = {
        m.group(1): m.group(0)
        for m in re.finditer(
            r"^- \*\*`paperlink/(\w+)/`\*\*.*?(?=^- \*\*|\Z)", section, re.M | re.S
        )
    }
    assert sorted(bullets) == sorted(STAGES)
    for stage, text in bullets.items():
        named = set(re.findall(r"`(\w+)`", text))
        modules = {p.stem for p in (REPO_ROOT / "paperlink" / stage).glob("*.py")} - {"__init__"}
        assert modules <= named, (
            f"README's {stage} paragraph does not name {sorted(modules - named)}"
        )


def test_no_module_is_longer_than_a_newcomer_can_hold() -> None:
    long = {
        str(path.relative_to(REPO_ROOT)): n
        for path in (REPO_ROOT / "paperlink").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these along their concepts: {long}"
