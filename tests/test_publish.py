"""`paperlink publish` end to end: local archives, dry runs, the Zenodo flow against the fake server
process, resuming after SIGKILL and Ctrl-C, new versions, metadata and secrecy of the token."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fixtures_publish import CITATION, GEN, make_study, md5, sha256
from fixtures_zenodo import FakeZenodo
from helpers import git, paperlink_process, run_cli

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.metadata import load_metadata, related_identifier
from paperlink.core.runcontext import ContainerRef
from paperlink.core.store import RecordStore
from paperlink.errors import ConfigError
from paperlink.publish.tokens import find_token


@pytest.fixture
def study(project_dir: Path) -> Path:
    return make_study(project_dir)


def process_env(zenodo: FakeZenodo) -> dict[str, str]:
    return {**os.environ, "ZENODO_TOKEN": zenodo.token, "PAPERLINK_ZENODO_URL": zenodo.api}


def test_to_dir_writes_the_complete_bundle_with_manifest(study: Path) -> None:
    target = study.parent / "archive"
    result = run_cli(
        "publish", "--record", "fig1", "--record", "gen", "--to", str(target), "--json"
    )
    summary = json.loads(result.stdout)
    assert summary["state"] == "written" and summary["labels"] == ["fig1", "gen"]
    names = sorted(p.name for p in target.iterdir())
    commit = git(study, "rev-parse", "HEAD").strip()
    # Both runs had one environment: the files that re-create it are there once.
    digests = {json.loads((target / f"{n}.record.json").read_text())["environment_digest"]
               for n in ("fig1", "gen")}  # fmt: skip
    (environment,) = (d.removeprefix("sha256:")[:12] for d in digests)
    assert names == sorted(
        [
            f"environment-{environment}.json",
            f"environment-{environment}.requirements.txt",
            f"environment-{environment}.apt-install.sh",
            "fig1__figures__fig1.svg",
            "gen__figures__plot.svg",
            "gen__results__big.bin",
            "fig1.record.json",
            "gen.record.json",
            f"code-{commit[:12]}.tar.gz",
            "gen.code.diff",
            "README.md",
            "ro-crate-metadata.json",
            "provenance-site.zip",
            "SHA256SUMS",
            "manifest.json",
        ]
    )
    manifest = json.loads((target / "manifest.json").read_text())
    for entry in manifest["files"]:
        path = target / entry["name"]
        assert sha256(path) == entry["sha256"] and md5(path) == entry["md5"]
    assert (target / "gen__results__big.bin").read_bytes() == (
        study / "results/big.bin"
    ).read_bytes()
    record = json.loads((target / "gen.record.json").read_text())
    assert record["label"] == "gen" and record["code"]["dirty"] is True
    assert "# tuned" in (target / "gen.code.diff").read_text()
    with tarfile.open(target / f"code-{commit[:12]}.tar.gz") as tar:
        member = tar.extractfile(f"study-{commit[:12]}/gen.py")
        assert member is not None and member.read().decode() == GEN
    crate = json.loads((target / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in crate["@graph"]}
    run = graph["#run-gen"]
    assert {r["@id"] for r in run["result"]} == {"gen__figures__plot.svg", "gen__results__big.bin"}
    # The instrument is the code that ran, which the source archive and the diff encode, and the
    # environment it ran in.
    code, environment_entity = (graph[tool["@id"]] for tool in run["instrument"])
    assert environment_entity["identifier"] == next(iter(digests))
    assert code["@type"] == "SoftwareSourceCode" and code["version"].startswith(commit)
    assert {e["@id"] for e in code["encoding"]} == {f"code-{commit[:12]}.tar.gz", "gen.code.diff"}
    assert graph["gen__results__big.bin"]["sha256"] == sha256(study / "results/big.bin")
    assert graph["https://orcid.org/0000-0002-1825-0097"]["familyName"] == "Curie"
    references = _references(crate["@graph"])
    external = {r for r in references if r.startswith("http")}
    assert references - external <= set(graph), "the crate refers to entities it does not hold"
    assert {e["@id"] for e in graph["./"]["hasPart"]} == set(names) - {
        "manifest.json",
        "ro-crate-metadata.json",
        "SHA256SUMS",  # written after the crate: it holds the crate's sha256
    }
    readme = (target / "README.md").read_text()
    assert "sha256sum -c SHA256SUMS" in readme and "gen.py" in readme
    assert manifest["metadata"]["related_identifiers"] == [
        {"identifier": "10.1234/tides.2026", "relation": "isSupplementTo"}
    ]
    shown = run_cli("show", "gen").stdout
    assert "Publication (directory" in shown and target.as_uri() in shown


def _references(value: object) -> set[str]:
    """Every ``{"@id": …}`` reference inside the crate's entities (not the entities' own ids)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"@id"}:
            found.add(value["@id"])
        for key, item in value.items():
            if key != "@id":
                found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def test_to_dir_refuses_a_non_empty_folder_and_leaves_nothing_half_written(study: Path) -> None:
    target = study.parent / "archive"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run_cli("publish", "--record", "fig1", "--to", str(target), ok=False)
    assert result.exit_code == 2 and "not an empty folder" in result.output
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert not list(study.parent.glob(".archive.*"))


