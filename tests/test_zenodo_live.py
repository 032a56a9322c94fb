"""The real Zenodo sandbox: deselected by default (``-m "not zenodo_live"`` in addopts).

Run with ``ZENODO_SANDBOX_TOKEN=… pytest -m zenodo_live``. Creates a draft, uploads a file, checks its md5,
sets metadata and deletes the draft again, so the sandbox account is left as it was.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from paperlink.publish.api import SANDBOX_URL
from paperlink.publish.deposit import DepositAPI, deposition_files
from paperlink.publish.http import ArchiveClient

pytestmark = [
    pytest.mark.zenodo_live,
    pytest.mark.allow_hosts(["sandbox.zenodo.org"]),
]


def test_sandbox_draft_upload_and_delete(tmp_path: Path) -> None:
    token = os.environ.get("ZENODO_SANDBOX_TOKEN", "")
    assert token, "set ZENODO_SANDBOX_TOKEN to run the live sandbox test"
    path = tmp_path / "hello.txt"
    path.write_bytes(b"paperlink live test\n")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    with ArchiveClient(SANDBOX_URL, token, max_retry_seconds=120) as http:
        client = DepositAPI(http)
        deposition = client.create_deposition("paperlink live test (deleted right away)")
        try:
            assert deposition["metadata"]["prereserve_doi"]["doi"].endswith(str(deposition["id"]))
            assert client.upload_file(deposition, "hello.txt", path, md5=md5).md5 == md5
            assert deposition_files(client.get_deposition(deposition["id"]))["hello.txt"][0] == md5
            updated = client.update_metadata(
                deposition["id"],
                {
                    "upload_type": "dataset",
                    "title": "paperlink live test",
                    "creators": [{"name": "Tester, Paperlink"}],
                    "description": "Deleted right away.",
                },
            )
            assert updated["metadata"]["title"] == "paperlink live test"
        finally:
            client.delete_deposition(deposition["id"])
