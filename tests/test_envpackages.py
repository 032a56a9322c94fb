"""A run's environment beyond its interpreter: conda (conda's documented conda-meta format), the host's
dpkg (judged by the real dpkg-query), R (a real Rscript), lock files; kept once per environment by digest,
cached by mtimes, re-created by 'paperlink env' and compared by 'paperlink diff'."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fixtures_conda import CHANNEL, conda_record, make_prefix
from fixtures_docker import BUSYBOX_TAG, ContainerProject, build_image
from helpers import REPO_ROOT, git, require, run_cli

from paperlink.core.config import find_project
from paperlink.core.envpackages import Environment, read_conda_meta
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import ConfigError
from paperlink.recorder.envscan import EnvironmentCapture, capture_parts

SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())


def environment_of(label: str) -> Environment:
    project = find_project()
    with RecordStore(project.store_path) as store:
        record = store.get(label)
        assert record.environment_digest is not None
        return store.get_environment(record.environment_digest)


def test_conda_prefix_packages_are_recorded_and_re_created_as_an_explicit_spec(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = make_prefix(
        tmp_path, [("numpy", "1.26.4", "py311h64a7726_0"), ("zlib", "1.3.1", "h4ab18f5_1")]
    )
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "analysis")
    run_cli("run", "--label", "c1", "--", sys.executable, "make_figure.py", "c1")
    environment = environment_of("c1")
    assert environment.conda_name == "analysis" and environment.conda_platform == "linux-64"
    numpy = environment.packages["conda"][0]
    assert (numpy.name, numpy.version, numpy.build, numpy.channel) == (
        "numpy", "1.26.4", "py311h64a7726_0", CHANNEL,
    )  # fmt: skip
    spec = run_cli("env", "c1", "--format", "conda").output.splitlines()
    assert spec[spec.index("@EXPLICIT") - 1] == "# platform: linux-64"
    md5 = hashlib.md5(b"numpy1.26.4").hexdigest()
    assert f"{CHANNEL}/numpy-1.26.4-py311h64a7726_0.conda#{md5}" in spec
    shown = run_cli("show", "c1").output
    assert "conda" in shown and "'analysis'" in shown and "2 packages" in shown
    listed = run_cli("show", "c1", "--packages").output
    assert "zlib" in listed and "h4ab18f5_1" in listed


def test_host_dpkg_packages_are_those_dpkg_query_lists(project_dir: Path, tmp_path: Path) -> None:
    require(shutil.which("dpkg-query"), "no dpkg-query")
    run_cli("run", "--label", "d1", "--", sys.executable, "make_figure.py", "d1")
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}=${Version}\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    installed = {line.split()[1] for line in listed.splitlines() if line.startswith("ii")}
    environment = environment_of("d1")
    assert {f"{p.name}={p.version}" for p in environment.packages["dpkg"]} == installed
    out = tmp_path / "apt.sh"
    run_cli("env", "d1", "--format", "apt", "-o", str(out))
    pins = {word for word in out.read_text().split() if "=" in word and not word.startswith("-")}
    assert pins == installed
    # sh parses it: one command line (with `set -n` nothing runs).
    assert subprocess.run(["sh", "-n", str(out)], check=False).returncode == 0


def test_lock_and_environment_files_are_found_with_their_sha256(project_dir: Path) -> None:
    files = {
        "requirements-dev.txt": "pytest==8.0\n",
        "environment.yml": "name: analysis\ndependencies: [numpy]\n",
        "uv.lock": "version = 1\n",
        "containers/Singularity.def": "Bootstrap: docker\nFrom: debian:12\n",
        "containers/Dockerfile": "FROM debian:12\n",
        ".venv/requirements.txt": "ignored==1\n",  # a hidden folder: not the project's
        "figures/pixi.lock": "ignored\n",  # an output folder
    }
    for path, text in files.items():
        (project_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (project_dir / path).write_text(text)
    run_cli("run", "--label", "l1", "--", sys.executable, "make_figure.py", "l1")
    found = {f.path: f.sha256 for f in environment_of("l1").files}
    expected = {
        path: hashlib.sha256(text.encode()).hexdigest()
        for path, text in files.items()
        if not path.startswith((".venv", "figures"))
    }
    assert found == expected


def test_r_packages_are_recorded_when_the_command_runs_rscript(project_dir: Path) -> None:
    rscript = shutil.which("Rscript")
    require(rscript, "no Rscript (Debian package r-base-core)")
    run_cli("run", "--label", "r1", "--", "Rscript", "-e", "cat('done')")
    listed = subprocess.run(
        [str(rscript), "-e", "ip <- installed.packages(); cat(paste0(ip[, 'Package'], '=', "
         "ip[, 'Version']), sep='\\n')"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    environment = environment_of("r1")
    assert {f"{p.name}={p.version}" for p in environment.packages["r"]} == set(listed)
    assert "base" in {p.name for p in environment.packages["r"]}
    # A Python run does not ask R.
    run_cli("run", "--label", "py", "--", sys.executable, "make_figure.py", "py")
    assert "r" not in environment_of("py").packages


def test_a_thousand_runs_in_one_environment_store_it_once(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = make_prefix(tmp_path, [("numpy", "1.26.4", "py311h64a7726_0")])
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    for n in range(3):
        run_cli("run", "--label", f"run{n}", "--", sys.executable, "make_figure.py", f"f{n}")
    project = find_project()
    with RecordStore(project.store_path) as store:
        digests = {store.get(f"run{n}").environment_digest for n in range(3)}
        assert len(digests) == 1
        # 1,000 more captures of the same environment through the capture path (real scans, cached).
        pip = store.get("run0").packages
        for _ in range(1000):
            capture = EnvironmentCapture(store, project_dir, ["python3"], dict(os.environ),
                                         skip_dirs=project.output_dirs)  # fmt: skip
            capture.start()
            assert capture.store_environment(store, pip) in digests
    db = sqlite3.connect(project.store_path)
    assert db.execute("SELECT count(*) FROM environments").fetchone() == (1,)
    db.close()


def test_warm_capture_answers_from_the_cache_and_a_changed_prefix_is_scanned_again(
    project_dir: Path, tmp_path: Path
) -> None:
    prefix = make_prefix(tmp_path, [("numpy", "1.26.4", "py311h64a7726_0")])
    environ = {"CONDA_PREFIX": str(prefix), "PATH": os.environ["PATH"]}
    project = find_project()

    def capture() -> Environment:
        with RecordStore(project.store_path) as store:
            run = EnvironmentCapture(store, project_dir, ["python3"], environ, parts=["conda"])
            run.start()
            return run.finish()

    assert [p.version for p in capture().packages["conda"]] == ["1.26.4"]
    # Rewritten in place, the folder's mtime does not change: the cache answers (no scan reads it).
    meta = prefix / "conda-meta"
    stamp = meta.stat().st_mtime_ns
    record = meta / "numpy-1.26.4-py311h64a7726_0.json"
    record.write_text(json.dumps(conda_record("numpy", "9.9", "x", "0" * 32)))
    os.utime(meta, ns=(stamp, stamp))
    assert [p.version for p in capture().packages["conda"]] == ["1.26.4"]
    # conda installs by adding files: the folder's mtime moves, and the prefix is read again.
    (meta / "zlib-1.3.1-h4ab18f5_1.json").write_text(
        json.dumps(conda_record("zlib", "1.3.1", "h4ab18f5_1", "1" * 32))
    )
    os.utime(meta, ns=(stamp + 10**9, stamp + 10**9))
    assert {p.name: p.version for p in capture().packages["conda"]} == {
        "numpy": "9.9",
        "zlib": "1.3.1",
    }


def test_diff_shows_package_differences_grouped_by_manager(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = make_prefix(
        tmp_path, [("numpy", "1.26.4", "py311h64a7726_0"), ("zlib", "1.3.1", "h4ab18f5_1")]
    )
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    (project_dir / "requirements.txt").write_text("numpy==1.26.4\n")
    run_cli("run", "--label", "before", "--", sys.executable, "make_figure.py", "a")
    (prefix / "conda-meta" / "numpy-1.26.4-py311h64a7726_0.json").unlink()
    make_prefix(
        tmp_path, [("numpy", "2.0.0", "py311h1461e7f_0"), ("scipy", "1.13.0", "py311h517d4fd_1")]
    )
    (project_dir / "requirements.txt").write_text("numpy==2.0.0\n")
    run_cli("run", "--label", "after", "--", sys.executable, "make_figure.py", "b")
    text = run_cli("diff", "before", "after").output
    conda = text.split("packages (conda):\n", 1)[1].split("\n")
    assert conda[:2] == [
        "  numpy: 1.26.4=py311h64a7726_0  ->  2.0.0=py311h1461e7f_0",
        "  scipy: (none)  ->  1.13.0=py311h517d4fd_1",
    ]
    assert "environment files:\n  requirements.txt: sha256:" in text
    assert "packages (Debian packages (dpkg))" not in text  # the same host: no dpkg difference


def test_capture_can_be_turned_off_and_unknown_parts_are_refused(project_dir: Path) -> None:
    with (project_dir / "paperlink.toml").open("a") as settings:
        settings.write("\n[environment]\ncapture = []\n")
    git(project_dir, "commit", "-qam", "no environment capture")
    run_cli("run", "--label", "off", "--", sys.executable, "make_figure.py", "off")
    with RecordStore(find_project().store_path) as store:
        record = store.get("off")
    assert record.environment_digest is None and record.packages  # pip as before
    assert "environment_digest" not in json.loads(record.to_json())
    with pytest.raises(ConfigError, match=r"(?s)'rpm'.*conda, dpkg, files, r, julia"):
        capture_parts({"environment": {"capture": ["dpkg", "rpm"]}})


def test_env_says_which_formats_a_record_has(project_dir: Path) -> None:
    run_cli("run", "--label", "h", "--", sys.executable, "make_figure.py", "h")
    result = run_cli("env", "h", "--format", "dockerfile", ok=False)
    assert result.exit_code == 2
    assert "ran on no container image" in result.output and "requirements" in result.output
    pins = run_cli("env", "h", "--format", "requirements").output.splitlines()
    record_packages = environment_of("h").packages["pip"]
    assert [f"{p.name}=={p.version}" for p in record_packages] == pins[1:]


def test_a_record_with_an_environment_follows_the_schema_and_reads_back() -> None:
    raw = json.loads((REPO_ROOT / "tests/data/record-v1-environment.json").read_text())
    jsonschema.validate(raw, SCHEMA)
    record = Record.from_dict(raw)
    assert record.environment_digest == raw["environment_digest"]
    assert json.loads(record.to_json()) == raw


def test_conda_meta_records_that_are_not_packages_are_passed_over(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path, [("python", "3.11.9", "hb806964_0_cpython")])
    (prefix / "conda-meta" / "broken.json").write_text("{not json")
    (prefix / "conda-meta" / "other.json").write_text('["a list"]')
    packages, platform = read_conda_meta(prefix)
    assert [p.name for p in packages] == ["python"] and platform == "linux-64"


DPKG_STATUS = """\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u7
Description: GNU C Library: Shared libraries

