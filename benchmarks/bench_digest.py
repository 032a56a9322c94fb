"""Digest throughput on a 1 GiB file: paperlink's three digests in one pass against md5sum and sha256sum.

Goal (issue 2): at least 0.9x the speed of md5sum. The file is read once beforehand so every tool reads
from the page cache; each tool runs REPEAT times, interleaved, and the best time counts.

    python benchmarks/bench_digest.py [--size-mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table, time_command

from paperlink.core.hashing import digest_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.bin"
        with path.open("wb") as stream:
            block = os.urandom(1 << 20)
            for _ in range(args.size_mib):
                stream.write(block)
        path.read_bytes()  # warm the page cache
        times: dict[str, list[float]] = {
            "paperlink (sha256+md5+sha1)": [],
            "md5sum": [],
            "sha256sum": [],
        }
        for _ in range(args.repeat):
            start = time.perf_counter()
            digest_file(path)
            times["paperlink (sha256+md5+sha1)"].append(time.perf_counter() - start)
            times["md5sum"].append(time_command(["md5sum", str(path)]))
            times["sha256sum"].append(time_command(["sha256sum", str(path)]))
    md5sum = min(times["md5sum"])
    rows = [
        (name, f"{min(t):.3f}", f"{args.size_mib / min(t):.0f}", f"{md5sum / min(t):.2f}x")
        for name, t in times.items()
    ]
    print_table(
        f"Digest throughput, {args.size_mib} MiB file, best of {args.repeat} (goal: paperlink >= 0.90x md5sum)",
        ("tool", "seconds", "MiB/s", "speed vs md5sum"),
        rows,
    )


if __name__ == "__main__":
    main()
