"""The record store at lab scale, SQLite beside PostgreSQL (issue 15's benchmarks):

1. ``paperlink list`` over 1,000,000 records: the first page (``--limit 50``) and ``--json`` of a filtered
   1,000 (``--tag rare``); goal under 1 s for the first page on both. The records are made in bulk
   through the store API (``RecordStore.add_record_rows``), not through ``paperlink run``.
2. 64 simultaneous ``paperlink run`` into one store: records per second, lost records, lock errors.
3. ``paperlink store sync`` of 100,000 records SQLite -> PostgreSQL: records per second; the second sync
   (nothing to copy) should take under 1 s.

PostgreSQL is a real server (Debian's package, ``tests/pgserver.py``: initdb in a temp folder, 127.0.0.1,
default durability settings), stopped at the end.

    python benchmarks/bench_store_postgres.py [--records 1000000] [--runs 64] [--sync 100000]
        [--parts list,runs,sync] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from common import median, print_table, time_command
from pgserver import PASSWORD, PostgresServer

from paperlink.core.files import FileDigest
from paperlink.core.records import Record, format_time
from paperlink.core.serialize import canonical_json
from paperlink.core.store import RecordStore, record_data
from paperlink.core.store.bulk import RecordRow

ROOT = Path(__file__).resolve().parent.parent
PAPERLINK = [sys.executable, "-m", "paperlink"]
BATCH = 10_000


def batches(
    count: int, *, rare_every: int
) -> Iterator[tuple[list[RecordRow], list[tuple[str, str]]]]:
    """Rows of ``count`` realistic finished records (the JSON of a real Record, relabelled) and their
    tags, in batches: every third is tagged 'sweep', every ``rare_every``-th 'rare'."""
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    template = Record(
        label="x", project="bench", run_id="x", argv=["python3", "analysis.py", "params.json"],
        start_time=format_time(start),
        outputs=[FileDigest(path="figures/fig.pdf", size=1234, sha256="a" * 64, md5="b" * 32, sha1="c" * 40)],
    )  # fmt: skip
    template.outcome.status = "finished"
    template.outcome.exit_status = 0
    base = json.loads(record_data(template))
    for first in range(0, count, BATCH):
        rows: list[RecordRow] = []
        tags: list[tuple[str, str]] = []
        for i in range(first, min(first + BATCH, count)):
            moment = start + timedelta(seconds=37 * i)
            label = f"{moment:%Y%m%d-%H%M%S}-{i}"
            argv = ["python3", "analysis.py", f"params{i % 10}.json"]
            data = {**base, "label": label, "run_id": str(uuid.uuid4()), "start_time": format_time(moment),
                    "argv": argv, "outputs": [{**base["outputs"][0], "path": f"figures/fig{i % 50}.pdf"}]}  # fmt: skip
            text = canonical_json(data)
            digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
            rows.append((label, data["run_id"], "finished", data["start_time"], None, 1.5, " ".join(argv), 0,
                         None, None, None, None, None, text, digest))  # fmt: skip
            if i % 3 == 0:
                tags.append((label, "sweep"))
            if i % rare_every == 0:
                tags.append((label, "rare"))
        yield rows, tags


def fill(locations: list[str], count: int, *, rare_every: int) -> dict[str, float]:
    """The same records into every store through ``add_record_rows``; seconds each took."""
    took = dict.fromkeys(locations, 0.0)
    stores = [RecordStore.create(location) for location in locations]
    try:
        for rows, tags in batches(count, rare_every=rare_every):
            for location, store in zip(locations, stores, strict=True):
                began = time.perf_counter()
                store.add_record_rows(rows, tags)
                took[location] += time.perf_counter() - began
    finally:
        for store in stores:
            store.close()
    return took


def project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    (folder / "make.py").write_text(
        "import sys, pathlib\npathlib.Path('figures').mkdir(exist_ok=True)\n"
        "pathlib.Path(f'figures/{sys.argv[1]}.txt').write_text(sys.argv[1])\n"
    )
    subprocess.run(
        [*PAPERLINK, "init", "--name", "bench"], cwd=folder, check=True, capture_output=True
    )
    subprocess.run(["git", "add", "."], cwd=folder, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"], cwd=folder,
                   check=True)  # fmt: skip
    return folder


def bench_list(server: PostgresServer, tmp: Path, count: int, repeat: int) -> None:
    sqlite = str(tmp / "list.sqlite")
    pg = server.url(server.create_database("list"))
    took = fill([sqlite, pg], count, rare_every=max(count // 1000, 1))
    root = project(tmp / "list-project")
    rows = []
    for name, location in (("SQLite", sqlite), ("PostgreSQL", pg)):
        env = {**os.environ, "PAPERLINK_STORE": location}
        for what, args in (("first page (list --limit 50)", ["list", "--limit", "50"]),
                           ("list --tag rare --json (1,000)", ["list", "--tag", "rare", "--json"]),
                           ("list --tag rare --limit 50", ["list", "--tag", "rare", "--limit", "50"])):  # fmt: skip
            seconds = median(
                [time_command([*PAPERLINK, *args], cwd=root, env=env) for _ in range(repeat)]
            )
            rows.append((name, what, f"{seconds:.3f}"))
        rows.append((name, f"fill {count:,} (add_record_rows)", f"{took[location]:.1f}"))
    floor = median([time_command([*PAPERLINK, "--version"], cwd=root) for _ in range(repeat)])
    rows.append(("-", "paperlink --version (start-up floor)", f"{floor:.3f}"))
    print_table(
        f"paperlink list over {count:,} records, median of {repeat} (goal: first page under 1 s on both)",
        ("store", "command", "seconds"),
        rows,
    )


def bench_runs(server: PostgresServer, tmp: Path, runs: int) -> None:
    rows = []
    for name in ("SQLite", "PostgreSQL"):
        root = project(tmp / f"runs-{name}")
        env = dict(os.environ)
        location = str(root / ".paperlink/records.sqlite")
        if name == "PostgreSQL":
            location = server.url(server.create_database("runs"))
            RecordStore.create(location).close()
            env["PAPERLINK_STORE"] = location
        began = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    *PAPERLINK,
                    "run",
                    "-q",
                    "--tag",
                    "burst",
                    "--",
                    sys.executable,
                    "make.py",
                    f"f{i}",
                ],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i in range(runs)
        ]
        failed = locks = 0
        for proc in procs:
            _, err = proc.communicate()
            failed += proc.returncode != 0
            locks += b"lock" in err.lower()
        seconds = time.perf_counter() - began
        with RecordStore(location) as store:
            kept = len(store.summaries(tag="burst"))
        rows.append((name, str(runs), f"{seconds:.1f}", f"{kept / seconds:.1f}", str(runs - kept),
                     str(locks), str(failed)))  # fmt: skip
    print_table(
        f"{runs} simultaneous 'paperlink run' into one store ({os.cpu_count()} cores)",
        ("store", "runs", "seconds", "records/s", "lost", "lock errors", "failed"),
        rows,
    )


def bench_sync(server: PostgresServer, tmp: Path, count: int) -> None:
    sqlite = str(tmp / "sync.sqlite")
    pg = server.url(server.create_database("sync"))
    fill([sqlite], count, rare_every=max(count // 1000, 1))
    rows = []
    for what in ("first sync (copies all)", "second sync (nothing new)"):
        seconds = time_command([*PAPERLINK, "store", "sync", sqlite, pg, "--json"], cwd=tmp)
        rows.append((what, f"{seconds:.2f}", f"{count / seconds:,.0f}"))
    with RecordStore(pg) as store:
        copied = len(store.runs())
    rows.append(("records in PostgreSQL afterwards", str(copied), ""))
    print_table(
        f"paperlink store sync of {count:,} records SQLite -> PostgreSQL (goal: second sync under 1 s)",
        ("step", "seconds", "records/s"),
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--sync", type=int, default=100_000)
    parser.add_argument("--parts", default="list,runs,sync")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["PGPASSWORD"] = PASSWORD
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    server = PostgresServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            parts = args.parts.split(",")
            if "list" in parts:
                bench_list(server, tmp, args.records, args.repeat)
            if "runs" in parts:
                bench_runs(server, tmp, args.runs)
            if "sync" in parts:
                bench_sync(server, tmp, args.sync)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
