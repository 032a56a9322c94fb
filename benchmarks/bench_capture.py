"""Capture overhead: `paperlink run -- python3 script.py` against bare `python3 script.py`.

The script writes one small figure (an SVG) into figures/. Goal (issue 12): at most 50 ms added (median;
issue 2 asked for under 150 ms).
Runs are interleaved so both see the same machine state; the first paperlink run (which fills the caches
of the interpreter's version and packages) is reported on its own. When Sumatra's `smt` is on PATH (or
--smt names it), `smt run` is measured the same way as the issue's reference. To get it:
`python3 -m venv /tmp/smt && /tmp/smt/bin/pip install sumatra gitpython`.

    python benchmarks/bench_capture.py [--runs 20] [--smt PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import instructions, median, print_table, time_command_cpu

SCRIPT = """\
import pathlib
pathlib.Path("figures").mkdir(exist_ok=True)
pathlib.Path("figures/fig.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')
"""


FLOOR_MODULES = "dataclasses, json, sqlite3, subprocess, hashlib, tomllib, pathlib, threading"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--smt", default=shutil.which("smt"))
    args = parser.parse_args()
    paperlink = shutil.which("paperlink") or sys.exit(
        "paperlink is not on PATH (bash scripts/setup.sh)"
    )
    python = shutil.which("python3") or sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "script.py").write_text(SCRIPT)
        # Python's bytecode caches as a user has them (a test environment may turn them off).
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {**base, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
               "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
        for argv in (
            ["git", "init", "-q"],
            [paperlink, "init"],
            ["git", "add", "."],
            ["git", "commit", "-qm", "x"],
        ):
            subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
        wrap = [paperlink, "run", "-q", "--", python, "script.py"]
        first = time_command_cpu(wrap, cwd=root, env=base)
        # The floor of any wrapper written in Python: a second interpreter that imports the standard
        # modules a record needs, beside the script's own.
        floor = [python, "-c", f"import {FLOOR_MODULES}"]
        # Below it, the start of an interpreter that imports nothing: what any Python wrapper costs.
        empty = [python, "-c", "pass"]
        bare, wrapped, floors, empties = [], [], [], []
        for _ in range(args.runs):
            bare.append(time_command_cpu([python, "script.py"], cwd=root, env=base))
            wrapped.append(time_command_cpu(wrap, cwd=root, env=base))
            for wrapper_argv, into in ((floor, floors), (empty, empties)):
                wrapper = time_command_cpu(wrapper_argv, cwd=root, env=base)
                script = time_command_cpu([python, "script.py"], cwd=root, env=base)
                into.append((wrapper[0] + script[0], wrapper[1] + script[1]))
        rows = [_row("python3 script.py (bare)", bare, bare),
                _row("paperlink run -- python3 script.py", wrapped, bare),
                _row("  (first run, caches cold)", [first], bare),
                _row("floor: python3 -c 'import …' + the script", floors, bare),
                _row("python3 -c pass + the script", empties, bare)]  # fmt: skip
        if args.smt:
            smt_root = root / "smt"
            smt_root.mkdir()
            (smt_root / "script.py").write_text(SCRIPT)
            for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "x"],
                         [args.smt, "init", "bench"]):  # fmt: skip
                subprocess.run(argv, cwd=smt_root, env=env, check=True, stdout=subprocess.DEVNULL)
            smt = [
                time_command_cpu(
                    [args.smt, "run", "-e", python, "-m", "script.py"], cwd=smt_root, env=base
                )
                for _ in range(5)
            ]
            rows.append(_row("smt run script.py (Sumatra, 5 runs)", smt, bare))
        # The same comparison in instructions, which do not vary with the machine's load: paperlink's
        # own process (the command and git are its children, not counted) beside the floor's.
        counts = [
            (name, instructions(argv, cwd=root, env=base))
            for name, argv in (
                ("python3 -c pass", [python, "-c", "pass"]),
                ("the floor: python3 -c 'import …'", floor),
                ("paperlink run -q -- true (paperlink's process)", [paperlink, "run", "-q", "--", "true"]),
            )
        ]  # fmt: skip
    print_table(
        f"Capture overhead, median of {args.runs} (goal: at most 50 ms added); wall clock and CPU "
        "time (user + system, the command's processes included); the floor imports "
        f"{FLOOR_MODULES}",
        ("command", "wall ms", "added", "CPU ms", "added"),
        rows,
    )
    if all(count is not None for _, count in counts):
        print_table(
            "Instructions executed (valgrind --tool=callgrind; the same on a busy machine)",
            ("process", "M instructions"),
            [(name, f"{(count or 0) / 1e6:.1f}") for name, count in counts],
        )


def _row(
    name: str, times: list[tuple[float, float]], bare: list[tuple[float, float]]
) -> tuple[str, ...]:
    wall, cpu = median([t[0] for t in times]), median([t[1] for t in times])
    wall0, cpu0 = median([t[0] for t in bare]), median([t[1] for t in bare])
    same = times is bare
    return (name, f"{wall * 1000:.0f}", "-" if same else f"{(wall - wall0) * 1000:+.0f}",
            f"{cpu * 1000:.0f}", "-" if same else f"{(cpu - cpu0) * 1000:+.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
