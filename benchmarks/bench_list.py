"""`paperlink list` over 100,000 records, the whole command from start to last line (output to a pipe).

Goal (issue 2): under 1 s. The store is filled with realistic records (the JSON of a real run, relabelled)
in one transaction; `sqlite3 … "SELECT …"` printing the same columns is the floor to compare with.

    python benchmarks/bench_list.py [--records 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, print_table, time_command

from paperlink.core.files import FileDigest
from paperlink.core.records import Record, format_time
from paperlink.core.store import RecordStore, _record_data


def fill(store: RecordStore, count: int) -> None:
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    rows, tags = [], []
    for i in range(count):
        moment = start + timedelta(minutes=7 * i)
        record = Record(
            label=moment.strftime("%Y%m%d-%H%M%S"), project="bench", run_id=str(uuid.uuid4()),
            argv=["python3", "analysis.py", f"params{i % 10}.json"], start_time=format_time(moment),
            outputs=[FileDigest(path=f"figures/fig{i % 50}.pdf", size=1234, sha256="a" * 64, md5="b" * 32, sha1="c" * 40)],
        )  # fmt: skip
        record.outcome.status = "finished"
        record.outcome.exit_status = 0
        rows.append((record.label, record.run_id, "finished", record.start_time, record.command, 0, 1.5,
                     _record_data(record)))  # fmt: skip
        if i % 3 == 0:
            tags.append((record.label, "sweep"))
    with store.transaction() as db:
        db.executemany(
            "INSERT INTO records (label, run_id, status, start_time, command, exit_status, duration, data) "
            "VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        db.executemany("INSERT INTO tags (label, tag) VALUES (?, ?)", tags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    paperlink = shutil.which("paperlink") or sys.exit(
        "paperlink is not on PATH (bash scripts/setup.sh)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([paperlink, "init"], cwd=root, check=True, stdout=subprocess.DEVNULL)
        with RecordStore(root / ".paperlink/records.sqlite") as store:
            fill(store, args.records)
        runs = {
            "paperlink list": [paperlink, "list"],
            "paperlink list --tag sweep": [paperlink, "list", "--tag", "sweep"],
            "paperlink list --json": [paperlink, "list", "--json"],
        }
        if shutil.which("sqlite3"):
            runs["sqlite3 SELECT (floor)"] = [
                "sqlite3", str(root / ".paperlink/records.sqlite"),
                "SELECT label, start_time, duration, status, command FROM records ORDER BY start_time DESC",
            ]  # fmt: skip
        times = {
            name: [time_command(argv, cwd=root) for _ in range(args.repeat)]
            for name, argv in runs.items()
        }
    print_table(
        f"Listing {args.records:,} records, median of {args.repeat} (goal: paperlink list under 1 s)",
        ("command", "seconds"),
        [(name, f"{median(t):.3f}") for name, t in times.items()],
    )


if __name__ == "__main__":
    main()
