"""verify checks each figure's environment: in the store (a changed row is a MISMATCH, a missing one
MISSING), in the archive (environment-<short>.json, a folder, Zenodo's fake server and --doi), and with
--environment against this machine, scanned again as the recorder scans it: real dpkg, conda's
documented conda-meta format, a real pip install into a site folder on PYTHONPATH, lock files."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from fixtures_conda import conda_record, make_prefix
from fixtures_docker import BUSYBOX_TAG, ContainerProject
from fixtures_zenodo import FakeZenodo
from helpers import git, paperlink_process, require, run_cli

from paperlink.core.config import find_project
from paperlink.core.envpackages import Package
from paperlink.core.envportable import portable_digest
from paperlink.core.records import Record
from paperlink.core.store import RecordStore

CITATION = "cff-version: 1.2.0\ntitle: Drift study\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"


def manuscript(root: Path, *labels: str) -> None:
    (root / "paper").mkdir(exist_ok=True)
    body = "".join(f"\\plincludegraphics{{{label}}}\n" for label in labels)
    (root / "paper" / "main.tex").write_text(
        f"\\documentclass{{article}}\n\\begin{{document}}\n{body}\\end{{document}}\n"
    )


def verify(*args: str, code: int = 0) -> dict[str, Any]:
    result = run_cli("verify", "paper/main.tex", "--json", *args, ok=code == 0)
    assert result.exit_code == code, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def check(report: dict[str, Any], name: str, item: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["items"][item]["checks"] if c["name"] == name)
    return found


def environment_row(label: str) -> tuple[sqlite3.Connection, str]:
    project = find_project()
    with RecordStore(project.store_path) as store:
        digest = store.get(label).environment_digest
    assert digest is not None
    return sqlite3.connect(project.store_path), digest


@pytest.fixture
def light(project_dir: Path) -> Path:
    """The project capturing conda and lock files (and pip): no scan of the host's Debian packages."""
    with (project_dir / "paperlink.toml").open("a") as settings:
        settings.write('\n[environment]\ncapture = ["conda", "files"]\n')
    (project_dir / "CITATION.cff").write_text(CITATION)
    git(project_dir, "add", ".")
    git(project_dir, "commit", "-q", "-m", "settings")
    return project_dir


def test_a_changed_damaged_or_missing_stored_environment_fails_verify(light: Path) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(light, "a")
    assert check(verify(), "environment")["status"] == "OK"
    db, digest = environment_row("a")
    with db:
        (data,) = db.execute("SELECT data FROM environments WHERE digest=?", (digest,)).fetchone()
        changed = json.loads(zlib.decompress(data))
        changed["packages"]["pip"][0]["version"] = "0.0.1"
        altered = json.dumps(changed, sort_keys=True, separators=(",", ":")).encode()
        db.execute(
            "UPDATE environments SET data=? WHERE digest=?", (zlib.compress(altered), digest)
        )
    found = check(verify(code=3), "environment")
    assert found["status"] == "MISMATCH" and "changed after the run" in found["reason"]
    with db:
        db.execute("UPDATE environments SET data=? WHERE digest=?", (b"not zlib", digest))
    found = check(verify(code=3), "environment")
    assert found["status"] == "MISMATCH" and "does not decompress" in found["reason"]
    with db:
        db.execute("DELETE FROM environments WHERE digest=?", (digest,))
    db.close()
    found = check(verify(code=3), "environment")
    assert found["status"] == "MISSING" and "paperlink store copy" in found["reason"]
    done = paperlink_process("verify", "paper/main.tex")
    assert done.returncode == 3 and b"MISSING" in done.stdout


def test_verify_zenodo_checks_the_environment_in_the_archive_folder(
    light: Path, tmp_path: Path
) -> None:
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(light, "a")
    archive = tmp_path / "archive"
    run_cli("publish", "--record", "a", "--to", str(archive), "--no-site")
    assert check(verify("--zenodo"), "archive-environment")["status"] == "OK"
    (path,) = archive.glob("environment-*.json")
    original = path.read_text()
    document = json.loads(original)
    document["environment"]["packages"]["pip"][0]["version"] = "0.0.1"
    path.write_text(json.dumps(document, indent=2))
    found = check(verify("--zenodo", code=3), "archive-environment")
    assert found["status"] == "MISMATCH" and "changed after it was published" in found["reason"]
    # Changed with its digest made again: the file is consistent, but it is not the store's.
    document["portable_digest"] = portable_digest(document["environment"])
    path.write_text(json.dumps(document, indent=2))
    found = check(verify("--zenodo", code=3), "archive-environment")
    assert found["status"] == "MISMATCH" and "the store's environment" in found["reason"]
    path.unlink()
    assert check(verify("--zenodo", code=3), "archive-environment")["status"] == "NOT ARCHIVED"
    path.write_text(original)
    assert verify("--zenodo")["ok"]


