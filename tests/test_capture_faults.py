"""What an output folder may hold besides plain files, and what it must not be: FIFOs, sockets and devices,
names that are not UTF-8 or close to the 255-byte limit, folders outside the project, the store itself, and
a figure rewritten in place with its old mtime put back."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
from helpers import REPO_ROOT, git, paperlink_process, require, run_cli

from paperlink.core.filestate import DOUBT_WINDOW_NS
from paperlink.core.store import RecordStore

SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())
NOT_UTF8 = b"figures/caf\xe9.svg"
LONG = (
    "figures/" + "é" * 125 + ".svg"
).encode()  # a 254-byte name: the longest ext4 allows, nearly


def run(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return paperlink_process(*args, cwd=root, timeout=timeout)


def record_json(root: Path, label: str) -> dict[str, object]:
    shown = run(root, "show", label, "--json")
    assert shown.returncode == 0, shown.stderr
    data: dict[str, object] = json.loads(shown.stdout)
    return data


def manuscript(root: Path, body: str) -> Path:
    (root / "paper").mkdir(exist_ok=True)
    tex = root / "paper/main.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\\end{document}\n")
    return tex


def test_fifo_socket_and_device_are_recorded_by_type_and_never_opened(project_dir: Path) -> None:
    require(os.geteuid() == 0, "making a device node (mknod) needs root")
    figures = project_dir / "figures"
    figures.mkdir(exist_ok=True)
    # A FIFO changed just now: the recent-file re-check used to open it and wait for a writer for ever.
    os.mkfifo(figures / "old.fifo")
    (project_dir / "special.py").write_text(
        "import os, socket, stat\n"
        "open('figures/fig.svg', 'w').write('<svg/>')\n"
        "os.mkfifo('figures/new.fifo')\n"
        "socket.socket(socket.AF_UNIX).bind('figures/new.sock')\n"
        # /dev/zero's numbers: reading it would never end.
        "os.mknod('figures/zero', stat.S_IFCHR | 0o600, os.makedev(1, 5))\n"
    )
    done = run(
        project_dir,
        "run", "--label", "special", "--input", "figures/old.fifo", "--",
        sys.executable, "special.py",
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = record_json(project_dir, "special")
    outputs = {o["path"]: o for o in record["outputs"]}  # type: ignore[attr-defined]
    assert {path: o["kind"] for path, o in outputs.items()} == {
        "figures/fig.svg": "file",
        "figures/new.fifo": "fifo",
        "figures/new.sock": "socket",
        "figures/zero": "char-device",
    }
    assert outputs["figures/zero"]["sha256"] is None
    (given,) = record["inputs"]  # type: ignore[misc]
    assert given["kind"] == "unreadable" and "is a fifo, not a regular file" in given["error"]
    jsonschema.validate(record, SCHEMA)
    shown = run(project_dir, "show", "special")
    assert (
        b"figures/new.fifo  fifo" in shown.stdout and b"figures/zero  char-device" in shown.stdout
    )
    # verify does not open them either: a figure that became a FIFO is an error, not a hang.
    (figures / "fig.svg").unlink()
    os.mkfifo(figures / "fig.svg")
    manuscript(project_dir, "\\plincludegraphics{special:figures/fig.svg}\n")
    checked = run(project_dir, "verify", "paper/main.tex", timeout=60)
    assert checked.returncode == 1 and b"is a fifo, not a regular file" in checked.stdout


def test_names_that_are_not_utf8_or_254_bytes_long_survive_every_command(
    project_dir: Path, serve: Callable[..., object], tmp_path: Path
) -> None:
    (project_dir / "names.py").write_text(
        "import os\n"
        "os.makedirs('figures', exist_ok=True)\n"
        f"open({NOT_UTF8!r}, 'wb').write(b'<svg id=\"cafe\"/>')\n"
        f"open({LONG!r}, 'wb').write(b'<svg id=\"long\"/>')\n"
    )
    done = run(project_dir, "run", "--label", "names", "--", sys.executable, "names.py")
    assert done.returncode == 0, done.stderr
    record = record_json(project_dir, "names")
    jsonschema.validate(record, SCHEMA)
    outputs = {o["path"]: o for o in record["outputs"]}  # type: ignore[attr-defined]
    odd = outputs["figures/caf\\xe9.svg"]
    assert base64.b64decode(odd["path_base64"]) == NOT_UTF8
    assert "path_base64" not in outputs[LONG.decode()]
    assert b"figures/caf\\xe9.svg  [name not UTF-8]" in run(project_dir, "show", "names").stdout

    manuscript(project_dir, "\\plincludegraphics{names?caf}\n")
    checked = run(project_dir, "verify", "paper/main.tex")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    published = run(project_dir, "publish", "--record", "names", "--to", str(tmp_path / "archive"))
    assert published.returncode == 0, published.stderr
    manifest = json.loads((tmp_path / "archive/manifest.json").read_text())
    names = [f["name"] for f in manifest["files"]]
    assert all(len(name.encode("utf-8")) <= 255 for name in names)
    assert len(set(names)) == len(names)
    on_disk = sorted(os.listdir(os.fsencode(tmp_path / "archive")))
    assert [name.decode("utf-8") for name in on_disk] == sorted([*names, "manifest.json"])
    # The archive's own SHA256SUMS, and one made here from the manifest (all but SHA256SUMS itself).
    (tmp_path / "archive/FROM-MANIFEST").write_text(
        "".join(
            f"{f['sha256']}  {f['name']}\n" for f in manifest["files"] if f["name"] != "SHA256SUMS"
        )
    )
    for sums in ("SHA256SUMS", "FROM-MANIFEST"):
        checked = subprocess.run(
            ["sha256sum", "-c", sums], cwd=tmp_path / "archive", capture_output=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    archived = {f["source"]: f["sha256"] for f in manifest["files"] if f["role"] == "output"}
    assert archived == {path: o["sha256"] for path, o in outputs.items()}

    site = run(project_dir, "site", str(tmp_path / "site"))
    assert site.returncode == 0, site.stderr
    copies = {p.read_bytes() for p in (tmp_path / "site/records/names/files").rglob("*.svg")}
    assert copies == {b'<svg id="cafe"/>', b'<svg id="long"/>'}

    viewer = serve(project_dir)
    assert "caf\\xe9.svg" in viewer.text("/records/names")  # type: ignore[attr-defined]
    status, _, body = viewer.get("/records/names/files/figures/caf%5Cxe9.svg")  # type: ignore[attr-defined]
    assert (status, body) == (200, b'<svg id="cafe"/>')

    # The exact bytes are what verify reads: a change to that file is caught.
    (project_dir / os.fsdecode(NOT_UTF8)).write_bytes(b'<svg id="CAFE"/>')
    assert run(project_dir, "verify", "paper/main.tex").returncode == 3


def test_a_254_byte_name_is_archived_and_copied_under_names_that_fit(
    project_dir: Path, tmp_path: Path
) -> None:
    (project_dir / "long.py").write_text(
        f"import os\nos.makedirs('figures', exist_ok=True)\nopen({LONG!r}, 'wb').write(b'x')\n"
    )
    assert (
        run(project_dir, "run", "-q", "--label", "long", "--", sys.executable, "long.py").returncode
        == 0
    )
    published = run(project_dir, "publish", "--record", "long", "--to", str(tmp_path / "archive"))
    assert published.returncode == 0, published.stderr
    (output,) = [f for f in json.loads((tmp_path / "archive/manifest.json").read_text())["files"]
                 if f["role"] == "output"]  # fmt: skip
    assert output["source"] == LONG.decode() and len(output["name"].encode()) <= 255
    assert output["name"].startswith("long__figures__éé") and output["name"].endswith(".svg")
    assert (tmp_path / "archive" / output["name"]).read_bytes() == b"x"
    assert run(project_dir, "site", str(tmp_path / "site")).returncode == 0


def test_output_folders_outside_the_project_are_refused(project_dir: Path) -> None:
    config = project_dir / "paperlink.toml"
    original = config.read_text()
    for outputs in ('["../.."]', '["figures", "/etc/../.."]', '["up"]'):
        if outputs == '["up"]':
            (project_dir / "up").symlink_to("..")  # a folder inside that holds the project itself
        config.write_text(
            original.replace('outputs = ["figures", "results"]', f"outputs = {outputs}")
        )
        done = run(project_dir, "run", "--", "true")
        assert done.returncode == 1, (outputs, done.stderr)
        assert b"is outside the project" in done.stderr and b"Traceback" not in done.stderr
    assert run(project_dir, "list").stdout.startswith(b"No records yet")


def test_the_stores_own_files_are_never_outputs(tmp_path: Path, monkeypatch: object) -> None:
    root = tmp_path / "study"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    done = run(
        root, "init", "--name", "s", "--store", "results/records.sqlite", "--output", "results"
    )
    assert done.returncode == 0, done.stderr
    script = "open('results/table.csv', 'w').write('a,b\\n')"
    for extra in ((), ("--output", "results")):
        ran = run(root, "run", "-q", *extra, "--", sys.executable, "-c", script)
        assert ran.returncode == 0, ran.stderr
        label = json.loads(run(root, "list", "--json").stdout)[0]["label"]
        paths = [o["path"] for o in record_json(root, label)["outputs"]]  # type: ignore[attr-defined]
        assert paths == ["results/table.csv"], extra


def test_a_figure_rewritten_with_its_old_mtime_is_caught_by_verify_viewer_and_site(
    project_dir: Path, serve: Callable[..., object], tmp_path: Path
) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(project_dir, "\\plincludegraphics{a}\n")
    # Old enough for the digest cache to keep it.
    time.sleep(DOUBT_WINDOW_NS / 1e9 + 0.5)
    assert run(project_dir, "verify", "paper/main.tex").returncode == 0  # fills the cache
    figure = project_dir / "figures/a.svg"
    before = figure.stat()
    with figure.open("r+b") as stream:  # same size, new bytes, same inode
        stream.write(b"<svg id='A'/>")
    os.utime(figure, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = figure.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )

    checked = run(project_dir, "verify", "paper/main.tex")
    assert checked.returncode == 3 and b"MISMATCH" in checked.stdout, checked.stdout
    viewer = serve(project_dir)
    status, _, _ = viewer.get("/records/a/files/figures/a.svg")  # type: ignore[attr-defined]
    assert status == 410
    site = run(project_dir, "site", str(tmp_path / "site"), "--json")
    assert site.returncode == 0, site.stderr
    assert json.loads(site.stdout)["files"] == 0
    assert not (tmp_path / "site/records/a/files/figures/a.svg").exists()


def test_verify_rehash_does_not_ask_the_digest_cache(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(project_dir, "\\plincludegraphics{a}\n")
    time.sleep(DOUBT_WINDOW_NS / 1e9 + 0.5)
    assert run(project_dir, "verify", "paper/main.tex").returncode == 0
    # A cache that lies (a damaged store, a clock set back): only --rehash reads the file itself.
    with RecordStore(project_dir / ".paperlink/records.sqlite") as store:
        ((key, row),) = store.cached_digests([str(project_dir / "figures/a.svg")]).items()
        store.remember_digests([(key, *row[:5], "0" * 64, row[6], row[7])])
    assert run(project_dir, "verify", "paper/main.tex").returncode == 3
    rehashed = run(project_dir, "verify", "--rehash", "paper/main.tex")
    assert rehashed.returncode == 0, rehashed.stdout + rehashed.stderr