def test_changed_output_is_refused(study: Path) -> None:
    (study / "figures/fig1.svg").write_text("<svg>edited by hand</svg>")
    result = run_cli("publish", "--record", "fig1", "--to", str(study.parent / "a"), ok=False)
    assert result.exit_code == 1
    assert (
        "figures/fig1.svg is sha256:" in result.output and "changed after the run" in result.output
    )
    assert not (study.parent / "a").exists()


def test_dry_run_sends_nothing(study: Path, zenodo_env: FakeZenodo) -> None:
    result = run_cli("publish", "--record", "gen", "--dry-run")
    assert "Plan: archive 1 record(s)" in result.stdout
    assert "gen__results__big.bin  3.0 MiB" in result.stdout
    assert "creators  Curie, Marie; The Tide Consortium" in result.stdout
    assert zenodo_env.log() == []


def test_tex_selects_the_records_the_manuscript_uses(study: Path) -> None:
    (study / "paper.tex").write_text(
        "\\documentclass{article}\\begin{document}\n"
        "% \\plincludegraphics{fig1}\n"
        "\\plincludegraphics[width=3cm]{gen:figures/plot.svg}\n\\end{document}\n"
    )
    summary = json.loads(run_cli("publish", "--tex", "paper.tex", "--dry-run", "--json").stdout)
    assert summary["labels"] == ["gen"]
    (study / "paper.tex").write_text("\\plincludegraphics{nosuch}\n")
    failed = run_cli("publish", "--tex", "paper.tex", "--dry-run", ok=False)
    assert failed.exit_code == 6 and "'nosuch' (paper.tex:1)" in failed.output


def test_publish_to_zenodo_stores_doi_and_checksums(study: Path, zenodo_env: FakeZenodo) -> None:
    summary = json.loads(run_cli("publish", "--record", "fig1", "--record", "gen", "--json").stdout)
    (dep,) = zenodo_env.state()
    assert summary["state"] == "published" and dep["submitted"]
    assert summary["doi"] == f"10.5281/zenodo.{dep['id']}" == dep["doi"]
    assert summary["url"] == f"{zenodo_env.root}/records/{dep['id']}"
    big = dep["files"]["gen__results__big.bin"]
    assert big["md5"] == md5(study / "results/big.bin") and big["size"] == 3 << 20
    assert (Path(dep["bucket_dir"]) / "gen__results__big.bin").read_bytes() == (
        study / "results/big.bin"
    ).read_bytes()
    assert dep["metadata"]["creators"][0] == {
        "name": "Curie, Marie",
        "affiliation": "Sorbonne Université",
        "orcid": "0000-0002-1825-0097",
    }
    assert dep["metadata"]["title"] == "Results of the tide study"
    assert dep["metadata"]["license"] == "mit" and dep["metadata"]["version"] == "1.0.0"
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        publication = store.get("gen").publication
    assert publication is not None and publication.doi == dep["doi"]
    assert publication.published is not None and publication.service == "zenodo"
    files = {f.name: f.md5 for f in publication.files}
    assert files["gen__results__big.bin"] == big["md5"]
    assert "fig1__figures__fig1.svg" not in files and "ro-crate-metadata.json" in files
    shown = run_cli("show", "gen").stdout
    assert f"doi         {dep['doi']}" in shown and "md5:" + big["md5"] in shown
    # Publishing the same records again changes nothing on the server.
    again = json.loads(run_cli("publish", "--record", "gen", "--record", "fig1", "--json").stdout)
    assert again["state"] == "already published" and again["doi"] == dep["doi"]
    assert (
        len(zenodo_env.state()) == 1
        and len(zenodo_env.requests_to("POST", "/actions/publish")) == 1
    )


