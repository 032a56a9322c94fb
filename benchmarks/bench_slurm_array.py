"""A Slurm array writing into one record store, SQLite and PostgreSQL side by side: records per second,
records lost, lock errors.

A real one-node cluster (munged + slurmctld + slurmd from Debian's munge and slurm-wlm, the tests'
``tests/slurmcluster.py``) runs ``sbatch --array=1-N --wait`` of a batch script whose every task calls
``paperlink run -- python3 make_figure.py figK`` in one project, so all tasks write the same store at
once (``--oversubscribe`` tasks per core: by default all 32 at once on 2 cores). Goal (issue 15): 0 lost, 0 lock errors. The reference is
the same N runs one after the other on the host, outside Slurm. The PostgreSQL store is a real server
(the tests' ``tests/pgserver.py``: initdb in a temporary folder, 127.0.0.1, a free port); the tasks get
its password as a lab's would, through ``sbatch --export=ALL,PGPASSWORD=…``, and the store's URL from
``paperlink.toml``.

    python benchmarks/bench_slurm_array.py [--tasks 32] [--oversubscribe 16] [--stores sqlite,postgresql]
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
from pgserver import PASSWORD, PostgresServer
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


def make_project(root: Path, env: dict[str, str], store: str | None = None) -> None:
    (root / "make_figure.py").write_text(SCRIPT)
    (root / ".gitignore").write_text("figures/\nslurm-*.out\njob.sh\n")
    for argv in (
        ["git", "init", "-q"],
        [sys.executable, "-m", "paperlink", "init", *(["--store", store] if store else [])],
        ["git", "add", "."],
        ["git", "commit", "-qm", "x"],
    ):
        subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)


def count(root: Path, job: str | None) -> tuple[int, int]:
    """(records, finished records) in the project's store, of ``job`` when given."""
    with RecordStore(find_project(root).store_path) as store:  # a path or a postgresql:// URL
        summaries = store.summaries(job=job)
    return len(summaries), sum(1 for s in summaries if s.status == "finished")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--oversubscribe", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,postgresql", help="sqlite, postgresql or both")
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b",
    }  # fmt: skip
    rows = []
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    server = PostgresServer() if "postgresql" in stores else None
    if server is not None:
        server.start()
        env["PGPASSWORD"] = os.environ["PGPASSWORD"] = PASSWORD  # the tasks and the counting here
    # The cluster's own folder (mkdtemp, made traversable for munged's socket), removed afterwards.
    cluster = SlurmCluster(oversubscribe=args.oversubscribe)
    try:
        with tempfile.TemporaryDirectory() as tmp, cluster:
            cluster.env.update(env)
            for kind in stores:
                url = (
                    server.url(server.create_database())
                    if server and kind == "postgresql"
                    else None
                )
                array_root = Path(tmp) / f"array-{kind}"
                array_root.mkdir()
                make_project(array_root, env, url)
                (array_root / "job.sh").write_text(BATCH.format(python=sys.executable))
                export = [f"--export=ALL,PGPASSWORD={PASSWORD}"] if url else []
                start = time.perf_counter()
                job = cluster.submit(
                    f"--array=1-{args.tasks}", *export, "--output=slurm-%A_%a.out", "job.sh",
                    cwd=array_root, timeout=3600,
                )  # fmt: skip
                wall = time.perf_counter() - start
                logs = "".join(p.read_text() for p in array_root.glob("slurm-*.out"))
                records, finished = count(array_root, job)
                rows.append(
                    (
                        f"sbatch --array=1-{args.tasks}, one {kind} store",
                        str(args.tasks),
                        str(records),
                        str(args.tasks - finished),
                        str(len(LOCK_ERRORS.findall(logs))),
                        f"{wall:.1f}",
                        f"{records / wall:.2f}",
                    )
                )
    finally:
        if server is not None:
            server.stop()
    shutil.rmtree(cluster.folder, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, env)  # the reference: a SQLite store, one run at a time
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
        f"Slurm array into one store ({os.cpu_count()} CPUs, up to "
        f"{args.oversubscribe} tasks per core; goal: 0 lost, 0 lock errors)",
        ("setup", "tasks", "records", "lost", "lock errors", "wall s", "records/s"),
        rows,
    )


if __name__ == "__main__":
    main()
