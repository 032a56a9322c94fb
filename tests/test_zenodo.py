"""Zenodo's deposit API (DepositAPI on the HTTP core, ArchiveClient) against the fake deposit-API server
process: the calls, the checks and every fault."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_zenodo import FakeZenodo

from paperlink.errors import ZenodoAuthError, ZenodoError, ZenodoValidationError
from paperlink.publish.deposit import DepositAPI, deposition_files, is_published
from paperlink.publish.http import ArchiveClient
from paperlink.publish.published import download, get_record
from paperlink.version import __version__

METADATA = {
    "upload_type": "dataset",
    "title": "Results of the study",
    "creators": [{"name": "Curie, Marie", "affiliation": "Sorbonne"}],
    "description": "Figures and the runs that made them.",
    "access_right": "open",
    "license": "cc-by-4.0",
}


@contextlib.contextmanager
def deposit_api(base_url: str, token: str, **options: Any) -> Iterator[DepositAPI]:
    with ArchiveClient(base_url, token, **options) as client:
        yield DepositAPI(client)


def client_for(server: FakeZenodo, **kwargs: Any) -> contextlib.AbstractContextManager[DepositAPI]:
    options: dict[str, Any] = {
        "backoff": 0.05,
        "max_retry_seconds": 20.0,
        "timeout": (10.0, 30.0),
    }
    options.update(kwargs)
    return deposit_api(server.api, server.token, **options)


def make_file(tmp_path: Path, name: str = "data.bin", size: int = 3 << 20) -> tuple[Path, str]:
    path = tmp_path / name
    block = hashlib.sha256(name.encode()).digest() * 1024
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return path, hashlib.md5(data).hexdigest()


def test_create_reserves_doi_and_sends_token_only_in_header(zenodo: FakeZenodo) -> None:
    with client_for(zenodo) as client:
        dep = client.create_deposition("paperlink draft abc")
    assert dep["metadata"]["prereserve_doi"]["doi"] == f"10.5281/zenodo.{dep['id']}"
    assert dep["state"] == "unsubmitted"
    (entry,) = zenodo.log()
    assert entry["headers"]["User-Agent"].startswith(f"paperlink/{__version__}")
    assert entry["headers"]["Authorization"] == f"Bearer {zenodo.token}"
    assert entry["headers"]["Content-Type"] == "application/json"
    assert zenodo.token not in entry["path"]
    assert "Cookie" not in entry["headers"]
    assert zenodo.token not in repr(client)


def test_upload_streams_file_checks_md5_and_reports_progress(
    zenodo: FakeZenodo, tmp_path: Path
) -> None:
    path, md5 = make_file(tmp_path, size=5 << 20)
    seen: list[tuple[int, int]] = []
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        done = client.upload_file(
            dep, "my data (1).bin", path, md5=md5, on_progress=lambda d, t: seen.append((d, t))
        )
        files = client.file_checksums(dep["id"])
    assert done.md5 == md5 and done.size == 5 << 20
    assert files == {"my data (1).bin": (md5, 5 << 20)}
    assert seen[-1] == (5 << 20, 5 << 20) and len(seen) >= 5
    (put,) = zenodo.requests_to("PUT", "/api/files/")
    assert put["path"].endswith("/my%20data%20%281%29.bin")
    assert put["headers"]["Content-Type"] == "application/octet-stream"
    assert put["headers"]["Content-Length"] == str(5 << 20)
    (stored,) = zenodo.state()
    assert (Path(stored["bucket_dir"]) / "my data (1).bin").read_bytes() == path.read_bytes()


def test_429_waits_for_retry_after(zenodo: FakeZenodo) -> None:
    zenodo.fault("429", method="GET", path="/deposit/depositions/", retry_after=1)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        start = time.monotonic()
        again = client.get_deposition(dep["id"])
    assert time.monotonic() - start >= 1.0
    assert again["id"] == dep["id"]
    statuses = [e["status"] for e in zenodo.requests_to("GET", f"/depositions/{dep['id']}")]
    assert statuses == [429, 200]


@pytest.mark.parametrize("action", ["500", "502", "reset"])
def test_upload_retried_after_server_errors_and_resets(
    zenodo: FakeZenodo, tmp_path: Path, action: str
) -> None:
    path, md5 = make_file(tmp_path, size=2 << 20)
    zenodo.fault(action, method="PUT", path="/api/files/")
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        done = client.upload_file(dep, "data.bin", path, md5=md5)
    assert done.md5 == md5
    puts = zenodo.requests_to("PUT", "/api/files/")
    assert len(puts) == 2 and puts[-1]["status"] == 201
    (stored,) = zenodo.state()
    assert stored["files"]["data.bin"]["md5"] == md5


def test_timeout_is_retried(zenodo: FakeZenodo) -> None:
    with client_for(zenodo, timeout=(2.0, 0.5)) as client:
        dep = client.create_deposition("m")
        zenodo.fault("slow", method="GET", path="/deposit/depositions/", seconds=1.5)
        assert client.get_deposition(dep["id"])["id"] == dep["id"]
    assert len(zenodo.requests_to("GET", f"/depositions/{dep['id']}")) == 2


def test_lost_create_answer_leaves_one_deposition(zenodo: FakeZenodo) -> None:
    zenodo.fault("lose", method="POST", path="/deposit/depositions$")
    with client_for(zenodo) as client:
        dep = client.create_deposition("paperlink draft 1234")
    assert len(zenodo.state()) == 1
    assert dep["id"] == zenodo.state()[0]["id"]
    assert len(zenodo.requests_to("POST", "/deposit/depositions$")) == 1
    assert any("status=draft" in e["path"] for e in zenodo.log())


def test_create_failing_with_500_is_sent_again_only_after_looking(zenodo: FakeZenodo) -> None:
    zenodo.fault("500", method="POST", path="/deposit/depositions$")
    with client_for(zenodo) as client:
        client.create_deposition("m")
    methods = [(e["method"], e["path"].split("?")[0]) for e in zenodo.log()]
    assert methods[0] == ("POST", "/api/deposit/depositions")
    assert ("GET", "/api/deposit/depositions") in methods[1:-1]
    assert methods[-1] == ("POST", "/api/deposit/depositions")
    assert len(zenodo.state()) == 1


def test_lost_publish_answer_is_not_published_twice(zenodo: FakeZenodo, tmp_path: Path) -> None:
    path, md5 = make_file(tmp_path, size=1000)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        client.upload_file(dep, "data.bin", path, md5=md5)
        client.update_metadata(dep["id"], METADATA)
        zenodo.fault("lose", method="POST", path="/actions/publish")
        done = client.publish_deposition(dep["id"])
    assert is_published(done) and done["doi"] == f"10.5281/zenodo.{dep['id']}"
    assert len(zenodo.requests_to("POST", "/actions/publish")) == 1


def test_upload_without_md5_in_answer_is_confirmed_from_file_list(
    zenodo: FakeZenodo, tmp_path: Path
) -> None:
    path, md5 = make_file(tmp_path, size=1000)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        zenodo.fault("no_md5", method="PUT", path="/api/files/")
        assert client.upload_file(dep, "data.bin", path, md5=md5).md5 == md5
    assert zenodo.requests_to("GET", f"/depositions/{dep['id']}")


def test_corrupted_upload_is_reported(zenodo: FakeZenodo, tmp_path: Path) -> None:
    path, md5 = make_file(tmp_path, size=1000)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        zenodo.fault("corrupt", method="PUT", path="/api/files/")
        with pytest.raises(ZenodoError, match="corrupted") as caught:
            client.upload_file(dep, "data.bin", path, md5=md5)
    assert md5 in str(caught.value)


@pytest.mark.parametrize("legacy", [False, True])
def test_validation_errors_are_reported_field_by_field(
    zenodo: FakeZenodo, tmp_path: Path, legacy: bool
) -> None:
    zenodo.configure(legacy_errors=legacy)
    try:
        with client_for(zenodo) as client:
            dep = client.create_deposition("m")
            client.update_metadata(dep["id"], {"title": "ab", "creators": [{"affiliation": "x"}]})
            with pytest.raises(ZenodoValidationError) as caught:
                client.publish_deposition(dep["id"])
    finally:
        zenodo.configure(legacy_errors=False)
    fields = [f for f, _ in caught.value.errors]
    assert fields == [
        "metadata.resource_type",
        "metadata.title",
        "metadata.creators.0.person_or_org.family_name",
        "files.enabled",
    ]
    text = str(caught.value)
    assert "metadata.title: Shorter than minimum length 3." in text
    assert "files.enabled: Missing uploaded files" in text
    assert caught.value.exit_code == 9


def test_save_time_validation_error(zenodo: FakeZenodo) -> None:
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        with pytest.raises(ZenodoValidationError, match="Invalid license provided: nope"):
            client.update_metadata(dep["id"], {**METADATA, "license": "nope"})


def test_wrong_token_is_fatal_and_not_retried(zenodo: FakeZenodo) -> None:
    secret = "wr0ng-t0ken-value-123456"
    with (
        deposit_api(zenodo.api, secret, backoff=0.05) as client,
        pytest.raises(ZenodoAuthError) as caught,
    ):
        client.create_deposition("m")
    assert len(zenodo.log()) == 1
    assert "permission denied (HTTP 403)" in str(caught.value)
    assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_retries_are_bounded_in_time(zenodo: FakeZenodo) -> None:
    zenodo.fault("503", method="GET", path="/deposit/depositions/", times=1000)
    with client_for(zenodo, max_retry_seconds=1.0) as client:
        dep = client.create_deposition("m")
        start = time.monotonic()
        with pytest.raises(
            ZenodoError, match="kept failing \\(HTTP 503\\); gave up after retrying for 1 s"
        ):
            client.get_deposition(dep["id"])
    assert time.monotonic() - start < 5
    assert len(zenodo.requests_to("GET", f"/depositions/{dep['id']}")) > 2


def test_new_version_carries_files_and_reuses_open_draft(
    zenodo: FakeZenodo, tmp_path: Path
) -> None:
    path, md5 = make_file(tmp_path, size=1000)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        client.upload_file(dep, "data.bin", path, md5=md5)
        client.update_metadata(dep["id"], METADATA)
        client.publish_deposition(dep["id"])
        draft = client.open_new_version(dep["id"])
        again = client.open_new_version(dep["id"])
        with pytest.raises(ZenodoError, match="HTTP 403"):
            client.upload_file(client.get_deposition(dep["id"]), "data.bin", path, md5=md5)
    assert draft["id"] != dep["id"] and draft["conceptrecid"] == dep["conceptrecid"]
    assert again["id"] == draft["id"]
    assert deposition_files(draft) == {"data.bin": (md5, 1000)}
    assert len(zenodo.requests_to("POST", "/actions/newversion")) == 1


def test_lost_newversion_answer_finds_the_draft(zenodo: FakeZenodo, tmp_path: Path) -> None:
    path, md5 = make_file(tmp_path, size=1000)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        client.upload_file(dep, "data.bin", path, md5=md5)
        client.update_metadata(dep["id"], METADATA)
        client.publish_deposition(dep["id"])
        zenodo.fault("lose", method="POST", path="/actions/newversion")
        draft = client.open_new_version(dep["id"])
    assert len([d for d in zenodo.state() if not d["submitted"]]) == 1
    assert draft["conceptrecid"] == dep["conceptrecid"] and not draft["submitted"]


def test_unreachable_server_gives_clear_error() -> None:
    with (
        deposit_api(
            "http://127.0.0.1:9/api", "tok-abcdef", backoff=0.05, max_retry_seconds=0.5
        ) as client,
        pytest.raises(ZenodoError, match="connection failed") as caught,
    ):
        client.get_deposition(1)
    assert caught.value.exit_code == 8


def test_netrc_entry_does_not_replace_the_token(
    zenodo: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with client_for(zenodo) as client:
        client.create_deposition("m")
    (entry,) = zenodo.log()
    assert entry["headers"]["Authorization"] == f"Bearer {zenodo.token}"


def test_spent_rate_budget_waits_for_reset(zenodo: FakeZenodo) -> None:
    waits: list[float] = []
    zenodo.fault("budget_spent", method="POST", path="/deposit/depositions$")
    with client_for(zenodo, sleep=waits.append) as client:
        client.create_deposition("m")
    assert len(waits) == 1 and 0 < waits[0] <= 2


def test_server_without_deposit_api_is_named(zenodo: FakeZenodo) -> None:
    with (
        deposit_api(f"{zenodo.root}/nothing-here", zenodo.token) as client,
        pytest.raises(ZenodoError, match="offers no Zenodo deposit API"),
    ):
        client.create_deposition("m")


def test_published_record_files_download_with_md5_check(zenodo: FakeZenodo, tmp_path: Path) -> None:
    path, md5 = make_file(tmp_path, "data.bin", size=3 << 20)
    with client_for(zenodo) as client:
        dep = client.create_deposition("m")
        client.upload_file(dep, "data v1.bin", path, md5=md5)
        client.update_metadata(dep["id"], METADATA)
        client.publish_deposition(dep["id"])
        record = get_record(client.client, dep["id"])
        (entry,) = record["files"]
        assert entry["key"] == "data v1.bin" and entry["checksum"] == f"md5:{md5}"
        zenodo.fault("truncate", method="GET", path="/content$")
        got = download(
            client.client, dep["id"], "data v1.bin", tmp_path / "copy.bin", md5=entry["checksum"]
        )
        assert got == md5 and (tmp_path / "copy.bin").read_bytes() == path.read_bytes()
        with pytest.raises(ZenodoError, match=r"the record says 0{32}"):
            download(client.client, dep["id"], "data v1.bin", tmp_path / "bad.bin", md5="0" * 32)
    assert not (tmp_path / "bad.bin").exists() and not list(tmp_path.glob(".*.part"))
    assert len(zenodo.requests_to("GET", "/content$")) == 3
