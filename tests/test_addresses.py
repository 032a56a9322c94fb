"""No invented addresses: what paperlink writes names only things that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
from fixtures_zenodo import FakeZenodo
from helpers import REPO_ROOT, run_cli

from paperlink.core.packagedata import template_source
from paperlink.core.records import RECORD_SCHEMA_ID, Record
from paperlink.core.store import RecordStore
from paperlink.version import __version__

SCHEMA = json.loads((REPO_ROOT / "paperlink" / "core" / "schema" / "record-v1.json").read_text())


def test_paperlink_toml_points_to_the_config_reference_in_the_repository(project_dir: Path) -> None:
    text = (project_dir / "paperlink.toml").read_text()
    assert "paperlink.dev" not in text and not re.search(r"https?://", text)
    reference = re.search(r"docs/[\w.-]+\.md", text)
    assert reference is not None and (REPO_ROOT / reference.group(0)).is_file()
    documented = (REPO_ROOT / reference.group(0)).read_text()
    for key in ("name", "outputs", "store", "env_allow", "public_url", "organizations", "engine"):
        assert f"`{key}`" in documented, key


def test_records_name_the_schema_that_ships_in_the_package(project_dir: Path) -> None:
    run_cli("run", "--label", "r1", "--", "true")
    with RecordStore(project_dir / ".paperlink" / "records.sqlite") as store:
        data = store.get("r1").to_dict()
    assert data["$schema"] == RECORD_SCHEMA_ID == SCHEMA["$id"]
    assert RECORD_SCHEMA_ID.startswith("urn:")
    jsonschema.validate(data, SCHEMA)
    # A record written by paperlink 0.1.0 (the old $schema) stays valid and readable.
    old = json.loads((REPO_ROOT / "tests" / "data" / "record-v1.json").read_text())
    jsonschema.validate(old, SCHEMA)
    assert Record.from_dict(old).label


def test_the_user_agent_names_no_made_up_site(zenodo_env: FakeZenodo, project_dir: Path) -> None:
    (project_dir / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: t\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )
    run_cli("run", "--label", "r1", "--", "true")
    run_cli("publish", "--record", "r1", "--draft")
    agents = {entry["headers"]["User-Agent"] for entry in zenodo_env.log()}
    assert agents == {f"paperlink/{__version__}"}


def test_nothing_shipped_names_paperlink_dev() -> None:
    shipped = [
        *(REPO_ROOT / "paperlink").rglob("*.py"),
        *(REPO_ROOT / "paperlink" / "templates").rglob("*.*"),
        *(REPO_ROOT / "paperlink" / "texfiles").glob("*.*"),
        REPO_ROOT / "README.md",
    ]
    for path in shipped:
        if path.suffix in (".py", ".j2", ".md", ".tex", ".sty", ".html", ".css"):
            text = path.read_text(encoding="utf-8")
            # Only as the legacy id old records carry, which the schema still accepts.
            for line in text.splitlines():
                assert "paperlink.dev" not in line, f"{path}: {line.strip()}"
    assert "paperlink.dev" not in template_source("paperlink-data.tex.j2")
