"""Publishing through InvenioRDM's records API: the metadata conversion, the client against the fake
server answering like a plain InvenioRDM (no deposit API), and ``paperlink publish`` / ``verify`` end to end
with faults, kills, drafts and new versions."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures_publish import CITATION, make_study, md5
from fixtures_zenodo import FakeZenodo
from helpers import paperlink_process, run_cli

from paperlink.core.store import RecordStore
from paperlink.errors import ZenodoError, ZenodoValidationError
from paperlink.publish.http import ArchiveClient
from paperlink.publish.published import get_record
from paperlink.publish.rdm_metadata import rdm_creator, rdm_record, resource_type
from paperlink.publish.records_api import RecordsAPI
from paperlink.publish.servers import detect_api, open_api

RDM_ACCEPT = "application/vnd.inveniordm.v1+json"
MINIMAL_METADATA = {
    "title": "Data",
    "creators": [{"name": "Curie, Marie"}],
    "publication_date": "2026-01-01",
}


@pytest.fixture
def study(project_dir: Path) -> Path:
    return make_study(project_dir)


def client_for(server: FakeZenodo, **kwargs: Any) -> ArchiveClient:
    options: dict[str, Any] = {"backoff": 0.05, "max_retry_seconds": 20.0, "timeout": (10.0, 30.0)}
    options.update(kwargs)
    return ArchiveClient(server.api, server.token, **options)


def publish(server: FakeZenodo, *args: str, ok: bool = True) -> Any:
    return run_cli(
        "publish", "--zenodo-url", server.api, "--record", "fig1", "--record", "gen", *args, ok=ok
    )


def one_record(server: FakeZenodo, *, published: bool | None = None) -> dict[str, Any]:
    records = [r for r in server.records() if published is None or r["published"] == published]
    assert len(records) == 1, records
    return records[0]


# -- the metadata conversion ----------------------------------------------------------------------
def test_metadata_becomes_invenio_rdm_form() -> None:
    legacy = {
        "upload_type": "dataset",
        "title": "Results of the tide study",
        "description": "<p>Figures.</p>",
        "version": "1.0.0",
        "publication_date": "2026-11-20",
        "license": "MIT",
        "keywords": ["tides", "sea level"],
        "creators": [
            {"name": "Curie, Marie", "affiliation": "Sorbonne", "orcid": "0000-0002-1825-0097"},
            {"name": "The Tide Consortium"},
        ],
        "related_identifiers": [
            {"identifier": "10.1234/tides.2026", "relation": "isSupplementTo"},
            {"identifier": "arXiv:2401.01234", "relation": "isSupplementTo"},
            {"identifier": "https://example.org/x", "relation": "references"},
        ],
        "access_right": "open",
        "communities": [{"identifier": "ignored"}],
    }
    document = rdm_record(legacy, publisher="data.example.edu")
    md = document["metadata"]
    assert md["resource_type"] == {"id": "dataset"}
    assert md["title"] == "Results of the tide study" and md["version"] == "1.0.0"
    assert md["publication_date"] == "2026-11-20" and md["description"] == "<p>Figures.</p>"
    assert md["publisher"] == "data.example.edu"
    assert md["rights"] == [{"id": "mit"}]
    assert md["subjects"] == [{"subject": "tides"}, {"subject": "sea level"}]
    assert md["creators"] == [
        {
            "person_or_org": {
                "type": "personal",
                "family_name": "Curie",
                "given_name": "Marie",
                "identifiers": [{"scheme": "orcid", "identifier": "0000-0002-1825-0097"}],
            },
            "affiliations": [{"name": "Sorbonne"}],
        },
        {"person_or_org": {"type": "organizational", "name": "The Tide Consortium"}},
    ]
    assert md["related_identifiers"] == [
        {
            "identifier": "10.1234/tides.2026",
            "scheme": "doi",
            "relation_type": {"id": "issupplementto"},
        },
        {
            "identifier": "arXiv:2401.01234",
            "scheme": "arxiv",
            "relation_type": {"id": "issupplementto"},
        },
        {
            "identifier": "https://example.org/x",
            "scheme": "url",
            "relation_type": {"id": "references"},
        },
    ]
    assert "communities" not in md
    assert document["access"] == {"record": "public", "files": "public"}
    embargoed = rdm_record(
        {"access_right": "embargoed", "embargo_date": "2027-01-01"}, publisher="p"
    )
    assert embargoed["access"]["files"] == "restricted"
    assert embargoed["access"]["embargo"] == {"active": True, "until": "2027-01-01"}
    assert (
        rdm_record({"imprint_publisher": "Mine"}, publisher="p")["metadata"]["publisher"] == "Mine"
    )


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ({}, "dataset"),
        ({"upload_type": "software"}, "software"),
        ({"upload_type": "publication", "publication_type": "article"}, "publication-article"),
        ({"upload_type": "publication"}, "publication-other"),
        ({"upload_type": "image", "image_type": "figure"}, "image-figure"),
    ],
)
def test_resource_types(legacy: dict[str, str], expected: str) -> None:
    assert resource_type(legacy) == expected


def test_a_single_name_with_an_orcid_is_a_person() -> None:
    creator = rdm_creator({"name": "Plato", "orcid": "0000-0002-1825-0097"})
    assert creator["person_or_org"]["type"] == "personal"
    assert creator["person_or_org"]["family_name"] == "Plato"


# -- the client -------------------------------------------------------------------------------------
def test_detection_picks_the_api_the_server_offers(zenodo: FakeZenodo) -> None:
    with client_for(zenodo) as client:
        assert detect_api(client) == "deposit"  # Zenodo-like: both APIs, the deposit one first
        assert detect_api(client, "records") == "records"
    zenodo.configure(apis="records")
    with client_for(zenodo) as client:
        assert detect_api(client) == "records"
        assert open_api(client).name == "records"
    probes = [e for e in zenodo.log() if e["method"] == "GET"]
    assert [(e["path"].split("?")[0], e["status"]) for e in probes] == [
        ("/api/deposit/depositions", 200),
        ("/api/deposit/depositions", 404),
        ("/api/user/records", 200),
        ("/api/deposit/depositions", 404),
        ("/api/user/records", 200),
    ]
    with (
        ArchiveClient(f"{zenodo.root}/nothing-here", zenodo.token) as client,
        pytest.raises(ZenodoError, match="offers neither Zenodo's deposit API") as caught,
    ):
        detect_api(client)
    assert caught.value.exit_code == 8


def test_publish_refused_field_by_field_while_required_fields_are_missing(
    invenio: FakeZenodo, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"some data" * 100)
    with client_for(invenio) as client:
        api = RecordsAPI(client)
        draft = api.create("paperlink draft t1")
        with pytest.raises(ZenodoValidationError) as refused:
            api.publish(draft)
        with pytest.raises(ZenodoValidationError) as at_save:
            api.set_metadata(draft, {"title": "ab", "creators": [{"name": ", Marie"}]})
        api.upload(draft, "data.bin", path, md5=md5(path))
        with pytest.raises(ZenodoError, match=r"HTTP 400: File with key data\.bin already exists"):
            client.call(
                "POST", f"records/{draft.id}/draft/files", json_body=[{"key": "data.bin"}], what="x"
            )
    assert refused.value.status == 400
    assert [f for f, _ in refused.value.errors] == [
        "metadata.resource_type",
        "metadata.creators",
        "metadata.publication_date",
        "files.enabled",
    ]
    assert at_save.value.status is None and at_save.value.exit_code == 9
    text = str(at_save.value)
    assert "metadata.title: Shorter than minimum length 3." in text
    assert "metadata.creators.0.person_or_org.family_name: Family name cannot be blank." in text
    saved = one_record(invenio)
    assert saved["metadata"]["title"] == "ab" and not saved["published"]  # saved despite errors
    assert saved["doi"] == draft.doi  # the reserved DOI was sent back with the whole draft


def test_commit_of_incomplete_content_fails_and_published_files_are_immutable(
    invenio: FakeZenodo, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 5000)
    with client_for(invenio) as client:
        api = RecordsAPI(client)
        draft = api.create("paperlink draft t2")
        base = f"records/{draft.id}/draft/files"
        client.call("POST", base, json_body=[{"key": "half.bin"}], what="register")
        with pytest.raises(ZenodoError, match="has no complete content"):
            client.call("POST", f"{base}/half.bin/commit", what="commit")
        client.call("DELETE", f"{base}/half.bin", what="delete")
        api.upload(draft, "data.bin", path, md5=md5(path))
        api.set_metadata(draft, MINIMAL_METADATA)
        done = api.publish(draft)
        with pytest.raises(ZenodoError, match="HTTP 403"):
            client.call("DELETE", f"{base}/data.bin", what="delete")
        with pytest.raises(ZenodoError, match="HTTP 404"):
            client.call("GET", "records/zzzzz-zzzzz", what="unknown")
        record = get_record(client, done.id)
    assert done.published and done.doi == draft.doi
    (entry,) = record["files"]
    assert entry["key"] == "data.bin" and entry["checksum"] == f"md5:{md5(path)}"
    assert entry["size"] == 5000 and entry["links"]["content"].endswith("/files/data.bin/content")


def test_lost_answers_on_create_reserve_commit_and_publish_do_not_repeat_them(
    invenio: FakeZenodo, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"y" * 300_000)
    for route in ("/api/records$", "/pids/doi$", "/commit$", "/actions/publish$", "/draft/files$"):
        invenio.fault("lose", method="POST", path=route)
    with client_for(invenio) as client:
        api = RecordsAPI(client)
        draft = api.create("paperlink draft t3")
        api.upload(draft, "data.bin", path, md5=md5(path))
        api.set_metadata(draft, MINIMAL_METADATA)
        done = api.publish(draft)
    record = one_record(invenio)
    assert record["published"] and done.doi == record["doi"] == draft.doi
    for route in ("/api/records$", "/pids/doi$", "/commit$", "/actions/publish$", "/draft/files$"):
        assert len(invenio.requests_to("POST", route)) == 1, route
    searches = [e["path"] for e in invenio.requests_to("GET", "/api/user/records$")]
    assert any("paperlink+draft+t3" in p or "paperlink%20draft%20t3" in p for p in searches)


# -- paperlink publish against a plain InvenioRDM ----------------------------------------------------
def test_publish_to_invenio_rdm_stores_doi_and_checksums(
    study: Path, invenio_env: FakeZenodo
) -> None:
    summary = json.loads(publish(invenio_env, "--json").stdout)
    record = one_record(invenio_env)
    assert summary["state"] == "published" and record["published"]
    assert summary["doi"] == record["doi"] == f"10.5281/{record['id']}"
    assert summary["url"] == f"{invenio_env.root}/records/{record['id']}"
    assert summary["deposition_id"] == record["id"]
    for name, entry in record["files"].items():
        assert entry["status"] == "completed"
        assert md5(Path(record["dir"]) / name) == entry["md5"]
    big = record["files"]["gen__results__big.bin"]
    assert big["md5"] == md5(study / "results/big.bin") and big["size"] == 3 << 20
    md = record["metadata"]
    assert md["title"] == "Results of the tide study" and md["version"] == "1.0.0"
    assert md["resource_type"] == {"id": "dataset"} and md["rights"] == [{"id": "mit"}]
    assert md["creators"][0]["person_or_org"]["identifiers"] == [
        {"scheme": "orcid", "identifier": "0000-0002-1825-0097"}
    ]
    assert md["creators"][0]["affiliations"] == [{"name": "Sorbonne Université"}]
    assert md["creators"][1]["person_or_org"] == {
        "type": "organizational",
        "name": "The Tide Consortium",
    }
    assert {"identifier": "10.1234/tides.2026", "scheme": "doi",
            "relation_type": {"id": "issupplementto"}} in md["related_identifiers"]  # fmt: skip
    # Only the deposit probe went elsewhere; every records call asked for the native shape.
    deposit_calls = [e for e in invenio_env.log() if "/deposit/" in e["path"]]
    assert [(e["method"], e["status"]) for e in deposit_calls] == [("GET", 404)]
    records_calls = [e for e in invenio_env.log() if "/records" in e["path"]]
    assert records_calls and all(e["headers"]["Accept"] == RDM_ACCEPT for e in records_calls)
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        publication = store.get("gen").publication
    assert publication is not None and publication.doi == record["doi"]
    assert publication.published is not None and publication.deposition_id == record["id"]
    assert {f.name: f.md5 for f in publication.files}["gen__results__big.bin"] == big["md5"]
    shown = run_cli("show", "gen").stdout
    assert f"doi         {record['doi']}" in shown and "md5:" + big["md5"] in shown
    (state_file,) = (study / ".paperlink/publish").glob("*.json")
    assert json.loads(state_file.read_text())["api"] == "records"
    again = json.loads(publish(invenio_env, "--json").stdout)
    assert again["state"] == "already published" and again["doi"] == record["doi"]
    assert len(invenio_env.records()) == 1
    assert len(invenio_env.requests_to("POST", "/actions/publish$")) == 1


def test_a_server_without_doi_provider_publishes_and_figures_link_to_the_record(
    study: Path, invenio_env: FakeZenodo
) -> None:
    invenio_env.configure(datacite=False)
    with (study / "paperlink.toml").open("a") as settings:
        settings.write('\n[publish]\ncommunities = ["tides"]\n')
    done = publish(invenio_env, "--json")
    assert "communities (tides) are not requested through the records API" in done.stderr
    summary = json.loads(done.stdout)
    record = one_record(invenio_env)
    assert summary["state"] == "published" and record["published"] and record["doi"] is None
    assert summary["doi"] is None
    assert f"reserved no DOI for draft {record['id']}" in done.stderr
    url = f"{invenio_env.root}/records/{record['id']}"
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        publication = store.get("gen").publication
    assert publication is not None and publication.url == url and publication.doi is None
    run_cli("latex", "--out", str(study / "paper"))
    data = (study / "paper" / "paperlink-data.tex").read_text()
    assert f"\\plkey{{url}}{{{url}}}" in data  # the archived record, not the local viewer
    bib = (study / "paper" / "paperlink.bib").read_text()
    assert "@misc{paperlink:gen," in bib and f"url = {{{url}}}" in bib
    assert "howpublished = {127.0.0.1}" in bib and "doi =" not in bib


def test_api_option_and_environment_choose_the_records_api(
    study: Path, zenodo: FakeZenodo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENODO_TOKEN", zenodo.token)
    auto = json.loads(publish(zenodo, "--draft", "--json").stdout)
    assert len(zenodo.state()) == 1 and zenodo.records() == []  # Zenodo-like server: deposit API
    assert auto["deposition_id"] == str(zenodo.state()[0]["id"])
    refused = publish(zenodo, "--api", "records", ok=False)
    assert refused.exit_code == 2 and "started with the deposit API" in refused.output
    monkeypatch.setenv("PAPERLINK_ZENODO_API", "records")
    forced = json.loads(
        run_cli("publish", "--zenodo-url", zenodo.api, "--record", "fig1", "--json").stdout
    )
    record = one_record(zenodo)
    assert forced["state"] == "published" and forced["deposition_id"] == record["id"]
    assert not zenodo.requests_to("GET", "/api/deposit/depositions$")[1:]  # only the first probe


def test_deposit_api_forced_on_invenio_rdm_is_explained(
    study: Path, invenio_env: FakeZenodo
) -> None:
    result = publish(invenio_env, "--api", "deposit", ok=False)
    assert result.exit_code == 8
    assert "offers no Zenodo deposit API" in result.output and "--api records" in result.output
    assert invenio_env.records() == []


def test_validation_errors_are_shown_field_by_field(study: Path, invenio_env: FakeZenodo) -> None:
    (study / "CITATION.cff").write_text(
        CITATION.replace('"Results of the tide study"', "ab").replace(
            "license: MIT", "license: nope"
        )
    )
    result = publish(invenio_env, ok=False)
    assert result.exit_code == 9
    assert "metadata.title: Shorter than minimum length 3." in result.output
    assert "metadata.rights.0.id: Invalid license nope." in result.output
    assert "CITATION.cff" in result.output  # what to fix
    draft = one_record(invenio_env)
    assert not draft["published"] and "gen__results__big.bin" in draft["files"]
    assert {e["status"] for e in draft["files"].values()} == {"completed"}
    assert invenio_env.requests_to("POST", "/actions/publish$") == []
    (study / "CITATION.cff").write_text(CITATION)
    fixed = json.loads(publish(invenio_env, "--json").stdout)
    record = one_record(invenio_env)
    assert fixed["state"] == "published" and record["id"] == draft["id"] and record["published"]
    skipped = {f["name"] for f in fixed["files"] if f["action"] == "skipped"}
    assert {
        "gen__results__big.bin",
        "fig1__figures__fig1.svg",
    } <= skipped  # the README, crate changed
    assert len(invenio_env.requests_to("PUT", "big.bin/content$")) == 1


def test_faults_during_publish_are_survived(study: Path, invenio_env: FakeZenodo) -> None:
    invenio_env.fault("lose", method="POST", path="/api/records$")
    invenio_env.fault("429", method="POST", path="/draft/files$", retry_after=0)
    invenio_env.fault("502", method="PUT", path="plot.svg/content$")
    invenio_env.fault("reset", method="PUT", path="big.bin/content$")
    invenio_env.fault("500", method="POST", path="big.bin/commit$")
    invenio_env.fault("503", method="PUT", path="/draft$")
    invenio_env.fault("lose", method="POST", path="/actions/publish$")
    summary = json.loads(publish(invenio_env, "--json").stdout)
    record = one_record(invenio_env)
    assert summary["state"] == "published" and record["published"]
    assert record["files"]["gen__results__big.bin"]["md5"] == md5(study / "results/big.bin")
    assert md5(Path(record["dir"]) / "gen__results__big.bin") == md5(study / "results/big.bin")
    assert len(invenio_env.requests_to("POST", "/api/records$")) == 1
    assert len(invenio_env.requests_to("POST", "/actions/publish$")) == 1
    assert [e["status"] for e in invenio_env.requests_to("PUT", "big.bin/content$")] == [None, 200]
    assert [e["status"] for e in invenio_env.requests_to("POST", "big.bin/commit$")] == [500, 200]


def test_publish_resumes_after_kill_mid_upload(study: Path, invenio: FakeZenodo) -> None:
    env = {**os.environ, "ZENODO_TOKEN": invenio.token}
    args = [
        "-m",
        "paperlink",
        "publish",
        "--zenodo-url",
        invenio.api,
        "--record",
        "fig1",
        "--record",
        "gen",
    ]
    invenio.fault("stall", method="PUT", path="big.bin/content$", seconds=30)
    process = subprocess.Popen([sys.executable, *args], cwd=study, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    invenio.wait_for(lambda: any(e.get("stalled") for e in invenio.log()))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    draft = one_record(invenio)
    assert not draft["published"]
    assert draft["files"]["gen__results__big.bin"]["status"] == "pending"
    completed = {k for k, e in draft["files"].items() if e["status"] == "completed"}
    assert completed
    shown = json.loads(paperlink_process("show", "gen", "--json", cwd=study).stdout)
    assert shown["publication"]["doi"] == draft["doi"] and shown["publication"]["published"] is None

    done = paperlink_process(*args[2:], "--json", cwd=study, env=env)
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    record = one_record(invenio)  # the same, single draft, now published
    assert record["published"] and record["id"] == draft["id"] == summary["deposition_id"]
    for name in completed:  # not sent again
        assert len(invenio.requests_to("PUT", "/" + re.escape(name) + "/content$")) == 1, name
    assert {f["name"] for f in summary["files"] if f["action"] == "skipped"} == completed
    assert len(invenio.requests_to("PUT", "big.bin/content$")) == 2
    assert len(invenio.requests_to("POST", "/api/records$")) == 1
    for name, entry in record["files"].items():
        assert entry["status"] == "completed" and md5(Path(record["dir"]) / name) == entry["md5"]
    assert record["files"]["gen__results__big.bin"]["md5"] == md5(study / "results/big.bin")


def test_draft_then_publish_and_new_version(study: Path, invenio_env: FakeZenodo) -> None:
    draft = json.loads(publish(invenio_env, "--draft", "--json").stdout)
    first = one_record(invenio_env)
    assert draft["state"] == "draft" and not first["published"]
    assert (
        draft["doi"] == first["doi"] and draft["url"] == f"{invenio_env.root}/uploads/{first['id']}"
    )
    assert "draft, DOI reserved" in run_cli("show", "fig1").stdout
    puts = len(invenio_env.requests_to("PUT", "/content$"))
    final = json.loads(publish(invenio_env, "--json").stdout)
    assert final["state"] == "published" and final["doi"] == draft["doi"]
    assert len(invenio_env.requests_to("PUT", "/content$")) == puts  # nothing sent twice
    (study / "CITATION.cff").write_text(CITATION.replace("1.0.0", "1.1.0"))
    second = json.loads(publish(invenio_env, "--new-version", "--json").stdout)
    records = {r["id"]: r for r in invenio_env.records()}
    new, old = records[second["deposition_id"]], records[final["deposition_id"]]
    assert len(records) == 2 and new["published"] and new["parent"] == old["parent"]
    assert new["version"] == 2 and new["metadata"]["version"] == "1.1.0"
    assert second["doi"] == new["doi"] != old["doi"]
    assert set(new["files"]) == set(old["files"])  # all uploaded again: a new version starts empty
    assert all(md5(Path(new["dir"]) / n) == e["md5"] for n, e in new["files"].items())
    assert len(invenio_env.requests_to("POST", "/versions$")) == 1
    with RecordStore(study / ".paperlink/records.sqlite") as store:
        publication = store.get("fig1").publication
    assert publication is not None and publication.doi == new["doi"]


def test_verify_against_invenio_rdm(
    study: Path, invenio_env: FakeZenodo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paper = study / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{paperlink}\\begin{document}\n"
        "\\plincludegraphics{fig1}\n\\plincludegraphics{gen:figures/plot.svg}\n\\end{document}\n"
    )
    summary = json.loads(publish(invenio_env, "--no-site", "--json").stdout)
    monkeypatch.delenv("ZENODO_TOKEN")  # a published record is public
    report = json.loads(
        run_cli("verify", "paper/main.tex", "--zenodo", "--download", "--json").stdout
    )
    assert report["ok"] and len(report["items"]) == 2
    for item in report["items"]:
        assert "downloaded and re-hashed" in json.dumps(item["checks"]), item
    downloads = invenio_env.requests_to("GET", "/files/[^/]+/content$")
    # The two figures and the one environment both runs had (environment-<short>.json).
    assert len(downloads) == 3 and all("Authorization" not in e["headers"] for e in downloads)
    assert sum("/files/environment-" in e["path"] for e in downloads) == 1
    assert all(c["status"] == "OK" for i in report["items"] for c in i["checks"])
    monkeypatch.chdir(tmp_path)  # a reviewer, without the project
    by_doi = json.loads(
        run_cli("verify", "--doi", summary["doi"], "--zenodo-url", invenio_env.api, "--json").stdout
    )
    assert by_doi["ok"] and len(by_doi["items"]) == 3  # fig1's figure, gen's plot and big.bin
    by_url = run_cli("verify", "--doi", summary["url"]).stdout
    assert "3 checked, all OK." in by_url
    # The DOI alone: the DOI system (here the fake's resolver) says which server holds the record.
    monkeypatch.setenv("PAPERLINK_DOI_RESOLVER", f"{invenio_env.root}/doi")
    resolved = run_cli("verify", "--doi", f"https://doi.org/{summary['doi']}").stdout
    assert "3 checked, all OK." in resolved
    assert invenio_env.requests_to("HEAD", "^/doi/")[-1]["status"] == 302
    unknown = run_cli("verify", "--doi", "10.5281/nosuch-00000", ok=False)
    assert unknown.exit_code == 8
    assert "DOI 10.5281/nosuch-00000 is not known to" in unknown.output
    monkeypatch.delenv("PAPERLINK_DOI_RESOLVER")
    record = one_record(invenio_env)
    (Path(record["dir"]) / "gen__figures__plot.svg").write_bytes(b"<svg>swapped</svg>")
    bad = run_cli("verify", "--doi", summary["doi"], "--zenodo-url", invenio_env.api, ok=False)
    assert bad.exit_code == 3 and "MISMATCH" in bad.output