Package: vim-tiny
Status: deinstall ok config-files
Priority: important
Architecture: amd64
Version: 2:9.0.1378-2
Description: removed, only its configuration files remain

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data
"""


@pytest.mark.docker
def test_a_container_run_records_the_images_dpkg_packages_without_running_it(
    container_project: ContainerProject, tmp_path: Path
) -> None:
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    tag = "paperlink-test/dpkg-status:1"
    image_id = build_image(
        tag, f"FROM {BUSYBOX_TAG}\nCOPY status /var/lib/dpkg/status\n", {"status": status}
    )
    try:
        for label in ("boxed", "boxed-again"):
            run_cli("run", "--image", tag, "--label", label, "--", "sh", "make.sh")
        environment = environment_of("boxed")
        assert [(p.name, p.version, p.architecture) for p in environment.packages["dpkg"]] == [
            ("base-files", "12.4+deb12u5", "amd64"),
            ("libc6", "2.36-9+deb12u7", "amd64"),
            ("tzdata", "2024a-0+deb12u1", "all"),
        ]
        assert environment.sources["dpkg"] == f"image {image_id}"
        assert "pip" not in environment.packages  # the host's Python is not the image's
        with RecordStore(find_project().store_path) as store:
            assert (
                store.get("boxed-again").environment_digest == store.get("boxed").environment_digest
            )
        dockerfile = run_cli("env", "boxed", "--format", "dockerfile").output.splitlines()
        assert dockerfile[1] == f"FROM {image_id}"
        apt = run_cli("env", "boxed", "--format", "apt").output
        assert "libc6=2.36-9+deb12u7" in apt and "vim-tiny" not in apt
        # Read from a created container that never ran, and removed: none is left of this image.
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"ancestor={image_id}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert left.strip() == ""
        # The image dpkg status was read once: the second run found it cached under the image ID.
        db = sqlite3.connect(find_project().store_path)
        keys = [
            row[0]
            for row in db.execute("SELECT key FROM tool_cache WHERE key LIKE 'env:dpkg:image:%'")
        ]
        db.close()
        assert keys == [f"env:dpkg:image:{image_id}"]
    finally:
        subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True, check=False)


@pytest.mark.docker
def test_an_image_without_dpkg_records_no_debian_packages(
    container_project: ContainerProject,
) -> None:
    run_cli("run", "--image", BUSYBOX_TAG, "--label", "plain", "--", "sh", "make.sh")
    environment = environment_of("plain")
    assert "dpkg" not in environment.packages
    assert run_cli("env", "plain", "--format", "dockerfile").output.splitlines()[1] == (
        f"FROM {container_project.image_id}"
    )


def test_the_viewers_record_page_lists_the_environment_by_manager(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    prefix = make_prefix(tmp_path, [("numpy", "1.26.4", "py311h64a7726_0")])
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "analysis")
    (project_dir / "uv.lock").write_text("version = 1\n")
    run_cli("run", "--label", "v1", "--", sys.executable, "make_figure.py", "v1")
    html = serve(project_dir).text("/records/v1")
    conda = html.split('data-manager="conda"', 1)[1].split("</details>", 1)[0]
    assert "conda: 1 package" in conda and "numpy" in conda and "py311h64a7726_0" in conda
    dpkg = html.split('data-manager="dpkg"', 1)[1].split("</details>", 1)[0]
    assert "Debian packages (dpkg):" in dpkg and '<th scope="row">dpkg</th>' in dpkg
    assert "<code>uv.lock</code>" in html
    assert "<small>analysis</small>" in conda  # the prefix by its last folder


def test_store_export_and_import_carry_the_environment(project_dir: Path, tmp_path: Path) -> None:
    run_cli("run", "--label", "moved", "--", sys.executable, "make_figure.py", "m")
    exported = tmp_path / "export"
    run_cli("store", "export", str(exported))
    other = tmp_path / "other.sqlite"
    run_cli("--store", str(other), "store", "import", str(exported))
    original = environment_of("moved")
    with RecordStore(other) as store:
        record = store.get("moved")
        assert record.environment_digest is not None
        assert store.get_environment(record.environment_digest) == original
    # An environment changed in the export no longer matches the record's digest: refused.
    entry = json.loads((exported / "moved.json").read_text())
    entry["environment"]["packages"]["pip"][0]["version"] = "0.0.0-tampered"
    (exported / "moved.json").write_text(json.dumps(entry))
    refused = run_cli("--store", str(tmp_path / "third.sqlite"), "store", "import", str(exported),
                      ok=False)  # fmt: skip
    assert refused.exit_code != 0 and "its environment is sha256:" in refused.output


def test_a_store_from_before_environments_is_migrated_and_old_records_still_re_create_pip(
    project_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "old.sqlite"
    old = Record.from_json((REPO_ROOT / "tests/data/record-v1.json").read_text())
    with RecordStore.create(path) as store:
        store.add_record(old)
    db = sqlite3.connect(path)  # as paperlink before migration 0005 left it
    db.execute("DROP TABLE environments")
    db.execute("DELETE FROM migrations WHERE name = '0005_environments'")
    db.commit()
    db.close()
    with RecordStore(path) as store:
        digest = store.put_environment(Environment(files=[], image="busybox@sha256:" + "0" * 64))
        assert store.get_environment(digest).image == "busybox@sha256:" + "0" * 64
    pins = run_cli("--store", str(path), "env", old.label, "--format", "requirements").output
    # Sorted by name as pip lists them, case aside.
    by_name = sorted(old.packages.items(), key=lambda item: item[0].lower())
    assert pins.splitlines()[1:] == [f"{n}=={v}" for n, v in by_name]


def test_a_private_channels_token_never_reaches_the_environment(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path, [])
    token = "tk-0123456789abcdef0123"
    record = conda_record("secretpkg", "1.0", "0", "2" * 32)
    private = f"https://conda.anaconda.org/t/{token}/lab-channel/linux-64"
    record["channel"] = private
    record["url"] = f"{private}/secretpkg-1.0-0.conda"
    (prefix / "conda-meta" / "secretpkg-1.0-0.json").write_text(json.dumps(record))
    (prefix / "conda-meta" / "other-1.0-0.json").write_text(
        json.dumps({**conda_record("other", "1.0", "0", "3" * 32),
                    "url": f"https://user:{token}@repo.example.org/main/other-1.0-0.conda"})
    )  # fmt: skip
    packages, _ = read_conda_meta(prefix)
    text = Environment(packages={"conda": packages}).to_json()
    assert token not in text
    assert "https://conda.anaconda.org/lab-channel/linux-64/secretpkg-1.0-0.conda" in text
    assert "https://repo.example.org/main/other-1.0-0.conda" in text
