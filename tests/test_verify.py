import json
import sys
from pathlib import Path

import pytest
from fixtures_rerun import valued_project
from helpers import paperlink_process, run_cli

from paperlink.core.hashing import digest_file


def manuscript(project_dir: Path, body: str) -> Path:
    paper = project_dir / "paper"
    paper.mkdir(exist_ok=True)
    tex = paper / "main.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\\end{document}\n")
    return tex


def test_all_figures_match(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    run_cli("run", "-q", "--label", "b", "--", sys.executable, "make_figure.py", "b")
    sha1 = digest_file(project_dir / "figures/b.svg").sha1
    manuscript(
        project_dir,
        f"\\plincludegraphics{{a:figures/a.svg}}\n\\smtincludegraphics[digest={sha1}]{{b?b.svg}}\n",
    )
    result = run_cli("verify", "paper/main.tex")
    assert "2 checked, all OK." in result.output
    report = json.loads(run_cli("verify", "paper/main.tex", "--json").output)
    assert report["ok"] and [i["status"] for i in report["items"]] == ["OK", "OK"]
    assert report["items"][1]["where"] == "paper/main.tex:4"
    assert {c["name"] for c in report["items"][1]["checks"]} == {
        "disk",
        "tex-digest",
        "environment",
    }


def test_changed_figure_is_a_mismatch_exit_3(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(project_dir, "\\plincludegraphics{a}\n")
    (project_dir / "figures/a.svg").write_text("<svg>tampered</svg>")
    done = paperlink_process("verify", "paper/main.tex")
    assert done.returncode == 3
    out = done.stdout.decode()
    assert (
        "MISMATCH" in out
        and "figures/a.svg is sha256:" in out
        and "re-run the producing command" in out
    )


def test_wrong_tex_digest_missing_file_and_unknown_label(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    run_cli("run", "-q", "--label", "b", "--", sys.executable, "make_figure.py", "b")
    (project_dir / "figures/b.svg").unlink()
    manuscript(
        project_dir,
        "\\plincludegraphics[digest="
        + "0" * 40
        + "]{a}\n\\plincludegraphics{b}\n\\plincludegraphics{nosuch}\n",
    )
    report = json.loads(run_cli("verify", "paper/main.tex", "--json", ok=False).output)
    assert report["exit_code"] == 3
    a, b, missing = report["items"]
    assert (
        a["status"] == "MISMATCH" and f"the manuscript expects sha1:{'0' * 40} but" in a["reason"]
    )
    assert b["status"] == "MISSING" and "figures/b.svg is not there" in b["reason"]
    assert missing["status"] == "MISSING" and "no record labelled 'nosuch'" in missing["reason"]


def test_unreadable_file_is_an_error_exit_1(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    target = project_dir / "figures/a.svg"
    target.unlink()
    target.mkdir()
    manuscript(project_dir, "\\plincludegraphics{a:figures/a.svg}\n")
    result = run_cli("verify", "paper/main.tex", ok=False)
    assert result.exit_code == 1 and "ERROR" in result.output and "is a directory" in result.output


def test_missing_manuscript_is_a_usage_problem(project_dir: Path) -> None:
    result = run_cli("verify", "nope.tex", ok=False)
    assert result.exit_code != 0 and "manuscript nope.tex not found" in result.output


def test_verify_against_the_published_archive(project_dir: Path, zenodo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZENODO_TOKEN", zenodo.token)
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", zenodo.api)
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    run_cli("run", "-q", "--label", "b", "--", sys.executable, "make_figure.py", "b")
    manuscript(project_dir, "\\plincludegraphics{a}\n\\plincludegraphics{b}\n")
    (project_dir / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: Verify test\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )
    run_cli("publish", "--record", "a", "--no-site")
    monkeypatch.delenv("ZENODO_TOKEN")  # a published record is public: no token needed to check it
    report = json.loads(run_cli("verify", "paper/main.tex", "--zenodo", "--json", ok=False).output)
    a, b = report["items"]
    assert a["status"] == "OK", a["reason"]
    assert {c["name"] for c in a["checks"]} == {
        "disk",
        "archive",
        "environment",
        "archive-environment",
    }
    assert b["status"] == "NOT ARCHIVED" and "paperlink publish --record b" in b["reason"]
    assert report["exit_code"] == 3
    downloaded = json.loads(
        run_cli("verify", "paper/main.tex", "--zenodo", "--download", "--json", ok=False).output
    )
    assert "downloaded and re-hashed" in json.dumps(downloaded["items"][0]["checks"])
    assert any(r["path"].endswith("/content") for r in zenodo.log() if r["method"] == "GET")
    # The archive's copy is corrupted on the server: its checksum no longer matches the record.
    (dep,) = zenodo.state()
    name = "a__figures__a.svg"
    (Path(dep["bucket_dir"]) / name).write_bytes(b"<svg>evil</svg>")
    bad = json.loads(
        run_cli("verify", "paper/main.tex", "--zenodo", "--download", "--json", ok=False).output
    )
    assert bad["items"][0]["status"] == "MISMATCH" and "downloaded" in bad["items"][0]["reason"]
    assert bad["exit_code"] == 3


def test_unreachable_archive_is_an_error_exit_1(project_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    from paperlink.core.store import RecordStore

    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with RecordStore(project_dir / ".paperlink/records.sqlite") as store:
        out = store.get("a").outputs[0]
        store.set_annotation("a", "publication", {
            "service": "zenodo", "server": f"http://127.0.0.1:{port}/api", "deposition_id": "7",
            "files": [{"name": "a__figures__a.svg", "md5": out.md5, "size": out.size, "source_path": out.path}],
        })  # fmt: skip
    manuscript(project_dir, "\\plincludegraphics{a}\n")
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", f"http://127.0.0.1:{port}/api")
    done = paperlink_process("verify", "paper/main.tex", "--zenodo", "--max-retry-time", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert b"ERROR" in done.stdout


def test_verify_a_doi_without_the_project(
    project_dir: Path, zenodo, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZENODO_TOKEN", zenodo.token)
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", zenodo.api)
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    (project_dir / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: Review test\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )
    summary = json.loads(run_cli("publish", "--record", "a", "--json").output)
    doi = summary["doi"]
    monkeypatch.delenv("ZENODO_TOKEN")
    elsewhere = tmp_path / "reviewer"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no project here: the archive alone is enough
    report = json.loads(
        run_cli("verify", "--doi", doi, "--zenodo-url", zenodo.api, "--json").output
    )
    assert report["ok"] and [i["reference"] for i in report["items"]] == ["a:figures/a.svg"]
    assert report["items"][0]["checks"][0]["reason"] == "downloaded and re-hashed"
    by_url = run_cli("verify", "--doi", summary["url"], "--zenodo-url", zenodo.api).output
    assert "1 checked, all OK." in by_url
    (dep,) = zenodo.state()
    (Path(dep["bucket_dir"]) / "a__figures__a.svg").write_bytes(b"<svg>swapped</svg>")
    bad = run_cli("verify", "--doi", doi, "--zenodo-url", zenodo.api, ok=False)
    assert bad.exit_code == 3 and "MISMATCH" in bad.output


def test_doi_that_is_not_one_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = run_cli("verify", "--doi", "not-a-doi", ok=False)
    assert result.exit_code == 2 and "neither a DOI nor a record URL" in result.output
    result = run_cli("verify", ok=False)
    assert result.exit_code == 2 and "name the manuscript" in result.output


def test_locate_understands_dois_and_urls() -> None:
    from paperlink.verify.review import SANDBOX_API, ZENODO_API, locate

    assert locate("10.5281/zenodo.1234") == (ZENODO_API, "1234")
    assert locate("https://doi.org/10.5281/zenodo.99") == (ZENODO_API, "99")
    assert locate("10.5072/zenodo.7") == (SANDBOX_API, "7")
    assert locate("https://data.example.org/records/42") == ("https://data.example.org/api", "42")


def test_verify_the_compiled_pdf_catches_a_stale_pdf(figure_project: Path) -> None:  # type: ignore[no-untyped-def]
    from fixtures_latex import compile_tex, generate, write_manuscript

    paper = figure_project / "paper"
    tex = write_manuscript(
        paper, "\\plincludegraphics{fig_1-a.b}\nSlope \\plvalue{fig_1-a.b:slope}.\n"
    )
    generate(tex)
    compiled = compile_tex(paper)
    assert compiled.returncode == 0, compiled.log[-2000:]
    report = json.loads(run_cli("verify", "paper/main.pdf", "--json").output)
    assert report["ok"], report
    kinds = {i["kind"]: i for i in report["items"]}
    assert {c["name"] for c in kinds["figure"]["checks"]} >= {"pdf", "disk"}
    assert kinds["value"]["status"] == "OK" and "slope = " in kinds["value"]["reason"]
    assert "all OK" in run_cli("verify", "paper/main.tex").output
    # The figure is made again with other bytes by a new run of the same label's script: the PDF is stale.
    pdf_before = (paper / "main.pdf").read_bytes()
    subprocess_run = __import__("subprocess").run
    done = subprocess_run(
        [sys.executable, "-m", "paperlink", "run", "--label", "fig_1-a.b-v2", "--", sys.executable, "plot.py",
         "fig_1-a.b", "200"],
        cwd=figure_project, capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (paper / "main.pdf").write_bytes(pdf_before)
    stale = json.loads(run_cli("verify", "paper/main.pdf", "--json", ok=False).output)
    assert stale["exit_code"] == 3
    figure = next(i for i in stale["items"] if i["kind"] == "figure")
    assert figure["status"] == "MISMATCH" and "disk" in figure["reason"]


def test_pdf_without_a_manifest_is_a_clear_error(project_dir: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    with (project_dir / "plain.pdf").open("wb") as stream:
        writer.write(stream)
    (project_dir / "broken.pdf").write_bytes(b"%PDF-1.4\ntruncated")
    broken = paperlink_process("verify", "broken.pdf")
    assert broken.returncode == 1 and b"cannot read broken.pdf as a PDF" in broken.stderr
    done = paperlink_process("verify", "plain.pdf")
    assert done.returncode == 1
    assert b"carries no paperlink-manifest.json" in done.stderr and b"Traceback" not in done.stderr
    missing = paperlink_process("verify", "nothere.pdf")
    assert missing.returncode == 1 and b"nothere.pdf not found" in missing.stderr


def test_a_stale_pdf_manifest_is_a_mismatch(project_dir: Path) -> None:
    from paperlink.core.config import find_project
    from paperlink.core.store import RecordStore
    from paperlink.verify.manuscript import Verifier

    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    project = find_project(project_dir)
    with RecordStore(project.store_path) as store:
        out = store.get("a").outputs[0]
        manifest = {
            "format": "paperlink-manifest", "version": 1,
            "figures": [{"label": "a", "path": out.path, "sha256": "0" * 64}],
            "values": [{"label": "a", "name": "nope", "value": "1"}],
        }  # fmt: skip
        report = Verifier(project, store).verify_manifest("paper.pdf", manifest)
    figure, value = report.items
    assert figure.status == "MISMATCH" and "the PDF is stale" in figure.reason
    assert value.status == "MISSING" and "has no value 'nope'" in value.reason
    assert report.exit_code == 3


def test_values_in_the_tex_are_checked(project_dir: Path) -> None:
    (project_dir / "vals.py").write_text(
        "import json, pathlib\npathlib.Path('results').mkdir(exist_ok=True)\n"
        "pathlib.Path('results/run.values.json').write_text(json.dumps({'slope': '0.73'}))\n"
    )
    run_cli("run", "-q", "--label", "v", "--", sys.executable, "vals.py")
    manuscript(
        project_dir, "Slope \\plvalue{v:slope}, \\plvalue{v:missing}, \\plvalue{nolabel:x}.\n"
    )
    report = json.loads(run_cli("verify", "paper/main.tex", "--json", ok=False).output)
    good, missing, nolabel = report["items"]
    assert good["status"] == "OK" and "slope = 0.73" in good["reason"]
    assert (
        missing["status"] == "MISSING"
        and "has no value 'missing' (values: slope)" in missing["reason"]
    )
    assert nolabel["status"] == "MISSING" and "no record labelled 'nolabel'" in nolabel["reason"]


def test_a_figure_remade_by_a_newer_run_says_which_and_what_to_do(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "old", "--", sys.executable, "make_figure.py", "a")
    manuscript(project_dir, "\\plincludegraphics{old}\n")
    (project_dir / "make_figure.py").write_text(
        (project_dir / "make_figure.py").read_text().replace("<svg id", "<svg  id")
    )
    run_cli("run", "-q", "--label", "new", "--", sys.executable, "make_figure.py", "a")
    result = run_cli("verify", "paper/main.tex", ok=False)
    assert result.exit_code == 3
    assert "figures/a.svg now comes from record 'new', not 'old'" in result.output


def test_truncated_downloads_and_unreachable_dois_give_clear_messages(
    project_dir: Path,
    zenodo,
    monkeypatch,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import socket

    monkeypatch.setenv("ZENODO_TOKEN", zenodo.token)
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", zenodo.api)
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    (project_dir / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: Truncation test\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )
    doi = json.loads(run_cli("publish", "--record", "a", "--no-site", "--json").output)["doi"]
    manuscript(project_dir, "\\plincludegraphics{a}\n")
    # Every download of the figure is cut in half: retried, then reported, never taken for the file.
    zenodo.fault("truncate", method="GET", path="a__figures__a.svg/content", times=1000)
    done = paperlink_process(
        "verify", "paper/main.tex", "--zenodo", "--download", "--max-retry-time", "2"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert b"ERROR" in done.stdout and b"Traceback" not in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    gone = paperlink_process("verify", "--doi", doi, "--zenodo-url", f"http://127.0.0.1:{port}/api",
                             "--max-retry-time", "1")  # fmt: skip
    assert gone.returncode == 8, gone.stderr
    assert b"127.0.0.1" in gone.stderr and b"Traceback" not in gone.stderr


def test_a_path_from_the_manuscript_folder_names_the_output_as_the_package_accepts(
    project_dir: Path,
) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(
        project_dir, "\\plincludegraphics{a:../figures/a.svg}\n\\plincludegraphics{a:a.svg}\n"
    )
    report = json.loads(run_cli("verify", "paper/main.tex", "--json", ok=False).output)
    relative, wrong = report["items"]
    assert relative["status"] == "OK"  # what \includegraphics opens from paper/
    assert wrong["status"] == "MISSING" and "has no output 'a.svg'" in wrong["reason"]


def valued_paper(project_dir: Path) -> None:
    """Run 'orig' of the committed fit.py (tests/fixtures_rerun.py) and a manuscript that uses its figure
    and both its values."""
    valued_project(project_dir)
    manuscript(
        project_dir,
        "\\plincludegraphics{orig:figures/fit.svg}\nSlope \\plvalue{orig:slope}, "
        "n \\plvalue{orig:n}.\n",
    )


def rerun_records(project_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    listed = json.loads(run_cli("list", "--json").output)
    return [r for r in listed if r["label"] != "orig"]


def test_verify_rerun_checks_figures_and_values_and_tags_its_records(project_dir: Path) -> None:
    valued_paper(project_dir)
    report = json.loads(run_cli("verify", "paper/main.tex", "--rerun", "--json").output)
    assert report["ok"] and report["exit_code"] == 0
    for item in report["items"]:
        assert {c["name"]: c["status"] for c in item["checks"]}["rerun"] == "OK", item
    (again,) = rerun_records(project_dir)
    assert again["tags"] == ["verify-rerun"]


@pytest.mark.parametrize(
    ("how", "ended"), [("exit", "failed (exit 2)"), ("kill", "killed (exit 137), signal 9")]
)
def test_verify_rerun_fails_when_the_re_execution_fails(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, how: str, ended: str
) -> None:
    valued_paper(project_dir)
    monkeypatch.setenv("LOCAL_MISSING", how)
    done = paperlink_process("verify", "paper/main.tex", "--rerun")
    out = done.stdout.decode()
    assert done.returncode == 3, out
    assert "all OK" not in out and "3 checked, 3 not OK (exit 3)." in out
    report = json.loads(run_cli("verify", "paper/main.tex", "--rerun", "--json", ok=False).output)
    assert [item["status"] for item in report["items"]] == ["FAILED"] * 3
    assert f"{ended}, but the original finished" in report["items"][0]["reason"]
    # The failed re-executions are in the store, each tagged as a verification rerun.
    failed = rerun_records(project_dir)
    assert len(failed) == 2 and all(r["tags"] == ["verify-rerun"] for r in failed)
    assert {r["status"] for r in failed} == {"failed" if how == "exit" else "killed"}


def test_verify_rerun_compares_values(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    valued_paper(project_dir)
    monkeypatch.setenv("LOCAL_MISSING", "other-value")
    report = json.loads(run_cli("verify", "paper/main.tex", "--rerun", "--json", ok=False).output)
    assert report["exit_code"] == 3
    figure, slope, n = report["items"]
    # The values file differs, but the figure is the same bytes.
    assert figure["status"] == "OK"
    assert slope["status"] == "MISMATCH"
    assert "made slope = 0.99, but record 'orig' says 0.42" in slope["reason"]
    assert n["status"] == "OK" and "rerun (same in re-execution" in n["reason"]
