"""A publication's progress, saved atomically after every step under ``.paperlink/publish/`` so that a run
stopped by a crash, ``kill -9`` or Ctrl-C continues the same deposition; and the lock that lets one
``publish`` of the same records run at a time. The state never holds the token."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperlink.core.config import atomic_write_text
from paperlink.core.records import format_time, utc_now
from paperlink.errors import ConfigError, UsageError


def publication_key(server: str, labels: list[str]) -> str:
    """The same records to the same server are the same publication."""
    text = json.dumps([server.rstrip("/"), sorted(labels)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PublishState:
    """What is done so far, saved atomically (temp file + rename) after every step."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path, **initial: Any) -> PublishState:
        if path.is_file():
            try:
                return cls(path, json.loads(path.read_text(encoding="utf-8")))
            except ValueError as exc:
                raise ConfigError(
                    f"the publish state {path} is unreadable: {exc}",
                    hint="remove it to start over (a draft already on the server stays there)",
                ) from exc
        return cls(path, dict(initial))

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    def update(self, **changes: Any) -> None:
        self.data.update(changes)
        self.data["updated"] = format_time(utc_now())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """One ``publish`` per publication at a time (the kernel drops the lock if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(
                "another 'paperlink publish' of these records is running",
                hint="wait for it to finish (or stop it), then run this command again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
