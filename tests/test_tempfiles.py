"""Temporary files a killed paperlink leaves, and the next run that removes them (issue 12, item 8)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from helpers import paperlink_process, run_cli

from paperlink.core.tempfiles import create_temp, remove_stale


def temporaries(folder: Path) -> list[str]:
    """Hidden files in ``folder`` that are a write in progress (today's names, and the old ones)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and ("tmp" in p.name))


def _in_progress(entry: os.DirEntry[str], before: set[str], grown: int) -> bool:
    if not entry.name.startswith(".") or "tmp" not in entry.name or entry.name in before:
        return False
    try:
        return entry.stat().st_size >= grown
    except FileNotFoundError:  # renamed into place meanwhile
        return False


def kill_while_writing(args: list[str], folder: Path, *, grown: int = 0, attempts: int = 40) -> int:
    """Start ``paperlink ARGS`` and `kill -9` it the moment a temporary file of at least ``grown``
    bytes appears in ``folder``; retried until a kill leaves one behind. Returns its process id."""
    before = set(temporaries(folder))
    for _ in range(attempts):
        process = subprocess.Popen(
            [sys.executable, "-m", "paperlink", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        while process.poll() is None:
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            if any(_in_progress(e, before, grown) for e in entries):
                process.send_signal(signal.SIGKILL)
                break
        process.wait()
        if process.returncode == -signal.SIGKILL and set(temporaries(folder)) - before:
            return process.pid
    raise AssertionError(f"no kill of 'paperlink {' '.join(args)}' left a temporary file")


def test_killed_latex_is_cleaned_up_by_the_next_run(project_dir: Path) -> None:
    for n in range(3):
        run_cli("run", "-q", "--label", f"fig{n}", "--", "python3", "make_figure.py", f"f{n}")
    out = project_dir / "paper"
    out.mkdir()
    kill_while_writing(["latex", "--out", str(out)], out)
    kill_while_writing(["latex", "--out", str(out)], out)
    # Each run removes what the killed ones before it left: leftovers never pile up ...
    assert len(temporaries(out)) == 1, temporaries(out)
    done = paperlink_process("latex", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert temporaries(out) == []  # ... and the next complete run leaves none
    assert "fig2" in (out / "paperlink-data.tex").read_text()


def test_only_temporaries_of_dead_processes_of_this_host_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        host = socket.gethostname().replace("-", "_")
        names = {
            "dead": f".fig.pdf.paperlink-tmp-{host}-{dead.pid}",
            "dead, second writer": f".fig.pdf.paperlink-tmp-{host}-{dead.pid}.3",
            "alive": f".data.tex.paperlink-tmp-{host}-{alive.pid}",
            "this process": f".x.paperlink-tmp-{host}-{os.getpid()}",
            "other host": f".y.paperlink-tmp-elsewhere-{dead.pid}",
            "not ours": ".z.tmp",
        }
        for name in names.values():
            (tmp_path / name).write_text("partial")
        removed = remove_stale(tmp_path)
        assert sorted(p.name for p in removed) == sorted(
            [names["dead"], names["dead, second writer"]]
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            name for key, name in names.items() if not key.startswith("dead")
        )
        # A write takes a fresh name, also beside another writer of the same target in this process.
        fd1, first = create_temp(tmp_path / "fig.pdf")
        fd2, second = create_temp(tmp_path / "fig.pdf")
        os.close(fd1)
        os.close(fd2)
        assert first != second and first.name.startswith(".fig.pdf.paperlink-tmp-")
        assert remove_stale(tmp_path) == []  # both are this live process's
    finally:
        alive.kill()
        alive.wait()
