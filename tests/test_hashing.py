import hashlib
from pathlib import Path

import pytest

from paperlink.core import hashing
from paperlink.core.hashing import algorithm_of, digest_bytes, digest_file
from paperlink.errors import CaptureError


@pytest.mark.parametrize(
    "size", [0, 1, hashing.CHUNK_SIZE + 7, hashing.PARALLEL_THRESHOLD + 3 * 4096]
)
def test_digest_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = (b"paperlink\x00\xff" * (size // 11 + 1))[:size]
    path = tmp_path / "blob"
    path.write_bytes(data)
    found = digest_file(path)
    assert found.size == size
    assert found.sha256 == hashlib.sha256(data).hexdigest()
    assert found.md5 == hashlib.md5(data).hexdigest()
    assert found.sha1 == hashlib.sha1(data).hexdigest()
    assert found == digest_bytes(data)


def test_progress_reports_every_chunk_up_to_the_total(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * (hashing.PARALLEL_THRESHOLD + 10))
    seen: list[tuple[int, int]] = []
    digest_file(path, lambda done, total: seen.append((done, total)))
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_unreadable_file_is_a_capture_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"cannot read .*missing"):
        digest_file(tmp_path / "missing")
    with pytest.raises(CaptureError, match="is a directory"):
        digest_file(tmp_path)


def test_matches_accepts_any_of_the_three_algorithms() -> None:
    found = digest_bytes(b"abc")
    assert found.matches(found.sha256) and found.matches("sha256:" + found.sha256)
    assert found.matches(found.sha1.upper()) and found.matches(found.md5)
    assert not found.matches("0" * 64)


@pytest.mark.parametrize(
    ("digest", "algorithm"), [("a" * 64, "sha256"), ("b" * 40, "sha1"), ("c" * 32, "md5")]
)
def test_algorithm_is_told_by_length(digest: str, algorithm: str) -> None:
    assert algorithm_of(digest) == algorithm


@pytest.mark.parametrize("bad", ["xyz", "a" * 33])
def test_malformed_digest_is_explained(bad: str) -> None:
    with pytest.raises(CaptureError, match="hex"):
        algorithm_of(bad)