def test_draft_reserves_doi_then_publishes_same_deposition(
    study: Path, zenodo_env: FakeZenodo
) -> None:
    draft = json.loads(run_cli("publish", "--record", "fig1", "--draft", "--json").stdout)
    (dep,) = zenodo_env.state()
    assert draft["state"] == "draft" and not dep["submitted"]
    assert draft["doi"] == f"10.5281/zenodo.{dep['id']}"
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        publication = store.get("fig1").publication
    assert (
        publication is not None
        and publication.doi == draft["doi"]
        and publication.published is None
    )
    assert "draft, DOI reserved" in run_cli("show", "fig1").stdout
    puts = len(zenodo_env.requests_to("PUT", "/api/files/"))
    final = json.loads(run_cli("publish", "--record", "fig1", "--json").stdout)
    assert final["state"] == "published" and final["doi"] == draft["doi"]
    assert len(zenodo_env.state()) == 1
    assert len(zenodo_env.requests_to("PUT", "/api/files/")) == puts  # nothing sent twice
    assert {f["action"] for f in final["files"]} == {"skipped"}


def test_new_version_replaces_carried_over_files(study: Path, zenodo_env: FakeZenodo) -> None:
    first = json.loads(run_cli("publish", "--record", "fig1", "--json").stdout)
    unchanged = json.loads(run_cli("publish", "--record", "fig1", "--json").stdout)
    assert unchanged["state"] == "already published"
    (study / "CITATION.cff").write_text(
        CITATION.replace("1.0.0", "1.1.0").replace("tide study", "tide study, revised")
    )
    refused = run_cli("publish", "--record", "fig1", ok=False)
    assert refused.exit_code == 2 and "--new-version" in refused.output
    second = json.loads(run_cli("publish", "--record", "fig1", "--new-version", "--json").stdout)
    deps = {d["id"]: d for d in zenodo_env.state()}
    assert len(deps) == 2 and second["deposition_id"] != first["deposition_id"]
    new = deps[int(second["deposition_id"])]
    old = deps[int(first["deposition_id"])]
    assert new["submitted"] and new["conceptrecid"] == old["conceptrecid"]
    assert new["metadata"]["version"] == "1.1.0"
    readme = new["files"]["README.md"]
    assert readme["md5"] != old["files"]["README.md"]["md5"]  # replaced, not carried over
    assert set(new["files"]) == set(old["files"])
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        publication = store.get("fig1").publication
    assert publication is not None and publication.doi == second["doi"] != first["doi"]
    # A new version of a different selection continues the same concept.
    refused = run_cli("publish", "--record", "gen", "--new-version", ok=False)
    assert refused.exit_code == 2 and "has been published" in refused.output
    third = json.loads(
        run_cli("publish", "--record", "fig1", "--record", "gen", "--new-version", "--json").stdout
    )
    newest = {d["id"]: d for d in zenodo_env.state()}[int(third["deposition_id"])]
    assert newest["submitted"] and newest["conceptrecid"] == old["conceptrecid"]
    assert "gen__results__big.bin" in newest["files"]
    assert len(zenodo_env.state()) == 3


