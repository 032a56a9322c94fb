"""Environment capture overhead: `paperlink run` with conda, dpkg and lock-file capture on and off.

Two projects side by side, the same script, one with `[environment] capture = []` (off), the other with
the default (on) and a conda prefix of --conda packages in conda's on-disk format (CONDA_PREFIX), three lock
files, and this host's dpkg database (`dpkg-query`). Runs are interleaved; the first run of each project
(empty caches: dpkg-query, conda-meta, lock files all read) is reported on its own. Goal (issue 16): once
cached, within 10 ms of capture off. A second table times the capture itself in-process (EnvironmentCapture
start + store_environment), cold (a new store each time) and warm.

    PYTHONPATH=. python benchmarks/bench_env_capture.py [--runs 20] [--conda 300]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, print_table, time_command

SCRIPT = """\
import pathlib
pathlib.Path("figures").mkdir(exist_ok=True)
pathlib.Path("figures/fig.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')
"""
CHANNEL = "https://conda.anaconda.org/conda-forge/linux-64"


def make_prefix(root: Path, count: int) -> Path:
    meta = root / "conda-env" / "conda-meta"
    meta.mkdir(parents=True)
    for n in range(count):
        name, version, build = f"pkg{n:04d}", f"1.{n}.0", f"h{n:06x}_0"
        fn = f"{name}-{version}-{build}.conda"
        record = {"name": name, "version": version, "build": build, "channel": CHANNEL,
                  "subdir": "linux-64", "fn": fn, "url": f"{CHANNEL}/{fn}",
                  "md5": hashlib.md5(fn.encode()).hexdigest(),
                  "depends": [], "files": [f"lib/{name}.so"]}  # fmt: skip
        (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    return meta.parent


def make_project(root: Path, paperlink: list[str], capture_on: bool) -> None:
    root.mkdir()
    (root / "script.py").write_text(SCRIPT)
    if capture_on:
        (root / "requirements.txt").write_text("numpy==1.26.4\nmatplotlib==3.8.4\n")
        (root / "environment.yml").write_text("name: bench\ndependencies: [python=3.11]\n")
        (root / "uv.lock").write_text("version = 1\n" * 200)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    subprocess.run(["git", "init", "-q"], cwd=root, env=env, check=True)
    subprocess.run([*paperlink, "init"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    if not capture_on:
        with (root / "paperlink.toml").open("a") as settings:
            settings.write("\n[environment]\ncapture = []\n")
    for argv in (["git", "add", "."], ["git", "commit", "-qm", "x"]):
        subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)


def in_process(root: Path, prefix: Path, runs: int) -> list[tuple[str, str]]:
    """Cold and warm cost of the capture itself (ms), without process start-up noise."""
    from paperlink.core.store import RecordStore
    from paperlink.recorder.envscan import EnvironmentCapture

    environ = {**os.environ, "CONDA_PREFIX": str(prefix)}
    pip = {f"dist{n}": "1.0" for n in range(80)}

    def once(store: RecordStore) -> float:
        start = time.perf_counter()
        capture = EnvironmentCapture(store, root, ["python3"], environ, skip_dirs=["figures"])
        capture.start()
        capture.store_environment(store, pip)
        return time.perf_counter() - start

    cold = []
    for n in range(5):
        with RecordStore.create(root.parent / f"cold-{n}.sqlite") as store:
            cold.append(once(store))
    with RecordStore.create(root.parent / "warm.sqlite") as store:
        once(store)
        warm = [once(store) for _ in range(runs * 10)]
    with RecordStore(root.parent / "warm.sqlite") as store:
        count = len(store.get_environment(store_digest(store)).packages.get("dpkg", []))
    return [
        ("capture, cold (dpkg-query + conda-meta + lock files)", f"{median(cold) * 1000:.1f}"),
        ("capture, warm (cached)", f"{median(warm) * 1000:.2f}"),
        ("  dpkg packages on this host", str(count)),
    ]


def store_digest(store: object) -> str:
    import sqlite3

    db = sqlite3.connect(store.path)  # type: ignore[attr-defined]
    try:
        return str(db.execute("SELECT digest FROM environments").fetchone()[0])
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--conda", type=int, default=300, help="packages in the conda prefix")
    args = parser.parse_args()
    # `python -m paperlink` of this interpreter: the checkout on PYTHONPATH, or the installed one.
    paperlink = [sys.executable, "-m", "paperlink"]
    python = shutil.which("python3") or sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        prefix = make_prefix(base, args.conda)
        on, off = base / "on", base / "off"
        make_project(on, paperlink, capture_on=True)
        make_project(off, paperlink, capture_on=False)
        env = {**os.environ, "CONDA_PREFIX": str(prefix), "CONDA_DEFAULT_ENV": "bench"}
        command = [*paperlink, "run", "-q", "--", python, "script.py"]
        first_off = time_command(command, cwd=off, env=env)
        first_on = time_command(command, cwd=on, env=env)
        bare, times_off, times_on = [], [], []
        for _ in range(args.runs):
            bare.append(time_command([python, "script.py"], cwd=off, env=env))
            times_off.append(time_command(command, cwd=off, env=env))
            times_on.append(time_command(command, cwd=on, env=env))
        b, w_off, w_on = median(bare), median(times_off), median(times_on)
        m_off, m_on = min(times_off), min(times_on)
        rows = [
            ("python3 script.py (bare)", f"{b * 1000:.0f}", f"{min(bare) * 1000:.0f}", "-"),
            ("paperlink run, environment capture off", f"{w_off * 1000:.0f}", f"{m_off * 1000:.0f}", "-"),
            ("paperlink run, capture on (warm)", f"{w_on * 1000:.0f}", f"{m_on * 1000:.0f}",
             f"{(w_on - w_off) * 1000:+.0f} / {(m_on - m_off) * 1000:+.0f}"),
            ("  first run, capture off (cold)", f"{first_off * 1000:.0f}", "-", "-"),
            ("  first run, capture on (cold)", f"{first_on * 1000:.0f}", "-", f"{(first_on - first_off) * 1000:+.0f}"),
        ]  # fmt: skip
        print_table(
            f"paperlink run with and without environment capture ({args.runs} interleaved runs; "
            f"conda prefix of {args.conda} packages, 3 lock files, host dpkg)",
            ("command", "median ms", "min ms", "vs capture off (median / min)"),
            rows,
        )
        work = base / "inproc"
        work.mkdir()
        (work / "requirements.txt").write_text("numpy==1.26.4\n")
        print_table(
            "The capture itself, in-process (median; goal: warm within 10 ms)",
            ("what", "ms"),
            in_process(work, prefix, args.runs),
        )


if __name__ == "__main__":
    main()
