import json
import sys
from pathlib import Path

from helpers import paperlink_process, run_cli


def test_help_lists_the_exit_codes() -> None:
    out = run_cli("--help").output
    assert "Exit codes: 0 ok" in out and "130 interrupted" in out


def test_list_show_diff_tag_reason(project_dir: Path) -> None:
    run_cli(
        "run", "-q", "--label", "one", "--tag", "draft", "--", sys.executable, "make_figure.py", "a"
    )
    run_cli("run", "-q", "--label", "two", "--", sys.executable, "make_figure.py", "b")
    table = run_cli("list").output.splitlines()
    assert table[0].split()[:2] == ["LABEL", "STARTED"]
    assert [line.split()[0] for line in table[1:]] == ["two", "one"]
    listed = json.loads(run_cli("list", "--json").output)
    assert [r["label"] for r in listed] == ["two", "one"] and listed[1]["tags"] == ["draft"]
    assert [r["label"] for r in json.loads(run_cli("list", "--tag", "draft", "--json").output)] == [
        "one"
    ]

    shown = run_cli("show", "one").output
    assert "Record one" in shown and "figures/a.svg" in shown and "sha256:" in shown

    diff = run_cli("diff", "one", "two").output
    assert "argv" in diff and "figures/a.svg" in diff and "figures/b.svg" in diff
    diff_json = json.loads(run_cli("diff", "one", "two", "--json").output)
    assert {d["section"] for d in diff_json["differences"]} >= {"command", "outputs"}
    assert "do not differ" in run_cli("diff", "one", "one").output

    run_cli("tag", "two", "final", "checked")
    run_cli("tag", "two", "checked", "--remove")
    run_cli("reason", "two", "the good one")
    record = json.loads(run_cli("show", "two", "--json").output)
    assert record["tags"] == ["final"] and record["reason"] == "the good one"


def test_unknown_label_has_its_own_exit_code(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "baseline", "--", sys.executable, "make_figure.py")
    done = paperlink_process("show", "baselin")
    assert done.returncode == 6
    assert b"Error: no record labelled 'baselin'" in done.stderr
    assert b"did you mean baseline?" in done.stderr
    assert b"Traceback" not in done.stderr


def test_invalid_label_and_tag_are_usage_errors(project_dir: Path) -> None:
    result = run_cli("run", "--label", "a:b", "--", "true", ok=False)
    assert result.exit_code == 2 and "invalid label 'a:b'" in result.output
    run_cli("run", "-q", "--label", "ok", "--", "true")
    result = run_cli("tag", "ok", "with space", ok=False)
    assert result.exit_code == 2


def test_init_refuses_to_overwrite(project_dir: Path) -> None:
    result = run_cli("init", ok=False)
    assert result.exit_code == 2 and "already exists" in result.output


def test_store_errors_exit_5_with_a_clear_message(project_dir: Path) -> None:
    store = project_dir / ".paperlink" / "records.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{store}{extra}").unlink(missing_ok=True)
    store.write_bytes(b"garbage" * 1000)
    done = paperlink_process("list")
    assert done.returncode == 5
    assert b"corrupted" in done.stderr and b"Traceback" not in done.stderr


def test_debug_shows_the_traceback(project_dir: Path) -> None:
    done = paperlink_process("--debug", "show", "nothing")
    assert done.returncode == 6 and b"Traceback" in done.stderr


def test_store_option_points_elsewhere(project_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.sqlite"
    from paperlink.core.store import RecordStore

    RecordStore.create(other).close()
    run_cli("--store", str(other), "run", "-q", "--label", "there", "--", "true")
    assert "there" in run_cli("--store", str(other), "list").output
    assert "there" not in run_cli("list").output


def test_show_json_is_the_canonical_form(project_dir: Path) -> None:
    from paperlink.core.records import Record

    run_cli("run", "-q", "--label", "canon", "--", sys.executable, "make_figure.py")
    text = run_cli("show", "canon", "--json").output.rstrip("\n")
    record = Record.from_json(text)
    assert record.to_json() == text
    assert text.startswith('{"$schema":')


def test_project_outside_git_is_recorded_as_such(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    run_cli("init")
    (tmp_path / "fig.py").write_text("open('figures/x.svg', 'w').write('<svg/>')\n")
    run_cli("run", "-q", "--label", "nogit", "--", sys.executable, "fig.py")
    record = json.loads(run_cli("show", "nogit", "--json").output)
    assert record["code"]["vcs"] is None and record["code"]["main_script"]["path"] == "fig.py"
    assert "not under version control" in run_cli("show", "nogit").output
