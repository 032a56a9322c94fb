"""`paperlink run --image IMG -- CMD` against plain `docker run --rm IMG CMD`, median of N, one table.

Usage: python benchmarks/bench_container_run.py [-n 15] [--image REF] [--command 'true']
Without --image it builds a busybox image FROM scratch (Debian's busybox-static), offline. The project is a
scratch git repository with paperlink initialised. The issue's goal: at most 150 ms added (median).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed: {done.stderr.decode()}")
    return elapsed


def build_busybox(work: Path) -> str:
    context = work / "image"
    context.mkdir()
    shutil.copy2("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "ENV PATH=/bin\n"
    )
    tag = "paperlink-bench/busybox:1"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True
    )
    return tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="runs of each (default 15)")
    parser.add_argument("--image", help="image to use (default: build a busybox one)")
    parser.add_argument("--command", default="true", help="command to run (default: true)")
    args = parser.parse_args()
    command = shlex.split(args.command)
    with tempfile.TemporaryDirectory(prefix="paperlink-bench-") as tmp:
        work = Path(tmp)
        image = args.image or build_busybox(work)
        project = work / "study"
        project.mkdir()
        env = dict(os.environ, PYTHONPATH=str(REPO), GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")  # fmt: skip
        (project / "analysis.sh").write_text("echo hi\n")
        for git_args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "x"]):
            subprocess.run(["git", *git_args], cwd=project, env=env, check=True)
        paperlink = [sys.executable, "-m", "paperlink"]
        subprocess.run([*paperlink, "init", "--name", "bench"], cwd=project, env=env, check=True,
                       capture_output=True)  # fmt: skip
        plain = ["docker", "run", "--rm", "--network", "none", image, *command]
        recorded = [*paperlink, "run", "-q", "--image", image, "--", *command]
        host = [*paperlink, "run", "-q", "--", *command]
        # Warm both paths (page cache, image layers, the digest cache) before timing.
        timed(plain, project, env)
        timed(recorded, project, env)
        timed(host, project, env)
        rows: dict[str, list[float]] = {"plain": [], "paperlink": [], "host": []}
        for _ in range(args.n):  # interleaved, so drift hits both alike
            rows["plain"].append(timed(plain, project, env))
            rows["paperlink"].append(timed(recorded, project, env))
            rows["host"].append(timed(host, project, env))
        from paperlink.containers.engine import connect_engine, resolve_image

        engine = connect_engine()
        identity = []
        for _ in range(args.n):
            start = time.perf_counter()
            resolve_image(engine, image)
            identity.append(time.perf_counter() - start)
        # A run in an image it has not seen reads the image's own platform (os-release, python3, the
        # command's interpreter) from a created container; the store keeps it for every later run.
        from paperlink.containers.engine import inspect_image
        from paperlink.recorder.image_platform import image_platform

        attrs = inspect_image(engine, image)
        probe = []
        for _ in range(args.n):
            start = time.perf_counter()
            image_platform(engine, str(attrs["Id"]), attrs, command, root=project, user=None)
            probe.append(time.perf_counter() - start)
        engine.close()
        if not args.image:
            subprocess.run(["docker", "rmi", image], capture_output=True)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.1f}"

    added = (statistics.median(rows["paperlink"]) - statistics.median(rows["plain"])) * 1000
    print(
        f"container run benchmark: {args.n} runs each, command {shlex.join(command)!r}, image {image}"
    )
    print(f"{'what':<48} {'median ms':>9} {'min ms':>8} {'max ms':>8}  reference (issue)")
    refs = {
        "plain": "~300 ms",
        "paperlink": "plain + <= 150 ms",
        "host": "-",
    }
    names = {
        "plain": "docker run --rm IMG CMD",
        "paperlink": "paperlink run --image IMG -- CMD",
        "host": "paperlink run -- CMD (host, for comparison)",
    }
    for key, values in rows.items():
        print(
            f"{names[key]:<48} {ms(values):>9} {min(values) * 1000:8.1f} {max(values) * 1000:8.1f}  {refs[key]}"
        )
    print(f"{'read image identity (resolve_image, in-process)':<48} {ms(identity):>9} "
          f"{min(identity) * 1000:8.1f} {max(identity) * 1000:8.1f}  ~15 ms")  # fmt: skip
    print(f"{'image platform, first run in an image (uncached)':<48} {ms(probe):>9} "
          f"{min(probe) * 1000:8.1f} {max(probe) * 1000:8.1f}  -")  # fmt: skip
    verdict = "meets" if added <= 150 else "MISSES"
    print(
        f"{'added by paperlink (median difference)':<48} {added:9.1f} {'':>8} {'':>8}  <= 150 ms: {verdict}"
    )


if __name__ == "__main__":
    main()
