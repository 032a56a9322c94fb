"""What tracing costs: `paperlink run --trace` against the bare command, `paperlink run` without tracing,
and ReproZip's `reprozip trace` on the same commands, in one run, interleaved.

Three workloads: a Python script that imports numpy and writes a figure; `sh -c` writing 1,000 small
files; a compile of a C file. Goal (issue 12): `paperlink run --trace` adds less than `reprozip trace`
on each. ReproZip is the reference, not a dependency: `pip install reprozip` into the same environment
(its `reprozip` command must be on PATH, or give --reprozip). Both identify the Debian packages of the
system files read; paperlink caches that (by dpkg's state), so the first traced run is shown on its own.

    python benchmarks/bench_trace.py [--runs 5] [--reprozip PATH]
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

from common import median, print_table, time_command

FIGURE = """\
import pathlib
import numpy as np
x = np.linspace(0, 2 * np.pi, 200)
points = " ".join(f"{100 * t / (2 * np.pi):.2f},{50 + 40 * np.sin(t):.2f}" for t in x)
pathlib.Path("figures").mkdir(exist_ok=True)
pathlib.Path("figures/sine.svg").write_text(
    f'<svg xmlns="http://www.w3.org/2000/svg"><polyline points="{points}"/></svg>')
"""
FILES = (
    "mkdir -p results/many && i=0; while [ $i -lt 1000 ]; do echo $i > results/many/f$i.txt; "
    "i=$((i+1)); done"
)
PROGRAM = """\
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static double area(double r) { return M_PI * r * r; }
int main(int argc, char **argv) {
    double r = argc > 1 ? atof(argv[1]) : 1.0;
    printf("%s %.3f\\n", strlen(argv[0]) ? "area" : "?", area(r));
    return 0;
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reprozip", default=shutil.which("reprozip"))
    args = parser.parse_args()
    paperlink = shutil.which("paperlink") or sys.exit(
        "paperlink is not on PATH (bash scripts/setup.sh)"
    )
    if not args.reprozip:
        sys.exit(
            "reprozip is not on PATH: pip install reprozip (a reference only), or --reprozip PATH"
        )
    python = str(Path(sys.executable))
    compiler = shutil.which("cc") or sys.exit("no C compiler (Debian: apt-get install gcc)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([args.reprozip, "usage_report", "--disable"], capture_output=True, check=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        (root / "figure.py").write_text(FIGURE)
        (root / "area.c").write_text(PROGRAM)
        subprocess.run(
            [paperlink, "init"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL
        )
        (root / "results").mkdir(exist_ok=True)
        workloads = [
            ("python3 + numpy, one figure", [python, "figure.py"]),
            ("sh -c, 1,000 small files", ["sh", "-c", FILES]),
            ("cc, one C file", [compiler, "-O2", "-o", "results/area", "area.c", "-lm"]),
        ]
        rows = []
        for name, argv in workloads:
            first = time_command(
                [paperlink, "run", "-q", "--trace", "--", *argv], cwd=root, env=env
            )
            time_command([paperlink, "run", "-q", "--", *argv], cwd=root, env=env)
            bare, plain, traced, reprozip = [], [], [], []
            for index in range(args.runs):
                bare.append(time_command(argv, cwd=root, env=env))
                plain.append(time_command([paperlink, "run", "-q", "--", *argv], cwd=root, env=env))
                traced.append(
                    time_command(
                        [paperlink, "run", "-q", "--trace", "--", *argv], cwd=root, env=env
                    )
                )
                out = Path(tmp) / f"rz{index}"
                rz = [args.reprozip, "trace", "--overwrite", "-d", str(out), *argv]
                reprozip.append(time_command(rz, cwd=root, env=env))
            b = median(bare)
            rows += [
                (name, "bare", f"{b * 1000:.0f}", "-"),
                ("", "paperlink run", f"{median(plain) * 1000:.0f}", f"{(median(plain) - b) * 1000:.0f}"),
                ("", "paperlink run --trace", f"{median(traced) * 1000:.0f}", f"{(median(traced) - b) * 1000:.0f}"),
                ("", "  (first, caches cold)", f"{first * 1000:.0f}", f"{(first - b) * 1000:.0f}"),
                ("", "reprozip trace", f"{median(reprozip) * 1000:.0f}", f"{(median(reprozip) - b) * 1000:.0f}"),
            ]  # fmt: skip
    print_table(
        f"Tracing overhead, median of {args.runs} (goal: --trace adds less than reprozip trace)",
        ("workload", "command", "ms", "added ms"),
        rows,
    )


if __name__ == "__main__":
    main()
