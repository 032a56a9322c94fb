"""`paperlink verify` of a 100-figure paper: warm (digest cache filled) and cold, whole command.

Issue 6: a generated 100-figure paper with 2 GiB of outputs, cold and warm, against `sha256sum` over the
same files in the same run. Goals: warm under 0.5 s; cold near digest speed.

    python benchmarks/bench_verify.py [--figures 100] [--size-kib 20480] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, print_table, time_command

from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import Record, format_time, utc_now
from paperlink.core.store import RecordStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", type=int, default=100)
    parser.add_argument("--size-kib", type=int, default=20480)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paperlink = shutil.which("paperlink") or sys.exit(
        "paperlink is not on PATH (bash scripts/setup.sh)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([paperlink, "init"], cwd=root, check=True, stdout=subprocess.DEVNULL)
        past = time.time_ns() - 3600 * 10**9  # figures made an hour ago, as in a real paper
        lines = []
        with RecordStore(root / ".paperlink/records.sqlite") as store:
            for i in range(args.figures):
                path = root / "figures" / f"fig{i:03d}.pdf"
                path.write_bytes(os.urandom(args.size_kib * 1024))
                os.utime(path, ns=(past, past))
                d = digest_file(path)
                record = Record(
                    label=f"run{i:03d}", project="bench", run_id=str(uuid.uuid4()), argv=["python3", "fig.py"],
                    start_time=format_time(utc_now()),
                    outputs=[FileDigest(path=path.relative_to(root).as_posix(), size=d.size, sha256=d.sha256, md5=d.md5, sha1=d.sha1)],
                )  # fmt: skip
                record.outcome.status = "finished"
                store.add_record(record)
                lines.append(f"\\plincludegraphics[width=3cm]{{run{i:03d}:figures/fig{i:03d}.pdf}}")
        (root / "main.tex").write_text(
            "\\documentclass{article}\n\\begin{document}\n"
            + "\n".join(lines)
            + "\n\\end{document}\n"
        )
        files = [str(p) for p in sorted((root / "figures").iterdir())]

        def clear_cache() -> None:
            db = sqlite3.connect(root / ".paperlink/records.sqlite")
            db.execute("DELETE FROM digest_cache")
            db.commit()
            db.close()

        verify = [paperlink, "verify", "main.tex"]
        cold, warm, sha = [], [], []
        for _ in range(args.repeat):
            clear_cache()
            cold.append(time_command(verify, cwd=root))
            warm.append(time_command(verify, cwd=root))
            sha.append(time_command(["sha256sum", *files], cwd=root))
    total_mib = args.figures * args.size_kib / 1024
    print_table(
        f"verify of a {args.figures}-figure paper ({total_mib:.0f} MiB of figures), median of {args.repeat} "
        "(goals: warm < 0.5 s; cold near digest speed)",
        ("command", "seconds"),
        [
            ("paperlink verify main.tex (warm cache)", f"{median(warm):.3f}"),
            ("paperlink verify main.tex (cold cache)", f"{median(cold):.3f}"),
            ("sha256sum of the same files (reference)", f"{median(sha):.3f}"),
        ],
    )


if __name__ == "__main__":
    main()
