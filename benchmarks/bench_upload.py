"""Upload throughput and peak memory: paperlink's DepositAPI.upload_file vs curl -T vs a plain requests.put,
on Zenodo's deposit API (bucket PUT) and on InvenioRDM's records API (register, PUT content, commit).

Starts the fake Zenodo server (tests/fakes/zenodo_server.py) on 127.0.0.1, makes a file (default 1 GiB),
and uploads it to a draft's bucket once per method, each in its own child process so that the peak
resident memory (ru_maxrss from wait4) is that upload's alone. The server does the same work for every
method (read, md5, write), so the ratios compare the clients.

    python benchmarks/bench_upload.py [--size-mib 1024] [--repeat 2] [--no-whole]

It also times a whole ``paperlink publish`` of a record whose output is that file (peak memory of the
paperlink process over the complete command: digest check, bundle, upload, publish).
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

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "fakes" / "zenodo_server.py"
TOKEN = "bench-token-0123456789"


def child(method: str, api: str, dep_id: str, path: str, md5: str) -> None:
    sys.path.insert(0, str(ROOT))
    if method == "records":
        from paperlink.publish.http import ArchiveClient
        from paperlink.publish.records_api import RecordsAPI

        with ArchiveClient(api, TOKEN) as client:
            records = RecordsAPI(client)
            draft = records.create(
                f"bench {os.getpid()}"
            )  # a fresh draft: a key is registered once
            start = time.perf_counter()
            uploaded = records.upload(draft, "big.bin", path, md5=md5)
            seconds = time.perf_counter() - start
        assert uploaded.md5 == md5
    elif method == "paperlink":
        from paperlink.publish.deposit import DepositAPI
        from paperlink.publish.http import ArchiveClient

        with ArchiveClient(api, TOKEN) as client:
            deposits = DepositAPI(client)
            deposition = deposits.get_deposition(dep_id)
            start = time.perf_counter()
            done = deposits.upload_file(deposition, "big.bin", path, md5=md5)
            seconds = time.perf_counter() - start
        assert done.md5 == md5
    else:
        import requests

        bucket = requests.get(
            f"{api}/deposit/depositions/{dep_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ).json()["links"]["bucket"]
        start = time.perf_counter()
        with open(path, "rb") as body:
            answer = requests.put(
                f"{bucket}/big.bin",
                data=body,
                headers={
                    "Authorization": f"Bearer {TOKEN}",
                    "Content-Type": "application/octet-stream",
                },
                timeout=600,
            )
        seconds = time.perf_counter() - start
        assert answer.json()["checksum"] == f"md5:{md5}", answer.text
    print(json.dumps({"seconds": seconds}))


def measure(argv: list[str]) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of one child process."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    out = process.stdout.read() if process.stdout else b""
    if status != 0:
        raise SystemExit(f"{argv[:4]} failed: {out!r}")
    cpu = usage.ru_utime + usage.ru_stime
    return json.loads(out)["seconds"], usage.ru_maxrss / 1024, cpu


def curl_child(bucket: str, path: str, md5: str) -> list[str]:
    script = (
        "import json,subprocess,sys,time\n"
        "s=time.perf_counter()\n"
        f"out=subprocess.run(['curl','-sS','-T',{path!r},'-H','Authorization: Bearer {TOKEN}',"
        f"{bucket + '/big.bin'!r}],capture_output=True,check=True).stdout\n"
        "t=time.perf_counter()-s\n"
        f"assert json.loads(out)['checksum']=='md5:{md5}', out\n"
        "print(json.dumps({'seconds':t}))\n"
    )
    return [sys.executable, "-c", script]


def curl_records_child(api: str, path: str, md5: str) -> list[str]:
    """curl -T on the records API: register and commit with requests, the bytes with curl, all timed
    (paperlink's upload does the same three steps)."""
    script = (
        "import json,os,subprocess,time,requests\n"
        f"api,h={api!r},{{'Authorization':'Bearer {TOKEN}'}}\n"
        "d=requests.post(api+'/records',json={'metadata':{'title':'curl %d'%os.getpid()},"
        "'files':{'enabled':True}},headers=h,timeout=30).json()\n"
        "files=api+'/records/'+d['id']+'/draft/files'\n"
        "s=time.perf_counter()\n"
        "requests.post(files,json=[{'key':'big.bin'}],headers=h,timeout=30).raise_for_status()\n"
        f"subprocess.run(['curl','-sS','-f','-T',{path!r},'-H','Authorization: Bearer {TOKEN}',"
        "'-H','Content-Type: application/octet-stream',files+'/big.bin/content'],"
        "capture_output=True,check=True)\n"
        "c=requests.post(files+'/big.bin/commit',headers=h,timeout=600).json()\n"
        "t=time.perf_counter()-s\n"
        f"assert c['checksum']=='md5:{md5}', c\n"
        "print(json.dumps({'seconds':t}))\n"
    )
    return [sys.executable, "-c", script]


def publish_whole_command(work: Path, data: Path, api: str) -> tuple[float, float, float]:
    """Time and peak memory of ``python -m paperlink publish`` for a record whose output is ``data``."""
    project = work / "project"
    (project / "results").mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ZENODO_TOKEN": TOKEN,
        "PAPERLINK_ZENODO_URL": api,
    }
    env.update(
        GIT_AUTHOR_NAME="b",
        GIT_AUTHOR_EMAIL="b@b",
        GIT_COMMITTER_NAME="b",
        GIT_COMMITTER_EMAIL="b@b",
    )
    (project / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: Bench\nauthors:\n  - name: Bench\n"
    )
    run = lambda *a: subprocess.run(a, cwd=project, env=env, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q")
    run("git", "add", ".")
    run("git", "commit", "-qm", "bench")
    run(sys.executable, "-m", "paperlink", "init")
    run(
        sys.executable,
        "-m",
        "paperlink",
        "run",
        "--label",
        "big",
        "--",
        "cp",
        str(data),
        "results/big.bin",
    )
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "paperlink", "publish", "--record", "big", "--max-retry-time", "60"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit("paperlink publish failed")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--no-whole", dest="whole", action="store_false", help="skip the whole-command run"
    )
    parser.add_argument("--child", nargs=5, metavar=("METHOD", "API", "DEP", "PATH", "MD5"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="paperlink-bench-", dir=base))
    server = None
    try:
        path = work / "big.bin"
        block = os.urandom(1 << 20)
        md5 = hashlib.md5()
        with path.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(block)
                md5.update(block)
        digest = md5.hexdigest()
        server = subprocess.Popen(
            [
                sys.executable,
                str(SERVER),
                "--port",
                "0",
                "--token",
                TOKEN,
                "--data-dir",
                str(work / "server"),
            ],
            stdout=subprocess.PIPE,
        )
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        api = f"http://127.0.0.1:{port}/api"
        sys.path.insert(0, str(ROOT))
        from paperlink.publish.deposit import DepositAPI
        from paperlink.publish.http import ArchiveClient

        with ArchiveClient(api, TOKEN) as client:
            deposition = DepositAPI(client).create_deposition("bench")
        bucket = deposition["links"]["bucket"]
        methods: dict[str, list[str]] = {
            "paperlink DepositAPI.upload_file": [
                sys.executable,
                __file__,
                "--child",
                "paperlink",
                api,
                str(deposition["id"]),
                str(path),
                digest,
            ],
            "requests.put(data=file)": [
                sys.executable,
                __file__,
                "--child",
                "requests",
                api,
                str(deposition["id"]),
                str(path),
                digest,
            ],
        }
        if shutil.which("curl"):
            methods["curl -T"] = curl_child(bucket, str(path), digest)
        records_methods = {
            "paperlink RecordsAPI.upload": [
                sys.executable,
                __file__,
                "--child",
                "records",
                api,
                "-",
                str(path),
                digest,
            ],
        }
        if shutil.which("curl"):
            records_methods["curl -T (records API)"] = curl_records_child(api, str(path), digest)
        results: dict[str, list[tuple[float, float, float]]] = {
            name: [] for name in {**methods, **records_methods}
        }
        whole = publish_whole_command(work, path, api) if args.whole else None
        for _ in range(args.repeat):
            for name, argv in {**methods, **records_methods}.items():
                results[name].append(measure(argv))
        print(
            f"Upload of {args.size_mib} MiB to the local fake Zenodo server (best of {args.repeat})"
        )
        for title, group in (
            ("Zenodo deposit API (bucket PUT)", methods),
            ("InvenioRDM records API (register, PUT content, commit)", records_methods),
        ):
            curl = next((n for n in group if n.startswith("curl")), None)
            reference = curl or next(n for n in group if n.startswith("requests"))
            ref_rate = max(args.size_mib / s for s, _, _ in results[reference])
            print(
                f"\n{title}\n{'method':<32}{'seconds':>9}{'MiB/s':>9}{'vs ' + reference:>26}"
                f"{'peak RSS MiB':>14}{'client CPU s':>14}"
            )
            for name in group:
                runs = results[name]
                seconds = min(s for s, _, _ in runs)
                rss = max(r for _, r, _ in runs)
                cpu = min(c for _, _, c in runs)
                rate = args.size_mib / seconds
                print(
                    f"{name:<32}{seconds:>9.2f}{rate:>9.0f}{rate / ref_rate:>25.2f}x{rss:>14.1f}"
                    f"{cpu:>14.2f}"
                )
        if whole is not None:
            seconds, rss, cpu = whole
            print(
                f"\nWhole 'paperlink publish' of a record with that file as output (hash check, "
                f"bundle, create, upload, metadata, publish): {seconds:.2f} s, "
                f"peak RSS {rss:.1f} MiB, CPU {cpu:.2f} s"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
            if server.stdout:
                server.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
