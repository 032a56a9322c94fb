"""Container runs against the real engine and registry: identity, pinning, ownership, faults, images."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_docker import BUSYBOX_TAG, ContainerProject, build_image, containers_with_label
from helpers import REPO_ROOT, git, require, run_cli

from paperlink.containers.engine import container_ref_from_attrs, context_digest
from paperlink.core.records import STATUS_FINISHED, STATUS_INTERRUPTED, STATUS_KILLED
from paperlink.core.store import RecordStore
from paperlink.recorder.containerenv import detect_host_container

ATTRS = {
    "Id": "sha256:" + "a" * 64,
    "RepoDigests": ["reg.example:5000/lab/fig@sha256:" + "b" * 64, "other/x@sha256:" + "c" * 64],
    "Os": "linux",
    "Architecture": "arm64",
    "Variant": "v8",
    "Created": "2024-01-02T03:04:05Z",
    "Config": {"Labels": {"org.opencontainers.image.version": "1.2"}, "Env": ["PATH=/bin"]},
}


def store_record(root: Path, label: str):  # type: ignore[no-untyped-def]
    with RecordStore(root / ".paperlink" / "records.sqlite") as store:
        return store.get(label)


# -- pure: image attributes to a ContainerRef --------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("reg.example:5000/lab/fig:2.0", "reg.example:5000/lab/fig@sha256:" + "b" * 64),
        (
            "reg.example:5000/lab/fig@sha256:" + "b" * 64,
            "reg.example:5000/lab/fig@sha256:" + "b" * 64,
        ),
        ("localname:latest", "sha256:" + "a" * 64),
        (None, "sha256:" + "a" * 64),
    ],
)
def test_container_ref_from_attrs_pins_to_matching_repo_digest(
    reference: str | None, pinned: str
) -> None:
    ref = container_ref_from_attrs(ATTRS, reference=reference, engine="docker", api_version="1.41")
    assert ref.image_id == "sha256:" + "a" * 64
    assert ref.pinned_reference == pinned
    assert ref.repo_digests == sorted(ATTRS["RepoDigests"])  # type: ignore[arg-type]
    assert (ref.os, ref.architecture, ref.variant) == ("linux", "arm64", "v8")
    assert ref.created == "2024-01-02T03:04:05Z"
    assert ref.labels == {"org.opencontainers.image.version": "1.2"}
    assert ref.engine == "docker" and ref.api_version == "1.41"


def test_container_ref_without_repo_digests_pins_image_id() -> None:
    ref = container_ref_from_attrs({"Id": "sha256:" + "d" * 64}, reference="x:1")
    assert ref.pinned_reference == "sha256:" + "d" * 64
    assert ref.repo_digests == [] and ref.labels == {}


# -- pure: paperlink itself inside a container --------------------------------------------------------
def test_detects_docker_by_dockerenv(tmp_path: Path) -> None:
    (tmp_path / ".dockerenv").touch()
    ref = detect_host_container(tmp_path, {})
    assert ref is not None and ref.engine == "docker" and ref.inside_container


def test_detects_podman_with_image_identity(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").write_text(
        'engine="podman-4.3.1"\nname="lab"\nid="abc"\nimage="localhost/fig:1"\n'
        f'imageid="{"e" * 64}"\nrootless=1\n'
    )
    ref = detect_host_container(tmp_path, {})
    assert ref is not None and ref.engine == "podman" and ref.engine_version == "4.3.1"
    assert ref.image_id == "sha256:" + "e" * 64 and ref.reference == "localhost/fig:1"
    assert ref.labels["dev.paperlink.host.name"] == "lab"


@pytest.mark.parametrize("prefix", ["APPTAINER", "SINGULARITY"])
def test_detects_apptainer_and_singularity(tmp_path: Path, prefix: str) -> None:
    env = {f"{prefix}_CONTAINER": "/scratch/fig.sif", f"{prefix}_NAME": "fig.sif"}
    ref = detect_host_container(tmp_path, env)
    assert ref is not None and ref.engine == prefix.lower() and ref.reference == "/scratch/fig.sif"


def test_detects_kubernetes_by_cgroup_and_nothing_on_plain_host(tmp_path: Path) -> None:
    assert detect_host_container(tmp_path, {}) is None
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "cgroup").write_text("0::/\n")
    assert detect_host_container(tmp_path, {}) is None
    (tmp_path / "proc" / "1" / "cgroup").write_text("12:memory:/kubepods/burstable/pod1/abc\n")
    ref = detect_host_container(tmp_path, {})
    assert ref is not None and ref.engine == "kubernetes"


def test_host_run_record_says_whether_paperlink_runs_in_a_container(project_dir: Path) -> None:
    run_cli("run", "--label", "h1", "--", sys.executable, "make_figure.py")
    record = store_record(project_dir, "h1")
    expected = detect_host_container()
    if expected is None:
        assert record.container is None
    else:
        assert record.container is not None and record.container.inside_container
        assert record.container.engine == expected.engine
        shown = run_cli("show", "h1").output
        assert f"ran inside a {expected.engine} container" in shown


pytestmark_docker = pytest.mark.docker


# -- real engine ---------------------------------------------------------------------------------------
@pytestmark_docker
def test_detection_recognises_a_real_docker_container(container_project: ContainerProject) -> None:
    """The marks detection relies on are really there inside a Docker container."""
    run_cli(
        "run",
        "--image",
        BUSYBOX_TAG,
        "--label",
        "marks",
        "--",
        "sh",
        "-c",
        "mkdir -p results/root/proc/self && { [ -e /.dockerenv ] && touch results/root/.dockerenv; "
        "cat /proc/self/cgroup > results/root/proc/self/cgroup; }",
    )
    ref = detect_host_container(container_project.root / "results" / "root", {})
    assert ref is not None and ref.engine == "docker" and ref.inside_container


@pytestmark_docker
def test_run_in_container_records_identity_and_output(
    container_project: ContainerProject, capfd: pytest.CaptureFixture[str]
) -> None:
    root = container_project.root
    result = run_cli(
        "run", "--image", BUSYBOX_TAG, "--label", "c1", "--input", "data/values.csv", "--",
        "sh", "make.sh",
    )  # fmt: skip
    assert "recorded c1: finished" in result.output
    record = store_record(root, "c1")
    ref = record.container
    assert ref is not None
    assert ref.image_id == container_project.image_id
    assert ref.pinned_reference == container_project.image_id  # no registry: the image ID
    assert ref.reference == BUSYBOX_TAG and ref.engine == "docker" and ref.api_version
    assert ref.os == "linux" and ref.architecture and ref.created
    assert ref.labels["org.opencontainers.image.title"] == "paperlink test busybox"
    assert ref.network is None and ref.user == f"{os.getuid()}:{os.getgid()}"
    assert not ref.inside_container
    assert record.outcome.status == STATUS_FINISHED and record.outcome.exit_status == 0
    summary = (root / "figures" / "summary.txt").read_text()
    assert summary.startswith(f"epoch={record.source_date_epoch}\n")
    assert record.source_date_epoch == int(
        git(root, "log", "-1", "--format=%ct").strip()
    )  # the commit time
    assert record.environment["SOURCE_DATE_EPOCH"] == str(record.source_date_epoch)
    assert [o.path for o in record.outputs] == ["figures/summary.txt"]
    assert record.outputs[0].sha256 == hashlib.sha256(summary.encode()).hexdigest()
    assert [i.path for i in record.inputs] == ["data/values.csv"]
    # The project is mounted at the same path and the working folder is kept.
    with RecordStore(root / ".paperlink" / "records.sqlite") as store:
        stdout = store.get_stream("c1", "stdout")["head"].decode()
    assert stdout.strip() == f"made figures in {root}"
    assert not containers_with_label("c1")


@pytestmark_docker
def test_working_folder_is_kept(
    container_project: ContainerProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = container_project.root / "analysis"
    sub.mkdir()
    monkeypatch.chdir(sub)
    run_cli("run", "--image", BUSYBOX_TAG, "--label", "wd", "--", "sh", "-c", "pwd > here.txt")
    assert (sub / "here.txt").read_text().strip() == str(sub)
    assert store_record(container_project.root, "wd").working_directory == "analysis"


@pytestmark_docker
def test_networking_is_off_unless_asked(container_project: ContainerProject) -> None:
    run_cli(
        "run",
        "--image",
        BUSYBOX_TAG,
        "--label",
        "n0",
        "--",
        "sh",
        "-c",
        "ls /sys/class/net > results/net0.txt",
    )
    run_cli(
        "run", "--image", BUSYBOX_TAG, "--network", "bridge", "--label", "n1", "--",
        "sh", "-c", "ls /sys/class/net > results/net1.txt",
    )  # fmt: skip
    root = container_project.root
    assert (root / "results" / "net0.txt").read_text().split() == ["lo"]
    assert "eth0" in (root / "results" / "net1.txt").read_text().split()
    assert store_record(root, "n1").container.network == "bridge"  # type: ignore[union-attr]


@pytestmark_docker
def test_default_image_from_paperlink_toml(container_project: ContainerProject) -> None:
    config = container_project.root / "paperlink.toml"
    config.write_text(
        config.read_text().replace("[project]\n", f'[project]\nimage = "{BUSYBOX_TAG}"\n')
    )
    run_cli("run", "--label", "d1", "--", "sh", "-c", "cat /proc/1/cgroup > /dev/null")
    assert (
        store_record(container_project.root, "d1").container.image_id == container_project.image_id
    )  # type: ignore[union-attr]
    run_cli("run", "--host", "--label", "d2", "--", "true")
    assert (
        store_record(container_project.root, "d2").container is None
        or store_record(container_project.root, "d2").container.inside_container
    )  # type: ignore[union-attr]


@pytestmark_docker
def test_exit_status_passes_through(container_project: ContainerProject) -> None:
    result = run_cli(
        "run", "--image", BUSYBOX_TAG, "--label", "e3", "--", "sh", "-c", "exit 3", ok=False
    )
    assert result.exit_code == 3
    assert store_record(container_project.root, "e3").outcome.status == "failed"
    result = run_cli(
        "run", "--image", BUSYBOX_TAG, "--label", "e127", "--", "no-such-tool", ok=False
    )
    assert result.exit_code == 127
    assert "not found" in (store_record(container_project.root, "e127").outcome.error or "")


@pytestmark_docker
def test_dockerfile_build_records_dockerfile_and_context_digests(
    container_project: ContainerProject, capfd: pytest.CaptureFixture[str]
) -> None:
    root = container_project.root
    env = root / "env"
    env.mkdir()
    (env / "Dockerfile").write_text(
        f"FROM {BUSYBOX_TAG}\nARG GREETING=none\nCOPY note.txt /note.txt\nRUN echo $GREETING > /greeting\n"
    )
    (env / "note.txt").write_text("context file\n")
    result = run_cli(
        "run", "--dockerfile", "env/Dockerfile", "--build-arg", "GREETING=hello", "--label", "b1",
        "--", "sh", "-c", "cat /greeting /note.txt > results/built.txt",
    )  # fmt: skip
    assert "recorded b1" in result.output
    assert (root / "results" / "built.txt").read_text() == "hello\ncontext file\n"
    ref = store_record(root, "b1").container
    assert ref is not None and ref.image_id and ref.reference == "paperlink/study:latest"
    assert ref.dockerfile_sha256 == hashlib.sha256((env / "Dockerfile").read_bytes()).hexdigest()
    assert ref.context_sha256 == context_digest(env, env / "Dockerfile")
    before = ref.context_sha256
    (env / "note.txt").write_text("changed\n")
    assert context_digest(env, env / "Dockerfile") != before
    bad = run_cli(
        "run", "--dockerfile", "env/Dockerfile", "--build-arg", "NOEQUALS", "--", "true", ok=False
    )
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    subprocess.run(["docker", "rmi", "-f", str(ref.image_id)], capture_output=True)


# -- faults ------------------------------------------------------------------------------------------
@pytestmark_docker
def test_engine_not_running_is_exit_7_with_how_to_start(
    container_project: ContainerProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = run_cli("run", "--image", BUSYBOX_TAG, "--label", "x", "--", "true", ok=False)
    assert result.exit_code == 7
    assert "no container engine answers" in result.output and "start" in result.output
    with RecordStore(container_project.root / ".paperlink" / "records.sqlite") as store:
        assert not store.exists("x")  # nothing half written


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another uid can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="paperlink-uid-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


UID = 1234


def _interpreter_for_other_user() -> tuple[str, list[str]]:
    """An interpreter uid 1234 may execute, and the import path that finds paperlink's dependencies
    (a venv made from an interpreter under /root is unreachable for other users)."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "pass"], user=UID, group=UID, capture_output=True, check=False
        )
        if probe.returncode == 0:
            return sys.executable, []
    except PermissionError:
        pass
    system = shutil.which("python3", path="/usr/bin:/bin") or "python3"
    return system, [sysconfig.get_paths()["purelib"]]


