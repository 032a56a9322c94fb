"""paperlink import sumatra: real Sumatra 0.8 records (its SQLite store and its JSON export) imported, then a
manuscript written for Sumatra compiled against them with pdflatex."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from fixtures_latex import compile_tex
from fixtures_sumatra import SumatraProject
from helpers import REPO_ROOT, git, paperlink_process, run_cli

from paperlink.core.config import find_project
from paperlink.core.records import ImportedFrom, Record
from paperlink.core.store import RecordStore
from paperlink.exchange.sumatra_records import convert_record, sumatra_run_id
from paperlink.exchange.sumatra_store import parse_timestamp
from paperlink.latex.manuscript import Reference
from paperlink.latex.pdf_manifest import read_pdf_manifest
from paperlink.latex.references import resolve_output

SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())


@pytest.fixture
def smt_project(sumatra_project: SumatraProject, monkeypatch: pytest.MonkeyPatch) -> SumatraProject:
    """The Sumatra project as a paperlink project too (its own paperlink.toml), as the working folder."""
    monkeypatch.chdir(sumatra_project.root)
    if not (sumatra_project.root / "paperlink.toml").exists():
        run_cli("init", "--name", "study")
    return sumatra_project


def _import(store: Path, source: Path, *extra: str, ok: bool = True) -> dict[str, list[str]]:
    result = run_cli(
        "--store", str(store), "import", "sumatra", str(source), "--json", *extra, ok=ok
    )
    data: dict[str, list[str]] = json.loads(result.stdout)
    return data


def _records(store: Path) -> dict[str, Record]:
    with RecordStore(store) as opened:
        return {label: opened.get(label) for label in opened.labels()}


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# -- real Sumatra ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_import_keeps_what_sumatra_recorded(smt_project: SumatraProject, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    assert sorted(_import(store, smt_project.store)["added"]) == ["fig1", "fig2"]
    records = _records(store)
    fig1, fig2 = records["fig1"], records["fig2"]
    root = smt_project.root
    for record in records.values():
        jsonschema.validate(json.loads(record.to_json()), SCHEMA)
        assert record.kind == "imported" and record.outcome.status == "finished"
        assert record.imported_from is not None
        assert record.imported_from.tool == "sumatra" and record.imported_from.project == "study"
        assert record.imported_from.datastore_root == "Data"
        assert record.code.vcs == "git"
        assert record.code.commit == git(root, "rev-parse", "HEAD").strip()
        assert record.argv[1:] == ["plot.py", f"{record.label}.json", "inputs/samples.txt"]
        assert "shapes" in record.packages  # Sumatra found the local package
    assert fig1.tags == ["accepted", "draft"] and fig2.tags == []  # _finished_ is the status
    assert fig1.reason == "first look" and fig2.reason == "brighter"
    assert fig1.imported_from is not None
    assert fig1.imported_from.outcome == "the colours look right"
    # Sumatra merged model.alpha=0.75 into the file's parameters; the record keeps the merged set.
    assert fig1.parameters == {"name": "fig1", "shade": 40, "model.alpha": 0.75, "model.depth": 3}
    assert fig2.parameters["name"] == "fig2" and fig2.parameters["shade"] == 200
    assert fig1.parameter_source("shade") == "file fig1.json"
    for record in (fig1, fig2):
        name = record.label
        png = root / "Data" / name / "plot.png"
        output = record.output(f"Data/{name}/plot.png")
        assert output is not None
        assert output.sha1 == _sha1(png)  # Sumatra's own digest
        assert output.sha256 == hashlib.sha256(png.read_bytes()).hexdigest()  # added from the file
        assert record.datastore_path(output.path) == f"{name}/plot.png"
        samples = next(i for i in record.inputs if i.path == "inputs/samples.txt")
        assert samples.sha1 == _sha1(root / "inputs" / "samples.txt")
    # fig1 ran committed code, fig2 a changed working copy: its diff is stored.
    assert not fig1.code.dirty and fig2.code.dirty
    assert fig1.code.main_script is not None
    committed = subprocess.run(
        ["git", "-C", str(root), "show", "HEAD:plot.py"], capture_output=True, check=True
    ).stdout
    assert fig1.code.main_script.sha256 == hashlib.sha256(committed).hexdigest()
    diff = run_cli("--store", str(store), "show", "fig2", "--code-diff").output
    assert "+# tweaked after the first run" in diff
    shown = run_cli("--store", str(store), "show", "fig1").output
    assert "imported    from sumatra project 'study'" in shown
    assert (
        "made fig1 from 8 values"
        in run_cli("--store", str(store), "show", "fig1", "--stdout").output
    )
    run_cli("--store", str(store), "site", str(tmp_path / "site"))
    page = (tmp_path / "site" / "records" / "fig2.html").read_text()
    assert "Imported from</dt><dd>Sumatra project <code>study</code>" in page
    assert "sha256:None" not in page  # fig2's script ran with changes: no digest of it is known


@pytest.mark.slow
def test_importing_twice_or_from_the_export_changes_nothing(
    smt_project: SumatraProject, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite"
    _import(store, smt_project.store)
    before = {label: r.digest() for label, r in _records(store).items()}
    again = _import(store, smt_project.store)
    assert again["added"] == [] and sorted(again["present"]) == ["fig1", "fig2"]
    exported = _import(store, smt_project.export)
    assert exported["added"] == [] and sorted(exported["present"]) == ["fig1", "fig2"]
    assert {label: r.digest() for label, r in _records(store).items()} == before
    # The export alone gives the same runs, digests and parameters.
    other = tmp_path / "other.sqlite"
    assert sorted(_import(other, smt_project.export)["added"]) == ["fig1", "fig2"]
    for label, record in _records(other).items():
        original = _records(store)[label]
        assert record.run_id == original.run_id
        assert record.outputs == original.outputs and record.inputs == original.inputs
        assert record.parameters == original.parameters and record.tags == original.tags
        assert record.code.diff_sha256 == original.code.diff_sha256


@pytest.mark.slow
def test_a_label_another_run_holds_is_reported_and_left_alone(
    smt_project: SumatraProject, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite"
    RecordStore.create(store).close()
    run_cli("--store", str(store), "run", "--label", "fig1", "--", sys.executable, "-c", "pass")
    result = run_cli("--store", str(store), "import", "sumatra", str(smt_project.store), ok=False)
    assert result.exit_code == 1, result.output
    assert "the label 'fig1' is taken by another run" in result.stderr
    records = _records(store)
    assert records["fig1"].kind == "command" and records["fig2"].kind == "imported"


@pytest.mark.slow
@pytest.mark.tex
def test_a_sumatra_manuscript_compiles_unchanged_against_the_imported_records(
    smt_project: SumatraProject, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite"
    _import(store, smt_project.store)
    root = smt_project.root
    sha1 = _sha1(root / "Data" / "fig1" / "plot.png")
    folder = root / f"paper-{tmp_path.name}"
    folder.mkdir()
    # Sumatra's example.tex, with its three forms of reference and its per-figure options.
    (folder / "main.tex").write_text(
        "\\documentclass[a4paper,11pt]{article}\n"
        "\\usepackage[margin=2.5cm]{geometry}\n"
        "\\usepackage[pdftex]{graphicx}\n"
        "\\usepackage[utf8x]{inputenc}\n"
        f"\\usepackage[recordstore={smt_project.store}, project=study]{{sumatra}}\n"
        "\\begin{document}\n"
        f"\\smtincludegraphics[width=\\textwidth,\n     digest={sha1}\n    ]{{fig1}}\n"
        f"\\smtincludegraphics[width=3cm, project=study, recordstore={smt_project.store}]"
        "{fig2:fig2/plot.png}\n"
        "\\smtincludegraphics[height=2cm,project=study]{fig2?plot.png}\n"
        "\\end{document}\n"
    )
    run_cli("--store", str(store), "latex", "--tex", str(folder / "main.tex"))
    compiled = compile_tex(folder)
    assert compiled.returncode == 0, compiled.log[-3000:]
    assert "Figure 'fig1': ../Data/fig1/plot.png matches record 'fig1'" in compiled.flat_log
    assert "Figure 'fig2:fig2/plot.png': ../Data/fig2/plot.png matches record" in compiled.flat_log
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert {f["sha1"] for f in manifest["figures"]} == {
        sha1,
        _sha1(root / "Data" / "fig2" / "plot.png"),
    }
    verified = run_cli("--store", str(store), "verify", str(folder / "main.tex"), ok=False)
    assert verified.exit_code == 0, verified.output
    # A reference the generator did not see (an edited manuscript): paperlink.sty resolves Sumatra's
    # path itself.
    (folder / "later.tex").write_text(
        "\\documentclass{article}\n\\usepackage{sumatra}\n\\begin{document}\n"
        "\\smtincludegraphics[width=2cm, recordstore=x]{fig1:fig1/plot.png}\n\\end{document}\n"
    )
    later = compile_tex(folder, "later.tex")
    assert later.returncode == 0, later.log[-3000:]
    assert "Figure 'fig1:fig1/plot.png': ../Data/fig1/plot.png matches record" in later.flat_log


@pytest.mark.slow
def test_a_moved_sumatra_project_keeps_its_paths(
    sumatra_project: SumatraProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(
        sumatra_project.root, moved, ignore=shutil.ignore_patterns("paper*", ".paperlink")
    )
    (moved / "paperlink.toml").unlink(missing_ok=True)
    monkeypatch.chdir(moved)
    run_cli("init", "--name", "moved")
    result = run_cli("import", "sumatra", ".smt/records")
    assert "imported 2 Sumatra record(s) from .smt/records" in result.output
    fig1 = _records(find_project(moved).store_path)["fig1"]
    output = fig1.output("Data/fig1/plot.png")
    assert output is not None and output.sha256 is not None
    assert fig1.working_directory == "."


@pytest.mark.slow
def test_an_imported_record_reruns_to_the_same_figure(
    smt_project: SumatraProject, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite"
    _import(store, smt_project.store)
    result = run_cli("--store", str(store), "rerun", "fig1", ok=False)
    assert result.exit_code == 0, result.output
    assert "identical  Data/fig1/plot.png" in result.output


@pytest.mark.slow
def test_a_newer_sumatra_schema_is_refused(smt_project: SumatraProject, tmp_path: Path) -> None:
    newer = tmp_path / "records"
    shutil.copy(smt_project.store, newer)
    with sqlite3.connect(newer) as db:
        db.execute(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('django_store', '0003_future', '2030-01-01')"
        )
    done = paperlink_process("--store", str(tmp_path / "s.sqlite"), "import", "sumatra", str(newer))
    assert done.returncode == 5
    assert b"newer Sumatra (schema migration 0003_future)" in done.stderr
    assert b"Traceback" not in done.stderr
    assert not (tmp_path / "s.sqlite").exists() or not _records(tmp_path / "s.sqlite")


# -- bad input, without Sumatra -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"hello\n", 5, b"neither Sumatra's SQLite record store nor its JSON export"),
        (b'[{"foo": 1}]', 5, b"is JSON but not Sumatra's record export: record 1 has no 'label'"),
        (b"[{oops", 5, b"is not readable JSON"),
        (None, 5, b"an SQLite database but not a Sumatra record store"),
    ],
)
def test_what_is_not_a_sumatra_store_is_refused_clearly(
    project_dir: Path, content: bytes | None, code: int, message: bytes
) -> None:
    source = project_dir / "records"
    if content is None:  # paperlink's own store: SQLite, but not Sumatra's
        shutil.copy(find_project(project_dir).store_path, source)
    else:
        source.write_bytes(content)
    done = paperlink_process("import", "sumatra", str(source), cwd=project_dir)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and b"Traceback" not in done.stderr


def test_an_export_without_its_project_asks_for_it(project_dir: Path) -> None:
    source = project_dir / "export.json"
    source.write_text(json.dumps([_sumatra_dict()]))
    done = paperlink_process("import", "sumatra", str(source), cwd=project_dir)
    assert done.returncode == 2 and b"--sumatra-project NAME" in done.stderr
    done = paperlink_process(
        "import", "sumatra", str(source), "--sumatra-project", "study", cwd=project_dir
    )
    assert done.returncode == 0, done.stderr
    assert b"imported 1 Sumatra record(s)" in done.stdout
    assert b"output Data/x/fig.png is not on disk" in done.stderr  # only its SHA-1 is known


def test_a_missing_path_or_a_folder_without_a_store(project_dir: Path) -> None:
    done = paperlink_process("import", "sumatra", "nowhere", cwd=project_dir)
    assert done.returncode == 2 and b"nowhere does not exist" in done.stderr
    done = paperlink_process("import", "sumatra", ".", cwd=project_dir)
    assert done.returncode == 5 and b"holds no Sumatra record store" in done.stderr


def _sumatra_dict(**changes: object) -> dict[str, object]:
    """One record as Sumatra's JSON export writes it (record2dict)."""
    data: dict[str, object] = {
        "label": "20240102-030405",
        "timestamp": "2024-01-02 03:04:05+0000",
        "reason": "why",
        "duration": 2.5,
        "executable": {
            "path": "/usr/bin/python3",
            "version": "3.11",
            "name": "Python",
            "options": "",
        },
        "repository": {
            "url": "https://user:secret@example.org/repo.git",
            "type": "GitRepository",
            "upstream": None,
        },
        "main_file": "run.py",
        "version": "abc123",
        "parameters": {
            "content": "alpha = 0.5\nname = 'x'  # comment\n",
            "type": "SimpleParameterSet",
        },
        "input_data": [],
        "script_arguments": "<parameters> --fast",
        "launch_mode": {
            "type": "SerialLaunchMode",
            "parameters": {"working_directory": "/old/study"},
        },
        "datastore": {"type": "FileSystemDataStore", "parameters": {"root": "/old/study/Data"}},
        "input_datastore": {"type": "FileSystemDataStore", "parameters": {"root": "/old/study"}},
        "outcome": "",
        "stdout_stderr": "",
        "output_data": [
            {"path": "x/fig.png", "digest": "a" * 40, "metadata": {"size": 3}, "creation": None}
        ],
        "tags": ["_failed_", "needs work"],
        "diff": "",
        "user": "Ann <ann@example.org>",
        "dependencies": [],
        "platforms": [],
        "repeats": "20240101-000000",
    }
    data.update(changes)
    return data


