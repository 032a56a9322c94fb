"""paperlink store export | import: records moved between stores as files, keyed on run_id."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import run_cli

from paperlink.core.store import RecordStore
from paperlink.exchange.transfer import export_file_name


def _show(store: Path, label: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        run_cli("--store", str(store), "show", label, "--json").output
    )
    return data


def _rows(store: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(store) as db:
        return sorted(db.execute("SELECT label, run_id, data, reason FROM records").fetchall())


@pytest.mark.parametrize("target", ["exported", "exported.jsonl"])
def test_export_and_import_carry_records_tags_annotations_and_contents(
    figure_project: Path, tmp_path: Path, target: str
) -> None:
    home = figure_project / ".paperlink" / "records.sqlite"
    run_cli("tag", "fig_1-a.b", "accepted")
    run_cli("reason", "fig_1-a.b", "the figure of the paper")
    with RecordStore(home) as store:
        store.set_annotation("sweep.2", "publication", {"doi": "10.5281/zenodo.1", "url": None})
        labels = store.labels()
    out = tmp_path / target
    exported = run_cli("store", "export", str(out)).output
    assert f"exported {len(labels)} record(s)" in exported
    if target.endswith(".jsonl"):
        assert len(out.read_text().splitlines()) == len(labels)
    else:
        assert sorted(p.name for p in out.iterdir()) == sorted(map(export_file_name, labels))

    other = tmp_path / "other" / "records.sqlite"  # does not exist yet: import makes it
    first = run_cli("--store", str(other), "store", "import", str(out)).output
    assert f"imported {len(labels)} record(s); 0 already there" in first
    for label in labels:
        assert _show(other, label) == _show(home, label)
    assert _show(other, "fig_1-a.b")["tags"] == ["accepted"]
    assert _show(other, "sweep.2")["publication"]["doi"] == "10.5281/zenodo.1"  # type: ignore[index]
    # The stored contents travel: the values file `paperlink value` kept, and stdout.
    shown = run_cli("--store", str(other), "show", "fig_1-a.b", "--stdout").output
    assert shown == run_cli("show", "fig_1-a.b", "--stdout").output

    # Twice changes nothing.
    before = _rows(other)
    again = run_cli("--store", str(other), "store", "import", str(out)).output
    assert f"imported 0 record(s); {len(labels)} already there" in again
    assert _rows(other) == before


def test_import_reports_a_label_clash_and_overwrites_nothing(
    figure_project: Path, tmp_path: Path
) -> None:
    run_cli("store", "export", str(tmp_path / "ours"), "--record", "table-3")
    # Another store where a different run holds the label table-3.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_cli(
        "-C",
        str(figure_project),
        "--store",
        str(elsewhere / "s.sqlite"),
        "store",
        "import",
        str(tmp_path / "ours"),
    )
    theirs = json.loads((tmp_path / "ours" / "table-3.json").read_text())
    theirs["record"]["run_id"] = "00000000-0000-4000-8000-000000000000"
    theirs["record"]["command"] = "something else"
    (tmp_path / "clash").mkdir()
    (tmp_path / "clash" / "table-3.json").write_text(json.dumps(theirs))
    before = _rows(elsewhere / "s.sqlite")
    result = run_cli(
        "--store", str(elsewhere / "s.sqlite"), "store", "import", str(tmp_path / "clash"), ok=False
    )
    assert result.exit_code == 1
    assert "the label 'table-3' is taken by another run" in result.output
    assert "not imported" in result.output
    assert _rows(elsewhere / "s.sqlite") == before


def test_import_refuses_what_is_not_an_export(project_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"format": "something"}\n')
    result = run_cli("store", "import", str(tmp_path / "x.jsonl"), ok=False)
    assert result.exit_code == 2
    assert "x.jsonl:1 is not a paperlink record export" in result.output
    (tmp_path / "y.jsonl").write_text("{not json\n")
    result = run_cli("store", "import", str(tmp_path / "y.jsonl"), ok=False)
    assert result.exit_code == 2
    assert "y.jsonl:1 is not JSON" in result.output
    assert "Traceback" not in result.output


def test_export_file_names_hold_any_label() -> None:
    assert export_file_name("fig/1") == "fig%2F1.json"
    assert export_file_name("fig_1-a.b") == "fig_1-a.b.json"
    assert export_file_name("..") == "%2E..json"
    assert export_file_name(".hidden") == "%2Ehidden.json"
