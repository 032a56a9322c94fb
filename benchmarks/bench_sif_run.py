"""What recording a run's SIF image costs: `paperlink run --sif IMAGE -- true` the first time (the image
is read and hashed: its identity) and then (the identity comes from the store, keyed by the file's path,
size, times, inode and device), against `paperlink run -- true` with no image and `sha256sum IMAGE`.

Goal (issue 16): a 1 GiB image is not hashed again on every run, so a run with a cached image costs about
what a run without one does. The image is built with the reference implementation (tests/sifbuild), its
partition filled with random bytes, and read once beforehand so every tool reads from the page cache. The
store is emptied of the image's identity before each cold run; the median counts.

    python benchmarks/bench_sif_run.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sif import make_big_sif
from common import median, print_table, time_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    paperlink = [sys.executable, "-m", "paperlink"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image = make_big_sif(work, args.size_mib)
        project = work / "project"
        project.mkdir()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        for argv in (["git", "init", "-q"], [*paperlink, "init", "--name", "bench"]):
            subprocess.run(argv, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
        store = project / ".paperlink" / "records.sqlite"
        image.read_bytes()  # warm the page cache
        time.sleep(2.1)  # a file changed in the last two seconds is never remembered
        runs = [*paperlink, "run", "-q", "--"]
        with_sif = [*paperlink, "run", "-q", "--sif", str(image), "--"]
        subprocess.run([*runs, "true"], cwd=project, env=env, check=True)  # fills the caches
        times: dict[str, list[float]] = {
            "paperlink run -- true": [],
            "paperlink run --sif IMAGE -- true, first run": [],
            "paperlink run --sif IMAGE -- true, cached": [],
            "sha256sum IMAGE": [],
        }
        names = list(times)
        for _ in range(args.runs):
            with sqlite3.connect(store) as db:
                db.execute("DELETE FROM tool_cache WHERE key LIKE 'sif:%'")
            times[names[1]].append(time_command([*with_sif, "true"], cwd=project, env=env))
            times[names[2]].append(time_command([*with_sif, "true"], cwd=project, env=env))
            times[names[0]].append(time_command([*runs, "true"], cwd=project, env=env))
            times[names[3]].append(time_command(["sha256sum", str(image)]))
        base = median(times[names[0]])
        rows = [
            [name, f"{median(values) * 1000:.0f} ms", f"{(median(values) - base) * 1000:+.0f} ms"]
            for name, values in times.items()
        ]
        print_table(
            f"A run's SIF image, {image.stat().st_size / (1 << 20):.0f} MiB "
            f"(median of {args.runs})",
            ["command", "time", "vs a run without an image"],
            rows,
        )


if __name__ == "__main__":
    main()
