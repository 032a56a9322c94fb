"""Fixtures for the Zenodo tests: the fake Zenodo / InvenioRDM server as a real process on 127.0.0.1.

``zenodo_server`` (session) starts ``tests/fakes/zenodo_server.py`` on port 0, reads the port from its
stdout and stops it at the end; ``zenodo`` (per test) resets it and offers helpers to inject faults and to
see what the server received; ``invenio`` (per test) is the same server answering like a plain InvenioRDM
(the records API only, 404 on every deposit route).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FAKE_SERVER = Path(__file__).resolve().parent / "fakes" / "zenodo_server.py"
# Looks like a real personal access token, so a leak would be easy to grep.
TEST_TOKEN = "zTok3n-s3cr3t-4b1d9e0f7c2a5b8e1d4c7f0a3b6e9d2c"


@dataclass
class FakeZenodo:
    root: str  # http://127.0.0.1:PORT
    token: str
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.root}/api"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.root}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "/_control/reset", {})

    def fault(
        self,
        action: str,
        *,
        method: str | None = None,
        path: str = "",
        times: int = 1,
        **extra: Any,
    ) -> None:
        entry: dict[str, Any] = {"action": action, "path": path, "times": times, **extra}
        if method:
            entry["method"] = method
        self._call("POST", "/_control/faults", [entry])

    def configure(self, **settings: Any) -> None:
        self._call("POST", "/_control/config", settings)

    def log(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_control/log")
        return result

    def state(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_control/state")
        return result

    def records(self) -> list[dict[str, Any]]:
        """The records API's drafts and records (``dir`` holds each one's file contents)."""
        result: list[dict[str, Any]] = self._call("GET", "/_control/records")
        return result

    def requests_to(self, method: str, pattern: str) -> list[dict[str, Any]]:
        """The requests received with ``method`` whose path (without query) matches regex ``pattern``."""
        return [
            e
            for e in self.log()
            if e["method"] == method and re.search(pattern, e["path"].split("?")[0])
        ]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError("the fake Zenodo server never reached the expected state")


@pytest.fixture(scope="session")
def zenodo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeZenodo]:
    data_dir = tmp_path_factory.mktemp("zenodo-data")
    process = subprocess.Popen(
        [
            sys.executable,
            str(FAKE_SERVER),
            "--port",
            "0",
            "--token",
            TEST_TOKEN,
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    assert line.startswith("PORT "), f"fake Zenodo server did not start: {line!r}"
    server = FakeZenodo(
        root=f"http://127.0.0.1:{int(line.split()[1])}", token=TEST_TOKEN, process=process
    )
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


@pytest.fixture
def zenodo(zenodo_server: FakeZenodo) -> FakeZenodo:
    zenodo_server.reset()
    return zenodo_server


@pytest.fixture
def invenio(zenodo_server: FakeZenodo) -> FakeZenodo:
    zenodo_server.reset()  # the next reset brings the deposit API back
    zenodo_server.configure(apis="records")
    return zenodo_server
