"""Compile time of a manuscript with N figures: paperlink's macros (MD5 check, links, manifest) against plain
\\includegraphics with hyperref loaded, as most papers do. One table, beside the issue's reference figures.

    python benchmarks/bench_latex.py [--figures 50] [--repeat 9] [--engines pdflatex,lualatex,xelatex]
                                     [--instructions]

The two documents are compiled alternately, so that a machine's drifting load hits both alike.
--instructions adds the instructions each compile executes (valgrind), a count that load does not change.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.project import init_project
from paperlink.core.records import Outcome, Record
from paperlink.core.store import RecordStore
from paperlink.latex.generate import write_latex

REFERENCE = (
    "issue 4 reference: goal <= 1.15x; the TeX-side MD5 check of 50 figures costs < 1 %; Sumatra's "
    "shell-escape approach: 22 s against 0.18 s (126x)"
)


def noisy_png(path: Path, seed: int, side: int = 128) -> None:
    """A side×side RGB PNG of noise (~50 KB, like a real plot's file size)."""
    rng = random.Random(seed)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


WORDS = [
    "the",
    "fitted",
    "slope",
    "agrees",
    "with",
    "the",
    "baseline",
    "within",
    "its",
    "uncertainty",
    "while",
    "the",
    "sweep",
    "shows",
    "a",
    "steady",
    "rise",
    "across",
    "every",
    "setting",
    "we",
    "tried",
    "and",
    "the",
    "residuals",
    "stay",
    "flat",
]


def paragraph(index: int, words: int) -> str:
    return " ".join(WORDS[(index + k) % len(WORDS)] for k in range(words)) + "."


def make_project(root: Path, figures: int, words: int) -> Path:
    root.mkdir(parents=True)
    init_project(root, name="bench")
    project = find_project(root)
    store = RecordStore(project.store_path)
    (root / "figures").mkdir(exist_ok=True)
    for index in range(figures):
        path = root / "figures" / f"fig{index:03d}.png"
        noisy_png(path, index)
        digests = digest_file(path)
        output = FileDigest(
            path=f"figures/{path.name}",
            size=digests.size,
            sha256=digests.sha256,
            md5=digests.md5,
            sha1=digests.sha1,
        )
        store.add_record(
            Record(
                label=f"run{index:03d}",
                project="bench",
                run_id=str(uuid.uuid4()),
                outputs=[output],
                outcome=Outcome(status="finished", exit_status=0),
            )
        )
    paper = root / "paper"
    paper.mkdir()
    body_plain = "\n".join(
        f"{paragraph(i, words)}\n\n\\includegraphics[width=2cm]{{../figures/fig{i:03d}.png}}\n"
        for i in range(figures)
    )
    body_paperlink = "\n".join(
        f"{paragraph(i, words)}\n\n\\plincludegraphics[width=2cm]{{run{i:03d}}}\n"
        for i in range(figures)
    )
    preamble = "\\documentclass{article}\n\\usepackage{graphicx}\n\\usepackage{hyperref}\n"
    (paper / "plain.tex").write_text(
        f"{preamble}\\begin{{document}}\n{body_plain}\n\\end{{document}}\n"
    )
    (paper / "main.tex").write_text(
        f"{preamble}\\usepackage{{paperlink}}\n\\begin{{document}}\n{body_paperlink}\n\\end{{document}}\n"
    )
    write_latex(project, store, tex=paper / "main.tex")
    store.close()
    return paper


def tex_command(engine: str, name: str) -> list[str]:
    return [engine, "-no-shell-escape", "-halt-on-error", "-interaction=nonstopmode", name]


def compile_once(folder: Path, name: str, engine: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system of TeX) of one compile."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(tex_command(engine, name), cwd=folder, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{engine} {name} failed; see {folder}/{Path(name).stem}.log")
    cpu = (
        after.children_user - before.children_user + after.children_system - before.children_system
    )
    return wall, cpu


def compile_seconds(
    folder: Path, names: list[str], engine: str, repeat: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU time of each document over ``repeat`` rounds, the documents alternating."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for name in names:
        compile_once(folder, name, engine)  # warm the file cache and write the .aux
    for _ in range(repeat):
        for name in names:
            runs[name].append(compile_once(folder, name, engine))
    return {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for name, got in runs.items()
    }


def instructions(folder: Path, name: str, engine: str) -> int:
    """Instructions one compile executes, counted by valgrind (deterministic, unlike times)."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            *tex_command(engine, name),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind {engine} {name} failed: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--engines", default="pdflatex,lualatex,xelatex")
    parser.add_argument("--words", type=int, default=150, help="words of text before each figure")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind"
    )
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        paper = make_project(Path(tmp) / "bench", args.figures, args.words)
        print(
            f"{args.figures} figures (128x128 noise PNGs, ~50 KB each), {args.words} words before each; "
            f"median of {args.repeat} compiles; wall / CPU seconds"
        )
        print(
            f"{'engine':<10} {'plain+hyperref':>15} {'paperlink':>15} {'ratio wall/cpu':>15} "
            f"{'CPU per figure':>15}{'  instructions ratio' if args.instructions else ''}   goal"
        )
        for engine in args.engines.split(","):
            if shutil.which(engine) is None:
                print(f"{engine:<10} (not installed)")
                continue
            times = compile_seconds(paper, ["plain.tex", "main.tex"], engine, args.repeat)
            (plain, plain_cpu), (ours, ours_cpu) = times["plain.tex"], times["main.tex"]
            per_figure = (ours_cpu - plain_cpu) / args.figures * 1000
            counted = ""
            if args.instructions:
                base = instructions(paper, "plain.tex", engine)
                counted = f"  {instructions(paper, 'main.tex', engine) / base:>18.3f}x"
            print(
                f"{engine:<10} {plain:>6.2f} / {plain_cpu:>5.2f} {ours:>6.2f} / {ours_cpu:>5.2f} "
                f"{ours / plain:>7.2f}x/{ours_cpu / plain_cpu:>5.2f}x {per_figure:>12.1f} ms"
                f"{counted}   <= 1.15x"
            )
        print(REFERENCE)
        checked = (paper / "main.log").read_text(errors="replace").count("matches record")
        print(f"figures checked in the last paperlink compile: {checked}")


if __name__ == "__main__":
    os.environ.setdefault("max_print_line", "100000")
    main()