def as_other_user(
    args: list[str], cwd: Path, *, extra_groups: list[int] | None = None
) -> subprocess.CompletedProcess[str]:
    python, extra_path = _interpreter_for_other_user()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *extra_path]),
        "HOME": str(cwd),
        **{k: v for k, v in os.environ.items() if k.startswith(("GIT_", "DOCKER_HOST"))},
    }
    return subprocess.run(
        [python, "-m", "paperlink", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        user=UID,
        group=UID,
        extra_groups=extra_groups or [],
        check=False,
    )


def _other_user_project(folder: Path) -> Path:
    require(os.getuid() == 0, "running paperlink as another uid needs root (CI runs as root)")
    root = folder / "study"
    root.mkdir()
    (root / "make.sh").write_text("mkdir -p figures && id -u > figures/owner.txt\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "x")
    for path in [root, *root.rglob("*")]:
        os.lchown(path, UID, UID)
    return root


def _socket_path() -> Path:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return Path(host.removeprefix("unix://"))


@pytestmark_docker
def test_files_written_in_the_container_belong_to_the_calling_user(
    busybox_image: str, shared_dir: Path
) -> None:
    root = _other_user_project(shared_dir)
    sock = _socket_path()
    init = as_other_user(["init", "--name", "study"], root)
    assert init.returncode == 0, init.stderr
    done = as_other_user(
        ["run", "--image", BUSYBOX_TAG, "--label", "u1", "--", "sh", "make.sh"],
        root,
        extra_groups=[sock.stat().st_gid],
    )
    assert done.returncode == 0, done.stderr
    owner = root / "figures" / "owner.txt"
    assert owner.read_text().strip() == str(UID)
    assert owner.stat().st_uid == UID and owner.stat().st_gid == UID
    assert (root / "figures").stat().st_uid == UID
    assert store_record(root, "u1").container.user == f"{UID}:{UID}"  # type: ignore[union-attr]


@pytestmark_docker
def test_socket_not_permitted_is_exit_7_with_what_to_do(
    busybox_image: str, shared_dir: Path
) -> None:
    sock = _socket_path()
    assert not stat.S_IMODE(sock.stat().st_mode) & stat.S_IROTH  # only root and its group
    root = _other_user_project(shared_dir)
    assert as_other_user(["init", "--name", "study"], root).returncode == 0
    done = as_other_user(["run", "--image", BUSYBOX_TAG, "--label", "p", "--", "true"], root)
    assert done.returncode == 7, done.stderr
    assert "not permitted" in done.stderr and "docker' group" in done.stderr


@pytestmark_docker
def test_image_not_found_is_exit_6_and_leaves_no_record(
    container_project: ContainerProject,
) -> None:
    result = run_cli(
        "run", "--image", "paperlink-test/absent:9", "--label", "nf", "--", "true", ok=False
    )
    assert result.exit_code == 6
    assert "image 'paperlink-test/absent:9' is not in the container engine" in result.output
    assert "paperlink image load" in result.output
    with RecordStore(container_project.root / ".paperlink" / "records.sqlite") as store:
        assert not store.exists("nf")


@pytestmark_docker
def test_timeout_is_recorded_and_container_removed(container_project: ContainerProject) -> None:
    started = time.monotonic()
    result = run_cli(
        "run",
        "--image",
        BUSYBOX_TAG,
        "--timeout",
        "1",
        "--label",
        "t1",
        "--",
        "sleep",
        "60",
        ok=False,
    )
    assert time.monotonic() - started < 20
    assert result.exit_code == 137
    record = store_record(container_project.root, "t1")
    assert record.outcome.status == STATUS_KILLED and record.outcome.signal == signal.SIGKILL
    assert "timed out after 1 s" in (record.outcome.error or "")
    assert record.container.timeout_seconds == 1  # type: ignore[union-attr]
    assert not containers_with_label("t1")


@pytestmark_docker
def test_out_of_memory_kill_is_recorded(container_project: ContainerProject) -> None:
    result = run_cli(
        "run", "--image", BUSYBOX_TAG, "--memory", "8m", "--label", "oom", "--",
        "sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
        ok=False,
    )  # fmt: skip
    assert result.exit_code == 137
    record = store_record(container_project.root, "oom")
    assert record.outcome.status == STATUS_KILLED
    assert "killed for memory" in (record.outcome.error or "") and "8m" in (
        record.outcome.error or ""
    )
    assert record.container.memory_limit == "8m"  # type: ignore[union-attr]
    assert not containers_with_label("oom")


@pytestmark_docker
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_and_removes_the_container(
    container_project: ContainerProject, sig: signal.Signals
) -> None:
    label = f"sig{int(sig)}"
    child = subprocess.Popen(
        [sys.executable, "-m", "paperlink", "run", "--image", BUSYBOX_TAG, "--label", label, "--",
         "sleep", "120"],
        cwd=container_project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not containers_with_label(label):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the container never started"
            time.sleep(0.1)
        time.sleep(0.3)  # let the container start, not just be created
        child.send_signal(sig)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + int(sig), err
    assert containers_with_label(label) == []  # docker ps -a shows nothing left behind
    record = store_record(container_project.root, label)
    assert record.outcome.status == STATUS_INTERRUPTED and record.outcome.signal == int(sig)
    assert record.duration_seconds is not None and record.duration_seconds < 30


# -- images: push, save, load --------------------------------------------------------------------------
def _registry_digest(registry: str, repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        },
        method="HEAD",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


@pytestmark_docker
def test_push_records_the_registry_repo_digest(
    container_project: ContainerProject, unique_image: tuple[str, str], registry: str
) -> None:
    tag, image_id = unique_image
    run_cli("run", "--image", tag, "--label", "p1", "--", "true")
    result = run_cli("image", "push", "p1", "--registry", registry, "--json")
    data = json.loads(result.stdout)
    repository = "paperlink/study"
    assert data["image_id"] == image_id
    assert (
        data["repo_digest"]
        == f"{registry}/{repository}@{_registry_digest(registry, repository, 'p1')}"
    )
    from paperlink.containers.image_archive import recorded_container

    with RecordStore(container_project.root / ".paperlink" / "records.sqlite") as store:
        assert data["repo_digest"] in recorded_container(store, "p1").repo_digests
    # A run from the pushed reference pins to that repo digest.
    run_cli("run", "--image", f"{registry}/{repository}:p1", "--label", "p2", "--", "true")
    ref = store_record(container_project.root, "p2").container
    assert ref is not None and ref.pinned_reference == data["repo_digest"]
    assert ref.image_id == image_id


@pytestmark_docker
def test_save_and_load_check_the_image_id(
    container_project: ContainerProject, unique_image: tuple[str, str], tmp_path: Path
) -> None:
    tag, image_id = unique_image
    run_cli("run", "--image", tag, "--label", "s1", "--", "true")
    archive = tmp_path / "env.tar.gz"
    saved = json.loads(run_cli("image", "save", "s1", "-o", str(archive), "--json").stdout)
    assert saved["image_id"] == image_id
    assert saved["archive"]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert archive.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]
    loaded = json.loads(run_cli("image", "load", str(archive), "--label", "s1", "--json").stdout)
    assert loaded["loaded"] == [image_id]
    from paperlink.containers.image_archive import recorded_container

    with RecordStore(container_project.root / ".paperlink" / "records.sqlite") as store:
        archive_ref = recorded_container(store, "s1").archive
    assert archive_ref is not None and archive_ref.sha256 == saved["archive"]["sha256"]
    # Every reader of the record sees the saved archive: publish puts it in the archive, no warning.
    (container_project.root / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: t\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )
    target = tmp_path / "published"
    summary = json.loads(run_cli("publish", "--record", "s1", "--to", str(target), "--json").stdout)
    assert not summary.get("warnings"), summary.get("warnings")
    images = [p for p in target.iterdir() if p.name.startswith("image-")]
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in images] == [
        saved["archive"]["sha256"]
    ]


@pytestmark_docker
def test_archive_of_another_image_is_refused(
    container_project: ContainerProject, unique_image: tuple[str, str], tmp_path: Path
) -> None:
    tag, image_id = unique_image
    run_cli("run", "--image", BUSYBOX_TAG, "--label", "m1", "--", "true")
    other = tmp_path / "other.tar.gz"
    run_cli("image", "save", tag, "-o", str(other))
    result = run_cli("image", "load", str(other), "--label", "m1", ok=False)
    assert result.exit_code == 3
    assert (
        f"holds image {image_id} but the record ran {container_project.image_id}" in result.output
    )


@pytestmark_docker
def test_run_from_image_id_and_build_helper(
    busybox_image: str, container_project: ContainerProject
) -> None:
    """A run typed as the bare image ID records that ID as both reference and identity."""
    run_cli("run", "--image", busybox_image, "--label", "id1", "--", "true")
    ref = store_record(container_project.root, "id1").container
    assert ref is not None and ref.reference == busybox_image and ref.image_id == busybox_image
    again = build_image(BUSYBOX_TAG + "-again", f"FROM {BUSYBOX_TAG}\n")
    subprocess.run(["docker", "rmi", BUSYBOX_TAG + "-again"], capture_output=True)
    assert again == busybox_image  # a build adding nothing is the same image: identity is content


@pytest.mark.slow
def test_missing_engine_fails_with_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/absent.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/test_containers.py::test_image_not_found_is_exit_6_and_leaves_no_record"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "1 error" in done.stdout and "skipped" not in done.stdout, done.stdout
    assert "no container engine" in done.stdout
    assert "bash scripts/test.sh" in done.stdout
    assert done.returncode == 1


@pytestmark_docker
def test_killed_image_save_is_cleaned_up_by_the_next_save(
    project_dir: Path, busybox_image: str, tmp_path: Path
) -> None:
    from test_tempfiles import kill_while_writing, temporaries

    # 48 MiB of noise: gzip takes seconds over it, so a kill -9 lands in the middle of the archive.
    tag = "paperlink-test/noise:1"
    build_image(tag, f"FROM {BUSYBOX_TAG}\nRUN head -c 50331648 /dev/urandom > /noise\n")
    try:
        out = tmp_path / "images"
        out.mkdir()
        args = ["image", "save", tag, "-o", str(out / "noise.tar.gz")]
        kill_while_writing(args, out, grown=1 << 20)
        first = temporaries(out)
        kill_while_writing(args, out, grown=1 << 20)
        assert len(temporaries(out)) == 1 and temporaries(out) != first  # the first one is gone
        done = subprocess.run(
            [sys.executable, "-m", "paperlink", *args], capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert temporaries(out) == [] and [p.name for p in out.iterdir()] == ["noise.tar.gz"]
        assert subprocess.run(["gzip", "-t", str(out / "noise.tar.gz")]).returncode == 0
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytestmark_docker
def test_publish_archives_the_image_without_image_save_and_rerun_uses_it(
    container_project: ContainerProject, unique_image: tuple[str, str], tmp_path: Path
) -> None:
    tag, image_id = unique_image
    root = container_project.root
    run_cli("run", "--image", tag, "--label", "boxed", "--", "sh", "make.sh")
    (root / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: t\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )
    # A dry run plans and writes nothing.
    planned = json.loads(run_cli("publish", "--record", "boxed", "--dry-run", "--json").stdout)
    assert not (root / ".paperlink" / "images").exists()
    assert any("no image archive is available" in w for w in planned["warnings"])
    target = tmp_path / "published"
    summary = json.loads(
        run_cli("publish", "--record", "boxed", "--to", str(target), "--json").stdout
    )
    assert not any("image" in w for w in summary.get("warnings", [])), summary["warnings"]
    images = [p for p in target.iterdir() if p.name.startswith("image-")]
    assert len(images) == 1
    shown = json.loads(run_cli("show", "boxed", "--json").stdout)
    archive = shown["container"]["archive"]
    assert archive["sha256"] == hashlib.sha256(images[0].read_bytes()).hexdigest()
    assert not Path(archive["path"]).is_absolute()  # the record names no path of this machine
    assert (root / archive["path"]).is_file()
    # The engine loses the image: rerun and verify use the recorded archive, no --image-archive.
    subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True, check=True)
    rerun = run_cli("rerun", "boxed", "--json")
    assert json.loads(rerun.stdout)["identical"] is True
