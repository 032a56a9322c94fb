"""A Slurm array writing into one SQLite store: records per second, records lost, lock errors.

A real one-node cluster (munged + slurmctld + slurmd from Debian's munge and slurm-wlm, the tests'
``tests/slurmcluster.py``) runs ``sbatch --array=1-N --wait`` of a batch script whose every task calls
``paperlink run -- python3 make_figure.py figK`` in one project, so all tasks write the same store at
once (``--oversubscribe`` tasks per core: by default all 32 at once on 2 cores). Goal (issue 15): 0 lost, 0 lock errors. The reference is
the same N runs one after the other on the host, outside Slurm.

    python benchmarks/bench_slurm_array.py [--tasks 32] [--oversubscribe 16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table
from slurmcluster import SlurmCluster

from paperlink.core.config import find_project
from paperlink.core.store import RecordStore

REPO = Path(__file__).resolve().parent.parent
SCRIPT = """\
import pathlib, sys
pathlib.Path("figures").mkdir(exist_ok=True)
pathlib.Path(f"figures/{sys.argv[1]}.svg").write_text(f'<svg id="{sys.argv[1]}"/>')
"""
BATCH = """\
#!/bin/bash
#SBATCH --job-name=bench-array
cd "$SLURM_SUBMIT_DIR"
exec {python} -m paperlink run -q -- python3 make_figure.py fig$SLURM_ARRAY_TASK_ID
"""
LOCK_ERRORS = re.compile(r"database is locked|StoreError|cannot write to the record store", re.I)


def make_project(root: Path, env: dict[str, str]) -> None:
    (root / "make_figure.py").write_text(SCRIPT)
    (root / ".gitignore").write_text("figures/\nslurm-*.out\njob.sh\n")
    for argv in (
        ["git", "init", "-q"],
        [sys.executable, "-m", "paperlink", "init"],
        ["git", "add", "."],
        ["git", "commit", "-qm", "x"],
    ):
        subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)


def count(root: Path, job: str | None) -> tuple[int, int]:
    """(records, finished records) in the project's store, of ``job`` when given."""
    with RecordStore(find_project(root).store_path) as store:
        summaries = store.summaries(job=job)
    return len(summaries), sum(1 for s in summaries if s.status == "finished")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--oversubscribe", type=int, default=16)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b",
    }  # fmt: skip
    rows = []
    # The cluster's own folder (mkdtemp, made traversable for munged's socket), removed afterwards.
    cluster = SlurmCluster(oversubscribe=args.oversubscribe)
    with tempfile.TemporaryDirectory() as tmp, cluster:
        cluster.env.update(env)
        array_root = Path(tmp) / "array"
        array_root.mkdir()
        make_project(array_root, env)
        (array_root / "job.sh").write_text(BATCH.format(python=sys.executable))
        start = time.perf_counter()
        job = cluster.submit(
            f"--array=1-{args.tasks}", "--output=slurm-%A_%a.out", "job.sh", cwd=array_root,
            timeout=3600,
        )  # fmt: skip
        wall = time.perf_counter() - start
        logs = "".join(p.read_text() for p in array_root.glob("slurm-*.out"))
        records, finished = count(array_root, job)
        rows.append(
            (
                f"sbatch --array=1-{args.tasks}, one SQLite store",
                str(args.tasks),
                str(records),
                str(args.tasks - finished),
                str(len(LOCK_ERRORS.findall(logs))),
                f"{wall:.1f}",
                f"{records / wall:.2f}",
            )
        )
    shutil.rmtree(cluster.folder, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, env)
        start = time.perf_counter()
        errors = 0
        for task in range(1, args.tasks + 1):
            run = subprocess.run(
                [sys.executable, "-m", "paperlink", "run", "-q", "--", "python3",
                 "make_figure.py", f"fig{task}"],
                cwd=root, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            errors += len(LOCK_ERRORS.findall(run.stderr))
        wall = time.perf_counter() - start
        records, finished = count(root, None)
        rows.append(
            (
                f"reference: {args.tasks} x paperlink run, one after the other",
                str(args.tasks),
                str(records),
                str(args.tasks - finished),
                str(errors),
                f"{wall:.1f}",
                f"{records / wall:.2f}",
            )
        )
    print_table(
        f"Slurm array into one SQLite store ({os.cpu_count()} CPUs, up to "
        f"{args.oversubscribe} tasks per core; goal: 0 lost, 0 lock errors)",
        ("setup", "tasks", "records", "lost", "lock errors", "wall s", "records/s"),
        rows,
    )


if __name__ == "__main__":
    main()
