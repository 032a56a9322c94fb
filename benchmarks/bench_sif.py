"""Reading a SIF image's identity (the file's sha256, its header and every object's sha256) against
``sha256sum`` of the same file, in one run.

Goal (issue 16): at least 0.9x the speed of sha256sum on a 1 GiB SIF. The image is built with the reference
implementation (tests/sifbuild, Go in GOPATH mode against Debian's golang-github-sylabs-sif-dev), its
partition filled with random bytes; the file is read once beforehand so both read from the page cache, and
the tools run REPEAT times, interleaved; the best time counts.

    python benchmarks/bench_sif.py [--size-mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table, time_command

from paperlink.containers.sif import read_sif

ROOT = Path(__file__).resolve().parent.parent
SIF_SOURCE = Path("/usr/share/gocode/src/github.com/sylabs/sif")


def build_sifbuild(work: Path) -> Path:
    (work / "src/github.com/sylabs/sif").mkdir(parents=True)
    (work / "src/github.com/sylabs/sif/v2").symlink_to(SIF_SOURCE)
    binary = work / "sifbuild"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{work}{os.pathsep}/usr/share/gocode",
        "GOCACHE": str(work / "cache"),
    }
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=ROOT / "tests" / "sifbuild",
        env=env,
        check=True,
    )
    return binary


def make_big_sif(work: Path, size_mib: int) -> Path:
    """A SIF of ``size_mib`` MiB (one data partition of random bytes) built in ``work`` by the reference
    library (tests/sifbuild)."""
    sifbuild = build_sifbuild(work / "go")
    partition = work / "partition.bin"
    with partition.open("wb") as stream:
        block = os.urandom(1 << 20)
        for _ in range(size_mib):
            stream.write(block)
    (work / "def").write_text("Bootstrap: scratch\n")
    (work / "labels.json").write_text("{}")
    image = work / "big.sif"
    subprocess.run(
        [str(sifbuild), str(image), str(partition), str(work / "def"),
         str(work / "labels.json"), "1700000000"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    partition.unlink()
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image = make_big_sif(work, args.size_mib)
        image.read_bytes()  # warm the page cache
        times: dict[str, list[float]] = {"paperlink read_sif": [], "sha256sum": []}
        for _ in range(args.repeat):
            start = time.perf_counter()
            read_sif(image)
            times["paperlink read_sif"].append(time.perf_counter() - start)
            times["sha256sum"].append(time_command(["sha256sum", str(image)]))
        size = image.stat().st_size
    reference = min(times["sha256sum"])
    rows = [
        [
            name,
            f"{min(values):.3f} s",
            f"{size / min(values) / (1 << 20):.0f} MiB/s",
            f"{reference / min(values):.2f}x",
        ]
        for name, values in times.items()
    ]
    print_table(
        f"SIF identity of a {size / (1 << 20):.0f} MiB image (best of {args.repeat})",
        ["tool", "time", "throughput", "speed vs sha256sum"],
        rows,
    )


if __name__ == "__main__":
    main()
