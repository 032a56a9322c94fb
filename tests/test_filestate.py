import os
import stat
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO_ROOT

from paperlink.core.filestate import (
    DOUBT_WINDOW_NS,
    DigestCache,
    changed_paths,
    doubtful,
    file_state,
    snapshot_tree,
    state_kind,
)
from paperlink.core.hashing import digest_bytes
from paperlink.core.store import RecordStore

REGULAR = stat.S_IFREG | 0o644


def test_cache_is_keyed_on_what_a_rewrite_in_place_cannot_restore(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"first")
    old = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))
    # Only a file whose change time is older than the clock's doubt window is cached.
    time.sleep(DOUBT_WINDOW_NS / 1e9 + 0.2)
    with RecordStore.create(tmp_path / "s.sqlite") as store:
        cache = DigestCache(store)
        assert cache.digest(path) == digest_bytes(b"first")
        cache.flush()
        # Unchanged: the cache answers without reading the file (a planted digest proves it).
        ((key, row),) = store.cached_digests([str(path)]).items()
        store.remember_digests([(key, *row[:5], "0" * 64, row[6], row[7])])
        assert DigestCache(store).digest(path).sha256 == "0" * 64
        # Rewritten in place with the same size, mtime put back, same inode: the change time differs.
        with path.open("r+b") as stream:
            stream.write(b"FIRST")
        os.utime(path, ns=(old, old))
        assert path.stat().st_mtime_ns == old and path.stat().st_size == 5
        assert DigestCache(store).digest(path) == digest_bytes(b"FIRST")
        # --rehash: the cache is not asked at all.
        store.remember_digests([(key, *row[:5], "0" * 64, row[6], row[7])])
        assert DigestCache(store, rehash=True).digest(path) == digest_bytes(b"FIRST")


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
    assert state_kind(before["figures/link"]) == "symlink"
    (tmp_path / "figures" / "sub" / "b.svg").write_text("bb")
    (tmp_path / "figures" / "c.svg").write_text("c")
    after = snapshot_tree(tmp_path, ["figures"])
    assert changed_paths(before, after, {}, lambda p: None) == [
        "figures/c.svg",
        "figures/sub/b.svg",
    ]


def test_doubtful_path_compared_by_digest() -> None:
    state = file_state(1, 5, 7)
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


def test_doubtful_files_are_the_regular_ones_changed_within_the_window() -> None:
    now = 10 * DOUBT_WINDOW_NS
    edge = now - DOUBT_WINDOW_NS
    states = {
        "old": file_state(1, edge - 5, 1, REGULAR, edge - 5),
        "at-the-edge": file_state(1, edge, 2, REGULAR, edge),
        "written": file_state(1, edge + 1, 3, REGULAR, edge - 5),
        "touched-back": file_state(
            1, edge - 5, 4, REGULAR, now
        ),  # touch -d: only the ctime is recent
        "pipe": file_state(0, now, 5, stat.S_IFIFO | 0o644, now),  # never opened
        "link": file_state(3, now, 6, stat.S_IFLNK | 0o777, now),
    }
    assert doubtful(states, now) == ["written", "touched-back"]
    assert doubtful({}, now) == []


def test_changed_paths_are_the_new_and_changed_ones_and_the_rewritten_doubtful_ones() -> None:
    same = file_state(1, 100, 1)
    before = {
        "kept": same,
        "edited": file_state(1, 100, 2),
        "gone": same,
        "doubt": same,
        "doubt-same": same,
    }
    after = {
        "kept": same,
        "edited": file_state(2, 200, 2),
        "new": same,
        "doubt": same,
        "doubt-same": same,
    }
    digests = {"doubt": "sha-old", "doubt-same": "sha-kept", "gone": "sha-gone"}
    rehashed = {"doubt": "sha-new", "doubt-same": "sha-kept"}
    assert changed_paths(before, after, digests, rehashed.get) == ["doubt", "edited", "new"]


def test_an_output_folder_that_is_a_link_is_followed_and_links_below_it_are_not(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    (scratch / "run1").mkdir(parents=True)
    (scratch / "run1" / "a.dat").write_bytes(b"a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("not an output")
    project = tmp_path / "project"
    project.mkdir()
    (project / "results").symlink_to(scratch)
    (scratch / "outside").symlink_to(elsewhere)
    states = snapshot_tree(project, ["results"])
    assert set(states) == {"results/run1/a.dat", "results/outside"}
    assert state_kind(states["results/outside"]) == "symlink"
    assert state_kind(states["results/run1/a.dat"]) == "file"