def test_validation_errors_are_shown_field_by_field(study: Path, zenodo_env: FakeZenodo) -> None:
    (study / "CITATION.cff").write_text(CITATION.replace('"Results of the tide study"', "ab"))
    result = run_cli("publish", "--record", "fig1", ok=False)
    assert result.exit_code == 9
    assert "metadata.title: Shorter than minimum length 3." in result.output
    (dep,) = zenodo_env.state()
    assert not dep["submitted"]
    # After the fix, the same deposition is published.
    (study / "CITATION.cff").write_text(CITATION)
    run_cli("publish", "--record", "fig1")
    (dep,) = zenodo_env.state()
    assert dep["submitted"]


def test_faults_during_publish_are_survived(study: Path, zenodo_env: FakeZenodo) -> None:
    zenodo_env.fault("lose", method="POST", path="/deposit/depositions$")
    zenodo_env.fault("429", method="PUT", path="/api/files/", retry_after=0)
    zenodo_env.fault("reset", method="PUT", path="big.bin")
    zenodo_env.fault("no_md5", method="PUT", path="plot.svg")
    zenodo_env.fault("502", method="PUT", path="/deposit/depositions/")
    zenodo_env.fault("lose", method="POST", path="/actions/publish")
    summary = json.loads(run_cli("publish", "--record", "gen", "--json").stdout)
    (dep,) = zenodo_env.state()
    assert summary["state"] == "published" and dep["submitted"]
    assert dep["files"]["gen__results__big.bin"]["md5"] == md5(study / "results/big.bin")
    assert len(zenodo_env.requests_to("POST", "/actions/publish")) == 1
    assert len(zenodo_env.requests_to("POST", "/deposit/depositions$")) == 1