def test_the_archived_environment_on_the_server_and_behind_a_doi(
    light: Path, zenodo: FakeZenodo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZENODO_TOKEN", zenodo.token)
    monkeypatch.setenv("PAPERLINK_ZENODO_URL", zenodo.api)
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(light, "a")
    summary = json.loads(run_cli("publish", "--record", "a", "--no-site", "--json").output)
    monkeypatch.delenv("ZENODO_TOKEN")
    found = check(verify("--zenodo"), "archive-environment")
    assert found["status"] == "OK" and "md5 as published" in found["reason"]
    assert check(verify("--zenodo", "--download"), "archive-environment")["status"] == "OK"
    doi = summary["doi"]
    reviewed = json.loads(
        run_cli("verify", "--doi", doi, "--zenodo-url", zenodo.api, "--json").output
    )
    assert reviewed["ok"] and check(reviewed, "archive-environment")["status"] == "OK"
    # The server's copy is swapped for another environment file: the record names another one.
    (dep,) = zenodo.state()
    with RecordStore(find_project().store_path) as store:
        digest = store.get("a").environment_digest
    assert digest is not None
    name = f"environment-{digest.removeprefix('sha256:')[:12]}.json"
    stored = Path(dep["bucket_dir"]) / name
    document = json.loads(stored.read_text())
    document["environment"]["packages"]["pip"].append({"name": "evil", "version": "6.6.6"})
    stored.write_text(json.dumps(document))
    found = check(verify("--zenodo", "--download", code=3), "archive-environment")
    assert found["status"] == "MISMATCH" and "changed after it was published" in found["reason"]
    monkeypatch.chdir(tmp_path)  # a reviewer's machine: no project
    bad = json.loads(
        run_cli("verify", "--doi", doi, "--zenodo-url", zenodo.api, "--json", ok=False).output
    )
    assert bad["exit_code"] == 3 and check(bad, "archive-environment")["status"] == "MISMATCH"


def test_environment_drift_in_conda_and_lock_files_is_reported_by_manager(
    light: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = make_prefix(
        tmp_path, [("numpy", "1.26.4", "py311h64a7726_0"), ("zlib", "1.3.1", "h4ab18f5_1")]
    )
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    (light / "requirements.txt").write_text("numpy==1.26.4\n")
    run_cli("run", "-q", "--label", "a", "--", sys.executable, "make_figure.py", "a")
    manuscript(light, "a")
    same = check(verify("--environment"), "environment-drift")
    assert same["status"] == "OK" and "this machine has the recorded environment" in same["reason"]
    # conda updates numpy and installs scipy (new files in conda-meta), and zlib goes.
    meta = prefix / "conda-meta"
    (meta / "numpy-1.26.4-py311h64a7726_0.json").unlink()
    (meta / "zlib-1.3.1-h4ab18f5_1.json").unlink()
    for name, version, build in [("numpy", "2.0.1", "py311h1_0"), ("scipy", "1.14.0", "py311h2_0")]:
        record = conda_record(name, version, build, "0" * 32)
        (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    (light / "requirements.txt").write_text("numpy==2.0.1\n")
    report = verify("--environment", code=3)
    drift = check(report, "environment-drift")
    assert report["items"][0]["status"] == "DRIFT" and drift["status"] == "DRIFT"
    assert drift["details"]["conda"] == {
        "added": [{"name": "scipy", "version": "1.14.0=py311h2_0"}],
        "removed": [{"name": "zlib", "version": "1.3.1=h4ab18f5_1"}],
        "changed": [
            {"name": "numpy", "recorded": "1.26.4=py311h64a7726_0", "now": "2.0.1=py311h1_0"}
        ],
    }
    assert [c["name"] for c in drift["details"]["files"]["changed"]] == ["requirements.txt"]
    assert "conda: 1 added (scipy 1.14.0=py311h2_0), 1 removed (zlib" in drift["reason"]
    assert "paperlink env a --format requirements" in drift["reason"]
    # The figure itself is fine: only the drift fails the verification, and only when asked for.
    assert check(report, "disk")["status"] == "OK"
    assert verify()["ok"]
    shown = paperlink_process("verify", "paper/main.tex", "--environment")
    assert shown.returncode == 3 and b"DRIFT" in shown.stdout


def _wheel(folder: Path, version: str) -> Path:
    """A pure-Python wheel of ``demo-drift`` (PEP 427: the package, its dist-info, a RECORD of hashes)."""
    files = {
        "demo_drift/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"demo_drift-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: demo-drift\nVersion: {version}\n"
        ).encode(),
        f"demo_drift-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: paperlink-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}\n"
        for name, data in files.items()
    )
    files[f"demo_drift-{version}.dist-info/RECORD"] = (
        record + f"demo_drift-{version}.dist-info/RECORD,,\n"
    ).encode()
    path = folder / f"demo_drift-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


def _pip_install(wheel: Path, venv: Path) -> None:
    """pip (this interpreter's) installs ``wheel`` into ``venv``, replacing an installed version."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-index", "--no-deps", "--upgrade", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_package_pip_upgraded_since_the_run_is_drift(light: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    _pip_install(_wheel(tmp_path, "1.0"), venv)
    python = str(venv / "bin" / "python")
    run_cli("run", "-q", "--label", "a", "--", python, "make_figure.py", "a")
    with RecordStore(find_project().store_path) as store:
        assert store.get("a").packages["demo-drift"] == "1.0"
    manuscript(light, "a")
    assert check(verify("--environment"), "environment-drift")["status"] == "OK"
    _pip_install(_wheel(tmp_path, "2.0"), venv)
    drift = check(verify("--environment", code=3), "environment-drift")
    assert drift["details"] == {
        "pip": {
            "added": [],
            "removed": [],
            "changed": [{"name": "demo-drift", "recorded": "1.0", "now": "2.0"}],
        }
    }
    assert "Python (pip): 1 changed (demo-drift 1.0 → 2.0)" in drift["reason"]


def test_debian_packages_of_another_machine_are_drift_against_this_ones_dpkg(
    project_dir: Path,
) -> None:
    require(shutil.which("dpkg-query"), "no dpkg-query")
    run_cli("run", "-q", "--label", "here", "--", sys.executable, "make_figure.py", "here")
    manuscript(project_dir, "here")
    same = check(verify("--environment"), "environment-drift")
    assert same["status"] == "OK" and "dpkg" in same["reason"]
    # The same run as a colleague's machine recorded it: one package older, one this machine lacks,
    # and without one this machine has (a record brought in from another store).
    with RecordStore(find_project().store_path) as store:
        here = store.get("here")
        assert here.environment_digest is not None
        theirs = store.get_environment(here.environment_digest)
        debs = theirs.packages["dpkg"]
        older, dropped = debs[0], debs[1]
        debs[0] = Package(older.name, "0.0.1-old", architecture=older.architecture)
        del debs[1]
        debs.append(Package("zz-only-there", "1.0", architecture="all"))
        copy = Record.from_dict(here.to_dict() | {"label": "there", "run_id": "run-there"})
        copy.environment_digest = store.put_environment(theirs)
        store.add_record(copy)
    manuscript(project_dir, "there")
    report = verify("--environment", code=3)
    dpkg = check(report, "environment-drift")["details"]["dpkg"]
    arch = f":{older.architecture}" if older.architecture else ""
    assert dpkg["changed"] == [
        {"name": f"{older.name}{arch}", "recorded": "0.0.1-old", "now": older.version}
    ]
    dropped_arch = f":{dropped.architecture}" if dropped.architecture else ""
    assert dpkg["added"] == [{"name": f"{dropped.name}{dropped_arch}", "version": dropped.version}]
    assert dpkg["removed"] == [{"name": "zz-only-there:all", "version": "1.0"}]
    assert check(report, "environment")["status"] == "OK"  # its digest is its content's


@pytest.mark.docker
def test_a_container_runs_packages_are_the_images_not_this_machines(
    container_project: ContainerProject,
) -> None:
    run_cli("run", "-q", "--image", BUSYBOX_TAG, "--label", "boxed", "--", "sh", "make.sh")
    manuscript(container_project.root, "boxed:figures/summary.txt")
    found = check(verify("--environment"), "environment-drift")
    assert found["status"] == "OK" and "ran in image sha256:" in found["reason"]


def test_environment_goes_with_a_manuscript_not_a_doi(tmp_path: Path) -> None:
    result = run_cli("verify", "--doi", "10.5281/zenodo.1", "--environment", ok=False)
    assert result.exit_code == 2 and "--environment" in result.output
