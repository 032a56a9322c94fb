"""The hostile archive server (``tests/fakes/hostile_server.py``) as a real process on 127.0.0.1.

``hostile_server`` (session) starts it on port 0 and stops it at the end; ``hostile`` (per test) resets
it and offers ``serve(files)`` to set the archive it answers with and ``downloads()`` to see which file
contents were asked for.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HOSTILE_SERVER = Path(__file__).resolve().parent / "fakes" / "hostile_server.py"
RECORD_ID = "777"


@dataclass
class HostileArchive:
    root: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]

    @property
    def record_url(self) -> str:
        return f"{self.root}/records/{RECORD_ID}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.root}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def serve(self, files: dict[str, bytes], *, invenio: bool = False, **extra: Any) -> None:
        """Answer for record 777 with these files (key -> content), in this order."""
        entries = [
            {"key": key, "content_b64": base64.b64encode(content).decode(), **extra.get(key, {})}
            for key, content in files.items()
        ]
        self._call(
            "POST", "/_control/archive", {"id": RECORD_ID, "invenio": invenio, "files": entries}
        )

    def downloads(self) -> list[str]:
        return [e["path"] for e in self._call("GET", "/_control/log") if "/content" in e["path"]]


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileArchive]:
    process = subprocess.Popen(
        [sys.executable, str(HOSTILE_SERVER), "--port", "0"], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    assert line.startswith("PORT "), f"hostile server did not start: {line!r}"
    yield HostileArchive(root=f"http://127.0.0.1:{int(line.split()[1])}", process=process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


@pytest.fixture
def hostile(hostile_server: HostileArchive) -> HostileArchive:
    hostile_server._call("POST", "/_control/reset", {})
    return hostile_server
