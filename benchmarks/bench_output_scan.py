"""Output detection with many files: `paperlink run -- true` in a project whose output folders hold 50,000
files, against the same in an empty project.

Goal (issue 12): at most 0.35 s added over the empty project. The floor is walking the folders and
stat-ing every file twice (before and after the run); one such walk (Python's `os.walk` + `os.lstat`) is
measured in the same run as the reference. The same files, untracked (not ignored) in a git repository, are
measured too: git's listing of new files must not grow with them. The files are dated an hour back, as a project's old results
are (files changed within the last two seconds are hashed before the run on purpose: see filestate.py).

    python benchmarks/bench_output_scan.py [--files 50000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, print_table, time_command, time_command_cpu

WALK = """\
import os, sys, time
t, c = time.perf_counter(), time.process_time()
n = 0
for folder, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        os.lstat(os.path.join(folder, name))
        n += 1
print(time.perf_counter() - t, time.process_time() - c)
"""


def make_project(root: Path, paperlink: str, files: int, *, git: bool = False) -> None:
    root.mkdir()
    subprocess.run([paperlink, "init"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    if git:  # a repository whose results git does not ignore: git status sees every one of them
        ident = ["-c", "user.name=b", "-c", "user.email=b@b"]
        for argv in (["init", "-q"], ["add", "paperlink.toml"], [*ident, "commit", "-qm", "x"]):
            subprocess.run(["git", *argv], cwd=root, check=True, stdout=subprocess.DEVNULL)
    results = root / "results"
    results.mkdir(exist_ok=True)
    old = time.time() - 3600
    per_folder = 1000
    for index in range(files):
        folder = results / f"part{index // per_folder:03d}"
        if index % per_folder == 0:
            folder.mkdir()
        path = folder / f"r{index:06d}.txt"
        path.write_bytes(b"x")
        os.utime(path, (old, old))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    paperlink = shutil.which("paperlink") or sys.exit(
        "paperlink is not on PATH (bash scripts/setup.sh)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        empty, full = Path(tmp) / "empty", Path(tmp) / "full"
        make_project(empty, paperlink, 0)
        make_project(full, paperlink, args.files)
        in_git = Path(tmp) / "in-git"
        make_project(in_git, paperlink, args.files, git=True)
        run = [paperlink, "run", "-q", "--", "true"]
        for root in (
            empty,
            full,
            in_git,
        ):  # warm the caches (interpreter version, packages, page cache)
            time_command(run, cwd=root, env=env)
        small, big, git_big, walks, walk_cpu = [], [], [], [], []
        for _ in range(args.runs):
            small.append(time_command_cpu(run, cwd=empty, env=env))
            big.append(time_command_cpu(run, cwd=full, env=env))
            git_big.append(time_command_cpu(run, cwd=in_git, env=env))
            out = subprocess.run(
                [sys.executable, "-c", WALK, str(full / "results")],
                capture_output=True,
                text=True,
                check=True,
            )
            wall, cpu = out.stdout.split()
            walks.append(float(wall))
            walk_cpu.append(float(cpu))

    def med(times: list[tuple[float, float]], i: int) -> float:
        return median([t[i] for t in times])

    rows = [
        ("paperlink run -- true, empty project", f"{med(small, 0):.3f}", "-", f"{med(small, 1):.3f}", "-"),
        (f"paperlink run -- true, {args.files:,} files", f"{med(big, 0):.3f}",
         f"{med(big, 0) - med(small, 0):.3f}", f"{med(big, 1):.3f}", f"{med(big, 1) - med(small, 1):.3f}"),
        ("  the same in git, the results untracked", f"{med(git_big, 0):.3f}",
         f"{med(git_big, 0) - med(small, 0):.3f}", f"{med(git_big, 1):.3f}",
         f"{med(git_big, 1) - med(small, 1):.3f}"),
        ("  reference: one os.walk + lstat of them", f"{median(walks):.3f}", "-", f"{median(walk_cpu):.3f}", "-"),
        ("  floor: that walk twice", f"{2 * median(walks):.3f}", "-", f"{2 * median(walk_cpu):.3f}", "-"),
    ]  # fmt: skip
    print_table(
        f"Output detection, median of {args.runs} (goal: at most 0.35 s added); wall clock and CPU "
        "time (user + system)",
        ("command", "wall s", "added", "CPU s", "added"),
        rows,
    )


if __name__ == "__main__":
    main()
