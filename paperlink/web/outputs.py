"""A record's outputs as the viewer and the static site show them: where each file is now, whether it still
has the recorded digest, and whether the record's archive holds it. Both the record pages and the figure
pages (:mod:`paperlink.web.figures`) build on this, so it sits below both.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import field
from pathlib import Path

from paperlink.core.files import FileDigest
from paperlink.core.filestate import DigestCache
from paperlink.core.hashing import Digests
from paperlink.core.model import model
from paperlink.core.records import Publication, Record
from paperlink.core.store import RecordStore
from paperlink.errors import CaptureError

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}

# Verification states of an output, as the figure pages show them.
STATE_OK = "ok"
STATE_CHANGED = "changed"
STATE_MISSING = "missing"
STATE_NOT_ARCHIVED = "not-archived"
STATE_AMBIGUOUS = "ambiguous"  # another run of the project may have written it (recorder.overlap)


@model
class OutputView:
    """An output file with what the viewer knows about it now."""

    item: FileDigest
    state: str  # ok | changed | missing
    current_sha256: str | None = None
    archive: str = STATE_NOT_ARCHIVED  # archived | archived-different | not-archived
    archive_name: str | None = None
    shared_with: list[str] = field(default_factory=list)  # other runs that may have written it

    @property
    def is_image(self) -> bool:
        return Path(self.item.path).suffix.lower() in IMAGE_TYPES

    @property
    def verdict(self) -> str:
        """The figure's state in one word: changed on disk beats ambiguous beats not archived beats OK."""
        if self.state != STATE_OK:
            return STATE_CHANGED if self.state == STATE_CHANGED else STATE_MISSING
        if self.shared_with:
            return STATE_AMBIGUOUS
        if self.archive != "archived":
            return STATE_NOT_ARCHIVED
        return STATE_OK


def inside_project(root: Path, path: str) -> Path | None:
    """The file ``path`` (as a record names it) when it is inside ``root`` once every symlink is
    followed; ``None`` for absolute paths, ``..`` escapes and symlinks that point outside."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return None
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(real_root / path))
    if candidate != real_root and real_root not in candidate.parents:
        return None
    return candidate


def output_views(root: Path, store: RecordStore, record: Record) -> list[OutputView]:
    """Each output of ``record`` with its state on disk now and in the record's archive."""
    located = {item.path: inside_project(root, item.fs_path) for item in record.outputs}
    wanted = [p for p in located.values() if p is not None and p.is_file()]
    found: dict[Path, Digests | CaptureError] = DigestCache(store).digests(wanted) if wanted else {}
    views = []
    for item in record.outputs:
        path = located[item.path]
        now = found.get(path) if path is not None else None
        if isinstance(now, Digests):
            state = STATE_OK if now.sha256 == item.sha256 else STATE_CHANGED
            view = OutputView(item, state, now.sha256)
        else:
            view = OutputView(item, STATE_MISSING)
        view.archive, view.archive_name = archive_state(record.publication, item)
        shared = record.ambiguity(item.path)
        view.shared_with = list(shared.runs) if shared is not None else []
        views.append(view)
    return views


def archive_state(publication: Publication | None, item: FileDigest) -> tuple[str, str | None]:
    """Whether ``item`` is in the record's archive, and under which name."""
    if publication is None:
        return STATE_NOT_ARCHIVED, None
    for published in publication.files:
        if published.source_path == item.path or (
            published.source_path is None and published.name == posixpath.basename(item.path)
        ):
            if published.md5 and item.md5 and published.md5 != item.md5:
                return "archived-different", published.name
            return "archived", published.name
    return STATE_NOT_ARCHIVED, None