def _start_publish(study: Path, zenodo: FakeZenodo, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paperlink",
            "publish",
            "--record",
            "fig1",
            "--record",
            "gen",
            *args,
        ],
        cwd=study,
        env=process_env(zenodo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_publish_resumes_after_process_death(
    study: Path, zenodo: FakeZenodo, sig: signal.Signals
) -> None:
    zenodo.fault("stall", method="PUT", path="big.bin", seconds=30)
    process = _start_publish(study, zenodo)
    zenodo.wait_for(lambda: any(e.get("stalled") for e in zenodo.log()))
    rival = paperlink_process(
        "publish", "--record", "gen", "--record", "fig1", cwd=study, env=process_env(zenodo)
    )
    assert rival.returncode == 2 and b"another 'paperlink publish'" in rival.stderr
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130 and b"Interrupted." in err
    (dep,) = zenodo.state()
    assert not dep["submitted"] and "gen__results__big.bin" not in dep["files"]
    shown = json.loads(paperlink_process("show", "gen", "--json", cwd=study).stdout)
    assert shown["publication"]["doi"] == f"10.5281/zenodo.{dep['id']}"  # reserved, stored at once
    assert shown["publication"]["published"] is None
    before = {
        name: len(zenodo.requests_to("PUT", "/" + re.escape(name) + "$")) for name in dep["files"]
    }
    assert before and set(before.values()) == {1}

    done = paperlink_process(
        "publish",
        "--record",
        "fig1",
        "--record",
        "gen",
        "--json",
        cwd=study,
        env=process_env(zenodo),
    )
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    (dep,) = zenodo.state()  # the same, single deposition
    assert dep["submitted"] and summary["deposition_id"] == str(dep["id"])
    for name, count in before.items():
        assert len(zenodo.requests_to("PUT", "/" + re.escape(name) + "$")) == count == 1, (
            name
        )  # not sent again
    skipped = {f["name"] for f in summary["files"] if f["action"] == "skipped"}
    assert skipped == set(before)
    assert len(zenodo.requests_to("PUT", "big.bin")) == 2
    for name, info in dep["files"].items():
        assert md5(Path(dep["bucket_dir"]) / name) == info["md5"]
    assert dep["files"]["gen__results__big.bin"]["md5"] == md5(study / "results/big.bin")
    assert len(zenodo.requests_to("POST", "/deposit/depositions$")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("api", ["deposit", "records"])
def test_token_never_leaks(study: Path, zenodo: FakeZenodo, tmp_path: Path, api: str) -> None:
    token = zenodo.token
    env = process_env(zenodo)
    if api == "records":
        zenodo.configure(apis="records")  # a plain InvenioRDM: found by auto-detection
    ran = paperlink_process(
        "run",
        "--label",
        "secret-env",
        "--",
        sys.executable,
        "make_figure.py",
        "fig9",
        cwd=study,
        env=env,
    )
    assert ran.returncode == 0
    zenodo.fault("500", method="PUT", path="/api/files/|/content$")
    done = paperlink_process(
        "--debug",
        "publish",
        "--record",
        "fig1",
        "--record",
        "secret-env",
        "--json",
        cwd=study,
        env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    denied = paperlink_process(
        "--debug",
        "publish",
        "--record",
        "gen",
        cwd=study,
        env={**env, "ZENODO_TOKEN": token[::-1]},
    )
    assert denied.returncode == 8 and b"permission denied (HTTP 403)" in denied.stderr
    target = tmp_path / "local"
    local = paperlink_process("publish", "--all", "--to", str(target), cwd=study, env=env)
    assert local.returncode == 0, local.stderr.decode()
    haystacks: dict[str, bytes] = {
        "stdout": done.stdout + denied.stdout + local.stdout,
        "stderr": done.stderr + denied.stderr + local.stderr,
    }
    stored = [Path(d["bucket_dir"]) for d in zenodo.state()] + [
        Path(r["dir"]) for r in zenodo.records()
    ]
    assert len(stored) == 1 and any(stored[0].iterdir())
    for folder in (study / ".paperlink", target, *stored):
        for path in folder.rglob("*"):
            if path.is_file():
                haystacks[str(path)] = path.read_bytes()
    haystacks["records"] = paperlink_process("show", "secret-env", "--json", cwd=study).stdout
    haystacks["urls"] = "\n".join(e["path"] for e in zenodo.log()).encode()
    assert any(name.endswith(".json") and "publish" in name for name in haystacks)
    state = next(n for n in haystacks if n.endswith(".json") and "/publish/" in n)
    assert json.loads(haystacks[state])["api"] == api
    assert len(zenodo.requests_to("PUT", "/api/files/|/content$")) == len(done_files(done)) + 1
    for needle in (token, token[::-1]):
        leaks = [name for name, data in haystacks.items() if needle.encode() in data]
        assert leaks == [], f"token found in {leaks}"
    assert all(e["headers"]["Authorization"].startswith("Bearer ") for e in zenodo.log())


def done_files(done: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [f["name"] for f in json.loads(done.stdout)["files"]]


def test_metadata_sources_in_order(project_dir: Path) -> None:
    project = find_project()
    fallback = load_metadata(project, labels=["a"])
    assert fallback.source == "paperlink.toml" and fallback.problems
    assert (
        fallback.metadata["upload_type"] == "dataset"
        and fallback.metadata["license"] == "cc-by-4.0"
    )
    with (project_dir / "paperlink.toml").open("a") as config:
        config.write(
            '\n[publish]\ntitle = "From TOML"\ncreators = [{name = "Noether, Emmy", orcid = "0000-0002-1825-0097"}]\n'
            'paper = "https://doi.org/10.1000/xyz"\narxiv = "arXiv:2401.01234"\n'
        )
    project = find_project()
    toml = load_metadata(project, labels=["a"])
    assert toml.metadata["title"] == "From TOML" and not toml.problems
    assert toml.metadata["related_identifiers"] == [
        {"identifier": "10.1000/xyz", "relation": "isSupplementTo"},
        {"identifier": "arXiv:2401.01234", "relation": "isSupplementTo"},
    ]
    (project_dir / ".zenodo.json").write_text(
        json.dumps(
            {"title": "From zenodo.json", "creators": [{"name": "X"}], "doi": "10.5281/zenodo.1"}
        )
    )
    zj = load_metadata(project, labels=["a"])
    assert (
        zj.source == ".zenodo.json"
        and zj.metadata["title"] == "From zenodo.json"
        and "doi" not in zj.metadata
    )
    (project_dir / "CITATION.cff").write_text(CITATION + "date-released: 2026-11-20\n")
    cff = load_metadata(project, labels=["a"])
    assert cff.metadata["publication_date"] == "2026-11-20"
    assert cff.source == "CITATION.cff" and cff.metadata["keywords"] == ["tides", "sea level"]
    assert cff.metadata["creators"][1] == {"name": "The Tide Consortium"}
    assert {"identifier": "10.1234/tides.2026", "relation": "isSupplementTo"} in cff.metadata[
        "related_identifiers"
    ]
    (project_dir / "CITATION.cff").write_text("title: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_metadata(project, labels=["a"])
    with pytest.raises(ConfigError, match="neither a DOI"):
        related_identifier("not an id", "cites")


def test_token_sources(tmp_path: Path) -> None:
    assert find_token({"ZENODO_TOKEN": "abc"}, sandbox=False) == "abc"
    assert find_token({"ZENODO_TOKEN": "abc", "ZENODO_SANDBOX_TOKEN": "sbx"}, sandbox=True) == "sbx"
    token_file = tmp_path / "zenodo-token"
    token_file.write_text("fromfile\n")
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        find_token({}, sandbox=False, config_dir=tmp_path)
    assert "fromfile" not in str(caught.value)
    token_file.chmod(0o600)
    assert find_token({}, sandbox=False, config_dir=tmp_path) == "fromfile"
    with pytest.raises(ConfigError, match="ZENODO_SANDBOX_TOKEN or ZENODO_TOKEN"):
        find_token({}, sandbox=True, config_dir=tmp_path)


def test_no_token_gives_clear_error(
    study: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result = run_cli("publish", "--record", "fig1", ok=False)
    assert result.exit_code == 1 and "no Zenodo token: set ZENODO_TOKEN" in result.output


def test_container_run_without_image_archive_warns(study: Path) -> None:
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        record = store.get("fig1")

    record.label = "boxed"
    record.run_id = "boxed-run"
    record.container = ContainerRef(
        engine="docker", reference="python:3.12-slim", image_id="sha256:" + "ab" * 32
    )
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        store.add_record(record)
    result = run_cli("publish", "--record", "boxed", "--dry-run")
    assert "ran in image python:3.12-slim but no image archive is available" in result.stderr
    quiet = run_cli("publish", "--record", "boxed", "--dry-run", "--no-image")
    assert "image" not in quiet.stderr
    image = study.parent / "python.tar"
    image.write_bytes(b"fake image layers" * 100)
    with_image = json.loads(
        run_cli(
            "publish", "--record", "boxed", "--dry-run", "--json", "--image-archive", str(image)
        ).stdout
    )
    assert "image-python.tar" in [f["name"] for f in with_image["files"]]
    target = study.parent / "boxed-archive"
    run_cli("publish", "--record", "boxed", "--to", str(target), "--image-archive", str(image))
    crate = json.loads((target / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in crate["@graph"]}
    image_entity = graph["#image-sha256:" + "ab" * 32]
    assert image_entity["@type"] == "ContainerImage" and image_entity["distribution"] == {
        "@id": "image-python.tar"
    }
    assert graph["#run-boxed"]["containerImage"] == {"@id": "#image-sha256:" + "ab" * 32}
    # The archive the record names (as `paperlink image save` leaves it) is taken and checked.
    saved = study / "images" / "python.tar"
    saved.parent.mkdir()
    saved.write_bytes(image.read_bytes())
    record.label, record.run_id = "boxed2", "boxed2-run"
    record.container.archive = FileDigest(path="images/python.tar", sha256=sha256(saved), size=1700)
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        store.add_record(record)
    plan = json.loads(run_cli("publish", "--record", "boxed2", "--dry-run", "--json").stdout)
    assert [f["name"] for f in plan["files"] if f["role"] == "image"] == ["image-python.tar"]
    saved.write_bytes(b"another image")
    wrong = run_cli("publish", "--record", "boxed2", "--dry-run", ok=False)
    assert "image archive" in wrong.output and "paperlink image save" in wrong.output


def test_pdf_is_added(study: Path) -> None:
    pdf = study / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.5 tiny")
    target = study.parent / "with-pdf"
    run_cli("publish", "--record", "fig1", "--pdf", str(pdf), "--to", str(target))
    assert (target / "paper.pdf").read_bytes() == pdf.read_bytes()
    manifest = json.loads((target / "manifest.json").read_text())
    assert {"name": "paper.pdf", "role": "pdf"}.items() <= next(
        f for f in manifest["files"] if f["name"] == "paper.pdf"
    ).items()


def test_upload_progress_bar_draws_on_a_terminal() -> None:
    from paperlink.cli.progress import transfer_progress

    with transfer_progress(enabled=False) as none:
        assert none is None
    with transfer_progress(enabled=True) as progress:
        assert progress is not None
        progress("small.txt", 512, 1024)  # no bar for small files
        progress("big.bin", 1 << 20, 4 << 20)
        progress("big.bin", 4 << 20, 4 << 20)


def test_draft_deleted_on_the_server_is_explained(study: Path, zenodo_env: FakeZenodo) -> None:
    run_cli("publish", "--record", "fig1", "--draft")
    zenodo_env.reset()  # the server forgot the draft (deleted in the web UI)
    result = run_cli("publish", "--record", "fig1", ok=False)
    assert result.exit_code == 8 and "is gone from" in result.output
    assert ".paperlink/publish/" in result.output


def test_a_refused_token_on_a_resumed_draft_is_not_called_gone(
    study: Path, zenodo_env: FakeZenodo, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli("publish", "--record", "fig1", "--draft")
    monkeypatch.setenv("ZENODO_TOKEN", zenodo_env.token[::-1])  # another account's, or a typo
    result = run_cli("publish", "--record", "fig1", ok=False)
    assert result.exit_code == 8, result.output
    assert "the server refused the token (HTTP 403)" in result.output, result.output
    assert "is gone" not in result.output and "ZENODO_TOKEN" in result.output
    (dep,) = zenodo_env.state()
    assert not dep["submitted"]  # the draft is still there, waiting for the right token


def test_labels_with_slashes_make_flat_names(study: Path) -> None:
    run_cli("run", "--label", "sweep/a1", "--", sys.executable, "make_figure.py", "fig5")
    plan = json.loads(run_cli("publish", "--record", "sweep/a1", "--dry-run", "--json").stdout)
    names = [f["name"] for f in plan["files"]]
    assert "sweep__a1__figures__fig5.svg" in names and "sweep__a1.record.json" in names
    assert all("/" not in n for n in names)


def test_server_choice(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", "http://127.0.0.1:9/api")

    def server(*args: str) -> str:
        out = run_cli("publish", "--record", "fig1", "--dry-run", "--json", *args).stdout
        return str(json.loads(out)["server"])

    assert server() == "http://127.0.0.1:9/api"
    assert server("--sandbox") == "https://sandbox.zenodo.org/api"
    assert server("--zenodo-url", "https://data.example.edu/api") == "https://data.example.edu/api"
    monkeypatch.delenv("PAPERLINK_ZENODO_URL")
    assert server() == "https://zenodo.org/api"


def test_archive_holds_a_static_site_of_exactly_the_chosen_records(study: Path) -> None:
    import zipfile

    first, second = study.parent / "a1", study.parent / "a2"
    run_cli("publish", "--record", "fig1", "--to", str(first))
    run_cli("publish", "--record", "fig1", "--to", str(second))
    site = first / "provenance-site.zip"
    # Deterministic: the same records give the same archive bytes.
    assert sha256(site) == sha256(second / "provenance-site.zip")
    with zipfile.ZipFile(site) as archive:
        names = set(archive.namelist())
        index = archive.read("provenance-site/index.html").decode()
    assert "provenance-site/index.html" in names
    assert any(n.startswith("provenance-site/records/fig1") for n in names)
    assert not any("gen" in n for n in names), (
        "records outside the publication leaked into its site"
    )
    assert "fig1" in index and ">gen<" not in index and "records/gen" not in index
    run_cli("publish", "--record", "fig1", "--no-site", "--to", str(study.parent / "a3"))
    assert not (study.parent / "a3" / "provenance-site.zip").exists()
