"""The record store on real file systems that fail: a full disk (tmpfs, or ``ulimit -f`` where mounting is
refused) and a read-only store (``chattr +i`` and a read-only remount of a loop-mounted ext4 image)."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_filesystems import TMPFS, ULIMIT, SmallFileSystem
from helpers import git, paperlink_process

from paperlink.core.store import RecordStore
from paperlink.errors import StoreReadOnly

FIGURE = (
    "import pathlib, sys\n"
    "name = sys.argv[1] if len(sys.argv) > 1 else 'a'\n"
    "pathlib.Path('figures').mkdir(exist_ok=True)\n"
    "pathlib.Path(f'figures/{name}.svg').write_text(f'<svg id=\"{name}\"/>')\n"
)
# Prints 6 MB that do not compress much, then writes figures/big.bin until the disk (or ulimit -f) stops it.
FILL = (
    "import os, random, sys\n"
    "os.makedirs('figures', exist_ok=True)\n"
    "open('figures/fig.svg', 'w').write('<svg/>')\n"
    "sys.stdout.write(random.Random(7).randbytes(3_000_000).hex())\n"
    "sys.stdout.flush()\n"
    "try:\n"
    "    with open('figures/big.bin', 'wb', buffering=0) as out:\n"
    "        while True:\n"
    "            out.write(b'x' * 65536)\n"
    "except OSError as exc:\n"
    "    print('stopped:', exc.strerror, file=sys.stderr)\n"
    "sys.exit(3)\n"
)


def make_project(root: Path) -> Path:
    """A git repository with the scripts above, ``paperlink init`` done (all as real processes)."""
    root.mkdir()
    (root / "figure.py").write_text(FIGURE)
    (root / "fill.py").write_text(FILL)
    (root / ".gitignore").write_text("figures/\nresults/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "analysis")
    done = paperlink_process("init", "--name", "study", cwd=root)
    assert done.returncode == 0, done.stderr
    git(root, "add", "paperlink.toml")
    git(root, "commit", "-q", "-m", "paperlink")
    return root


def record_json(fs: SmallFileSystem, root: Path, label: str) -> dict[str, object]:
    shown = fs.run("show", label, "--json", cwd=root)
    assert shown.returncode == 0, shown.stderr
    data: dict[str, object] = json.loads(shown.stdout)
    return data


def test_a_command_that_fills_the_disk_keeps_its_record_and_exit_status(
    small_fs: Callable[[int], SmallFileSystem],
) -> None:
    fs = small_fs(3 << 20)
    root = make_project(fs.path / "study")
    done = fs.run("run", "--label", "fill", "--", sys.executable, "fill.py", cwd=root)
    assert done.returncode == 3, done.stderr[-3000:]  # the command's own status, not paperlink's
    assert b"Traceback" not in done.stderr, done.stderr[-3000:]
    assert b"the record store's disk was full" in done.stderr
    # Read back while the disk is still full: reading needs no room.
    record = record_json(fs, root, "fill")
    outcome = record["outcome"]
    assert isinstance(outcome, dict)
    assert (outcome["status"], outcome["exit_status"]) == ("failed", 3)
    outputs = {o["path"]: o for o in record["outputs"]}  # type: ignore[attr-defined]
    assert outputs["figures/fig.svg"]["sha256"] == hashlib.sha256(b"<svg/>").hexdigest()
    assert "figures/big.bin" in outputs
    printed = random.Random(7).randbytes(3_000_000).hex().encode()
    stdout = outcome["stdout"]
    assert stdout["size"] == len(printed)
    assert stdout["sha256"] == hashlib.sha256(printed).hexdigest()
    assert stdout["truncated"] and 0 < stdout["stored_bytes"] <= 64 << 10
    kept = fs.run("show", "fill", "--stdout", cwd=root).stdout
    assert kept.startswith(printed[:1000]) and kept.endswith(printed[-1000:])
    # The store is sound: once there is room again it takes writes.
    (root / "figures" / "big.bin").unlink()
    fs.free()
    tagged = fs.run("tag", "fill", "kept", cwd=root)
    assert tagged.returncode == 0, tagged.stderr


def test_a_record_too_big_for_the_full_disk_is_reported_and_the_status_passes_through(
    small_fs: Callable[[int], SmallFileSystem],
) -> None:
    fs = small_fs(32 << 20)
    if fs.kind == ULIMIT:
        fs.limit = 3 << 19  # above the room a run reserves, below what 4000 outputs take
    root = make_project(fs.path / "study")
    # 4000 outputs make a record of about 1.7 MB, more than the room reserved for it.
    (root / "many.py").write_text(
        "import os\n"
        "os.makedirs('figures', exist_ok=True)\n"
        "for i in range(4000):\n"
        "    open(f'figures/{i:04d}-' + 'n' * 190 + '.txt', 'w').write(str(i))\n"
        + FILL.replace("sys.exit(3)", "sys.exit(4)")
    )
    done = fs.run("run", "--label", "many", "--", sys.executable, "many.py", cwd=root)
    assert done.returncode == 4, done.stderr[-3000:]
    assert b"Traceback" not in done.stderr, done.stderr[-3000:]
    error = done.stderr.decode()
    assert "cannot write to the record store" in error
    assert "the record of run 'many' could not be completed" in error
    assert "exit status (4) is passed through" in error
    listed = fs.run("list", cwd=root)
    assert listed.returncode == 0 and b"incomplete" in listed.stdout


def test_a_full_disk_before_the_run_exits_5_and_runs_nothing(
    small_fs: Callable[[int], SmallFileSystem], tmp_path: Path
) -> None:
    fs = small_fs(4 << 20)
    root = make_project(fs.path / "study")
    first = fs.run("run", "-q", "--label", "a", "--", sys.executable, "figure.py", "a", cwd=root)
    assert first.returncode == 0, first.stderr
    fs.fill()
    marker = tmp_path / "ran"
    done = fs.run("run", "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')", cwd=root)
    assert done.returncode == 5, done.stderr
    assert not marker.exists()
    assert b"Traceback" not in done.stderr
    assert b"cannot write to the record store" in done.stderr
    assert b"the command did not run" in done.stderr
    if fs.kind == TMPFS:
        assert b"full" in done.stderr
    # Reading needs no room: list and show work on the full disk, and a write says why it fails.
    listed = fs.run("list", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert b"a " in listed.stdout and b"finished" in listed.stdout
    assert fs.run("show", "a", cwd=root).returncode == 0
    tagged = fs.run("tag", "a", "x", cwd=root)
    assert tagged.returncode == 5 and b"Traceback" not in tagged.stderr
    assert b"cannot write to the record store" in tagged.stderr
    fs.free()
    assert fs.run("tag", "a", "x", cwd=root).returncode == 0
    assert fs.run("run", "-q", "--", "true", cwd=root).returncode == 0


def make_read_only(root: Path, how: str, mount_point: Path) -> None:
    if how == "immutable":
        subprocess.run(["chattr", "+i", str(root / ".paperlink/records.sqlite")], check=True)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)


@pytest.mark.parametrize("how", ["immutable", "read-only mount"])
def test_a_read_only_store_is_read_and_refuses_writes_clearly(
    ext4_fs: Path, serve: Callable[..., object], tmp_path: Path, how: str
) -> None:
    root = make_project(ext4_fs / "study")
    for label in ("a", "b"):
        done = paperlink_process(
            "run", "-q", "--label", label, "--", sys.executable, "figure.py", label, cwd=root
        )
        assert done.returncode == 0, done.stderr
    (root / "paper").mkdir()
    (root / "paper/main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n\\plincludegraphics{a}\n\\end{document}\n"
    )
    make_read_only(root, how, ext4_fs)

    listed = paperlink_process("list", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert b"a " in listed.stdout and b"b " in listed.stdout
    shown = paperlink_process("show", "a", "--json", cwd=root)
    assert shown.returncode == 0 and json.loads(shown.stdout)["label"] == "a"
    checked = paperlink_process("verify", "paper/main.tex", cwd=root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert b"OK" in checked.stdout
    site = paperlink_process("site", str(tmp_path / "site"), cwd=root)
    assert site.returncode == 0, site.stderr
    assert (tmp_path / "site/records/a/files/figures/a.svg").read_text() == '<svg id="a"/>'
    viewer = serve(root)
    assert "figures/a.svg" in viewer.text("/records/a")  # type: ignore[attr-defined]
    status, _, body = viewer.get("/records/a/files/figures/a.svg")  # type: ignore[attr-defined]
    assert (status, body) == (200, b'<svg id="a"/>')

    for args in (("tag", "a", "x"), ("run", "--", "true")):
        refused = paperlink_process(*args, cwd=root)
        assert refused.returncode == 5, refused.stderr
        assert b"Traceback" not in refused.stderr and b"corrupted" not in refused.stderr
        assert b"cannot write to the record store" in refused.stderr
        assert b"read-only" in refused.stderr, refused.stderr


def test_a_read_only_store_of_an_older_schema_says_it_cannot_be_upgraded(ext4_fs: Path) -> None:
    path = ext4_fs / "records.sqlite"
    RecordStore.create(path).close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM migrations WHERE name = '0003_digest_cache_ctime'")
    db.commit()
    db.close()
    subprocess.run(["chattr", "+i", str(path)], check=True)
    with pytest.raises(StoreReadOnly, match="cannot be upgraded: the file is read-only"):
        RecordStore(path)
