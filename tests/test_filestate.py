import os
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT

from paperlink.filestate import DigestCache, FileState, changed_paths, snapshot_tree
from paperlink.hashing import digest_bytes
from paperlink.store import RecordStore


def test_cache_is_keyed_on_size_mtime_and_inode(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"first")
    old = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))
    with RecordStore.create(tmp_path / "s.sqlite") as store:
        cache = DigestCache(store)
        assert cache.digest(path) == digest_bytes(b"first")
        cache.flush()
        # Same size, same mtime, same inode: the cache answers without reading the file again.
        with path.open("r+b") as stream:
            stream.write(b"FIRST")
        os.utime(path, ns=(old, old))
        assert DigestCache(store).digest(path) == digest_bytes(b"first")
        # Any change to the stat is a miss.
        os.utime(path, ns=(old + 1, old + 1))
        assert DigestCache(store).digest(path) == digest_bytes(b"FIRST")


def test_recent_files_are_not_cached(tmp_path: Path) -> None:
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"x")
    with RecordStore.create(tmp_path / "s.sqlite") as store:
        cache = DigestCache(store)
        cache.digest(path)
        cache.flush()
        assert store.cached_digests([str(path)]) == {}


def test_snapshot_and_changes(tmp_path: Path) -> None:
    (tmp_path / "figures" / "sub").mkdir(parents=True)
    (tmp_path / "figures" / "a.svg").write_text("a")
    (tmp_path / "figures" / "sub" / "b.svg").write_text("b")
    (tmp_path / "figures" / "link").symlink_to("a.svg")
    before = snapshot_tree(tmp_path, ["figures", "missing"])
    assert set(before) == {"figures/a.svg", "figures/sub/b.svg", "figures/link"}
    assert before["figures/link"].is_link
    (tmp_path / "figures" / "sub" / "b.svg").write_text("bb")
    (tmp_path / "figures" / "c.svg").write_text("c")
    after = snapshot_tree(tmp_path, ["figures"])
    assert changed_paths(before, after, {}, lambda p: None) == [
        "figures/c.svg",
        "figures/sub/b.svg",
    ]


def test_doubtful_path_compared_by_digest() -> None:
    state = FileState(1, 5, 7)
    assert changed_paths({"f": state}, {"f": state}, {"f": "old"}, lambda p: "new") == ["f"]
    assert changed_paths({"f": state}, {"f": state}, {"f": "same"}, lambda p: "same") == []


@pytest.mark.slow
def test_large_file_shows_a_progress_bar_on_a_terminal_only(project_dir: Path) -> None:
    import pty
    import subprocess

    (project_dir / "big.py").write_text(
        "with open('figures/big.bin', 'wb') as f:\n    f.write(b'\\0' * (200 << 20))\n"
    )
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "PYTHONPATH": str(REPO_ROOT)}
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperlink", "run", "--label", "big", "--", sys.executable, "big.py"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary, env=env,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(main)
    assert proc.returncode == 0
    import re

    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen)
    assert b"hashing figures/big.bin" in text, text[-2000:]
    piped = subprocess.run(
        [sys.executable, "-m", "paperlink", "run", "--label", "big2", "--", sys.executable, "big.py"],
        capture_output=True, env=env, check=True,
    )  # fmt: skip
    assert b"hashing" not in piped.stderr
