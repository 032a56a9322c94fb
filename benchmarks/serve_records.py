"""Records page of ``paperlink serve`` with 10,000 records: time to first byte and full page, against
``paperlink list --json`` of the same store (the issue's reference). Goal: under 300 ms to first byte.

Run from the repository root:  python benchmarks/serve_records.py [N]
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paperlink.core.files import FileDigest
from paperlink.core.records import Outcome, Record, format_time, utc_now
from paperlink.core.store import RecordStore

REPEAT = 15


def build_store(root: Path, count: int) -> None:
    (root / "paperlink.toml").write_text('[project]\nname = "bench"\n')
    store = RecordStore.create(root / ".paperlink" / "records.sqlite")
    for number in range(count):
        now = format_time(utc_now())
        store.add_record(
            Record(
                label=f"run-{number:05d}",
                project="bench",
                run_id=str(uuid.uuid4()),
                argv=["python3", f"scripts/fit{number % 7}.py", "--seed", str(number)],
                outputs=[FileDigest(path=f"figures/fig{number}.png", size=1000, sha256="ab" * 32)],
                start_time=now,
                end_time=now,
                duration_seconds=1.0,
                outcome=Outcome(status="finished" if number % 13 else "failed", exit_status=0),
                reason=f"sweep point {number}",
                tags=["sweep", f"batch{number % 10}"],
            )
        )
    store.close()


def timed_get(port: int, path: str) -> tuple[float, float, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()  # status line and headers: the first bytes
    first = time.perf_counter() - start
    body = response.read()
    full = time.perf_counter() - start
    connection.close()
    assert response.status == 200, (path, response.status)
    return first * 1000, full * 1000, len(body)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        build_store(root, count)
        print(f"built a store of {count} records in {time.perf_counter() - started:.1f} s\n")

        list_times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "paperlink", "list", "--json"],
                cwd=root, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            list_times.append((time.perf_counter() - start) * 1000)

        server = subprocess.Popen(
            [sys.executable, "-m", "paperlink", "serve", "--port", "0"],
            cwd=root, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            rows = []
            for name, path in [
                ("records page 1 (50 rows)", "/"),
                ("records page 100", "/?page=100"),
                ("search ?q=point 9999", "/?q=point+9999"),
                ("filter ?tag=batch3&status=failed", "/?tag=batch3&status=failed"),
                ("one record page", "/records/run-05000"),
            ]:
                timed_get(port, path)  # warm up
                samples = [timed_get(port, path) for _ in range(REPEAT)]
                rows.append(
                    (
                        name,
                        statistics.median(s[0] for s in samples),
                        statistics.median(s[1] for s in samples),
                        samples[0][2],
                    )
                )
        finally:
            server.terminate()
            server.wait(timeout=10)
            if server.stdout:
                server.stdout.close()

    reference = statistics.median(list_times)
    print(
        f"{'what (median of ' + str(REPEAT) + ')':<36} {'first byte ms':>14} {'full ms':>9} {'KiB':>7}"
    )
    print("-" * 70)
    for name, first, full, size in rows:
        print(f"{name:<36} {first:>14.1f} {full:>9.1f} {size / 1024:>7.1f}")
    print(f"{'paperlink list --json (process)':<36} {'':>14} {reference:>9.1f}")
    print(f"\ngoal: under 300 ms to first byte for the records page; "
          f"{'met' if rows[0][1] < 300 else 'NOT met'} ({rows[0][1]:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