def test_conversion_of_a_record_from_a_moved_project(project_dir: Path) -> None:
    project = find_project(project_dir)
    converted = convert_record({**_sumatra_dict(), "project": "study"}, project, source="x.json")
    record = converted.record
    assert record.outcome.status == "failed" and record.tags == ["needs-work"]
    assert record.parameters == {"alpha": 0.5, "name": "x"}
    assert record.argv == ["/usr/bin/python3", "run.py", "20240102-030405.param", "--fast"]
    assert record.outputs[0].path == "Data/x/fig.png" and record.outputs[0].sha1 == "a" * 40
    assert record.imported_from == ImportedFrom(
        tool="sumatra",
        source="x.json",
        project="study",
        label="20240102-030405",
        timestamp="2024-01-02 03:04:05+0000",
        datastore_root="Data",
        input_datastore_root=".",
        outcome=None,
        user="Ann <ann@example.org>",
        repository="https://example.org/repo.git",  # no credentials
    )
    assert record.links == {"repeat_of": "20240101-000000"}
    assert "secret" not in json.dumps(converted.original)  # the annotation keeps no credentials
    assert record.end_time == "2024-01-02T03:04:07.500000Z"
    # The SQLite store's timestamp (microseconds, no zone) gives the same run_id as the JSON's.

    assert record.run_id == sumatra_run_id(
        "study", "20240102-030405", parse_timestamp("2024-01-02 03:04:05.123456")
    )
    # Sumatra's LABEL:PATH (relative to the data store) and paperlink's both name the output.
    for text in ("20240102-030405:x/fig.png", "20240102-030405:Data/x/fig.png"):
        assert resolve_output(record, Reference.parse(text)).path == "Data/x/fig.png"


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        ("JSONParameterSet", '{"a": {"b": 1}}', {"a.b": 1}),
        ("YAMLParameterSet", "a:\n  b: 2\nc: text\n", {"a.b": 2, "c": "text"}),
        ("ConfigParserParameterSet", "[sim]\nsteps = 10\n", {"sim.steps": "10"}),
        ("NTParameterSet", "{'a': 1, 'b': {'c': [1, 2]}}", {"a": 1, "b.c": [1, 2]}),
        ("dict", "{}", {}),
    ],
)
def test_each_sumatra_parameter_set_type_is_read(
    project_dir: Path, kind: str, content: str, expected: dict[str, object]
) -> None:
    data = {**_sumatra_dict(parameters={"type": kind, "content": content}), "project": "p"}
    record = convert_record(data, find_project(project_dir), source="x").record
    assert record.parameters == expected


def test_a_label_paperlink_cannot_hold_is_not_imported(project_dir: Path) -> None:
    source = project_dir / "export.json"
    source.write_text(json.dumps([_sumatra_dict(label="a:b"), _sumatra_dict()]))
    done = paperlink_process(
        "import", "sumatra", str(source), "--sumatra-project", "p", cwd=project_dir
    )
    assert done.returncode == 1
    assert b"record 'a:b': invalid label" in done.stderr and b"imported 1 Sumatra" in done.stdout
