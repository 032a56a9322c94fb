"""A SIF image as a run's environment: named with --sif, on the apptainer command line or by the Apptainer
container paperlink runs in; published, verified and re-executed. The images are the reference
implementation's own test images (Debian's golang-github-sylabs-sif-dev), read back with its layout.

Apptainer is not packaged for these machines, so the wrapped-command tests put a stand-in ``apptainer`` on
PATH: it takes the options and the image off the command line and runs the rest on the host. What is under
test is what paperlink records about the image, which never depends on Apptainer running it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import REPO_ROOT, require, run_cli
from test_archive_readme import run_readme
from test_rocrate import assert_no_local_paths, assert_valid
from test_sif import built, sifbuild  # noqa: F401 - fixtures: a SIF built by the reference library

import paperlink.containers.sif
from paperlink.containers.sif import read_sif
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.recorder.sif_environment import rerun_command, sif_in_command

IMAGES = Path("/usr/share/gocode/src/github.com/sylabs/sif/test/images")
SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())
FAKE_APPTAINER = """\
#!/bin/sh
# A stand-in for Apptainer (not packaged here): drop the action, the options and the image, run the rest.
echo "$0 $*" >> "$FAKE_APPTAINER_LOG"
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --bind|-B|--home|-H|--overlay|-o) shift 2 ;;
    --pwd) cd "$2" || exit 255; shift 2 ;;
    --pwd=*) cd "${1#--pwd=}" || exit 255; shift ;;
    --env) export "$2"; shift 2 ;;
    --env=*) export "${1#--env=}"; shift ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ -f "$1" ] || { echo "FATAL: could not open image $1" >&2; exit 255; }
shift
exec "$@"
"""


@pytest.fixture
def sif_image(tmp_path: Path) -> Path:
    """A copy of the reference implementation's signed one-group image, outside the project."""
    source = IMAGES / "one-group-signed.sif"
    require(source.is_file(), f"{source} is missing (Debian's golang-github-sylabs-sif-dev)")
    target = tmp_path / "images" / "env.sif"
    target.parent.mkdir()
    shutil.copyfile(source, target)
    return target


@pytest.fixture
def fake_apptainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``apptainer`` on PATH (see the module docstring); returns the log of its command lines."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "apptainer"
    script.write_text(FAKE_APPTAINER)
    script.chmod(0o755)
    log = tmp_path / "apptainer.log"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_APPTAINER_LOG", str(log))
    return log


def record(root: Path, label: str) -> Record:
    with RecordStore(root / ".paperlink" / "records.sqlite") as store:
        return store.get(label)


def assert_is_image(found: Record, image: Path) -> None:
    """The record's SIF identity is what the reader gives for ``image`` and its bytes' sha256."""
    assert found.container is not None and found.container.sif is not None
    sif = found.container.sif
    expected = read_sif(image)
    assert sif.sha256 == hashlib.sha256(image.read_bytes()).hexdigest() == expected.sha256
    assert (sif.id, sif.arch, sif.version, sif.size) == (
        expected.id,
        expected.arch,
        expected.version,
        expected.size,
    )
    assert sif.signed and [(o.id, o.type, o.sha256) for o in sif.objects] == [
        (o.id, o.type, o.sha256) for o in expected.objects
    ]
    assert found.container.pinned_reference == f"sha256:{expected.sha256}"
    jsonschema.validate(json.loads(found.to_json()), SCHEMA)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["apptainer", "exec", "img.sif", "python3", "x.py"], ("apptainer", "img.sif")),
        (["apptainer", "exec", "--bind", "/data", "-B", "/scratch:/s", "--nv", "a.sif", "sh"],
         ("apptainer", "a.sif")),
        (["singularity", "run", "-B/x", "--env=A=1", "--cleanenv", "b.sif", "arg"],
         ("singularity", "b.sif")),
        (["/usr/bin/apptainer", "--debug", "shell", "-eB", "/x", "-C", "c.sif"],
         ("apptainer", "c.sif")),
        (["apptainer", "-c", "conf", "exec", "--home", "/h", "--", "d.sif", "ls"],
         ("apptainer", "d.sif")),
        (["apptainer", "exec", "--overlay", "ov.img", "--pwd", "/w", "docker://x", "ls"],
         ("apptainer", "docker://x")),
        (["singularity", "shell", "-s", "/bin/bash", "--writable-tmpfs", "e.sif"],
         ("singularity", "e.sif")),
        (["apptainer", "build", "img.sif", "img.def"], None),
        (["apptainer", "exec", "--bind", "/data"], None),
        (["python3", "exec", "img.sif"], None),
    ],
)  # fmt: skip
def test_apptainer_command_lines_name_their_image(
    argv: list[str], expected: tuple[str, str] | None
) -> None:
    assert sif_in_command(argv) == expected


def test_run_with_sif_records_the_image_identity_and_show_lists_it(
    project_dir: Path, sif_image: Path
) -> None:
    run_cli("run", "--sif", str(sif_image), "--label", "s1", "--", "python3", "make_figure.py")
    found = record(project_dir, "s1")
    assert_is_image(found, sif_image)
    assert found.container is not None and found.container.sif is not None
    assert found.container.engine == "apptainer" and not found.container.inside_container
    assert found.container.sif.path == str(sif_image)  # outside the project: absolute
    shown = run_cli("show", "s1").output
    assert f"sha256:{found.container.sif.sha256}" in shown
    assert "signed" in shown and "primary-system squashfs 386" in shown


def test_sif_that_is_not_a_sif_file_is_refused_before_the_run(project_dir: Path) -> None:
    (project_dir / "not.sif").write_bytes(b"\0" * 200)
    result = run_cli("run", "--sif", "not.sif", "--", "touch", "ran", ok=False)
    assert result.exit_code == 2 and "not a SIF image" in result.output
    assert not (project_dir / "ran").exists()


def test_wrapped_apptainer_exec_records_the_image_and_its_output(
    project_dir: Path, sif_image: Path, fake_apptainer: Path
) -> None:
    inside = project_dir / "env.sif"
    shutil.copyfile(sif_image, inside)
    run_cli(
        "run", "--label", "w1", "--", "apptainer", "exec", "--bind", "/tmp", "-B", "/var:/v",
        "--nv", "env.sif", "python3", "make_figure.py", "wrapped",
    )  # fmt: skip
    found = record(project_dir, "w1")
    assert_is_image(found, inside)
    assert found.container is not None and found.container.sif is not None
    assert found.container.sif.path == "env.sif"  # inside the project: relative to it
    assert [o.path for o in found.outputs] == ["figures/wrapped.svg"]
    assert "exec --bind /tmp -B /var:/v --nv env.sif" in fake_apptainer.read_text()
    # The command ran in the image: its platform is the image's (this one has no root file system
    # unsquashfs can read, so no os-release), the host's is kept beside it, and the host's Python
    # packages are not the command's.
    assert (found.platform.os, found.platform.machine, found.platform.os_release) == (
        "Linux",
        "386",
        "",
    )
    assert found.platform.python_version == "" and found.packages == {}
    assert found.host is not None and found.host.hostname == socket.gethostname()


def test_wrapped_run_records_the_os_release_of_the_images_root_file_system(
    project_dir: Path,
    built: tuple[Path, dict[str, object]],  # noqa: F811 - the fixture imported above
    fake_apptainer: Path,
) -> None:
    require(shutil.which("unsquashfs"), "unsquashfs (Debian's squashfs-tools) is not installed")
    image, _ = built
    run_cli("run", "--label", "os1", "--", "apptainer", "exec", str(image), "true")
    found = record(project_dir, "os1")
    assert found.platform.os_release == "paperlink test"  # from the squashfs, not the host's
    assert found.platform.machine == read_sif(image).arch
    assert found.host is not None and found.host.os_release != "paperlink test"


def test_wrapped_run_records_the_debian_packages_of_the_image_not_the_hosts(
    project_dir: Path,
    built: tuple[Path, dict[str, object]],  # noqa: F811 - the fixture imported above
    fake_apptainer: Path,
) -> None:
    # The image's /var/lib/dpkg/status is read from its squashfs root with unsquashfs: nothing in the
    # image runs (Apptainer is not needed), and the host's dpkg-query is not asked.
    require(shutil.which("unsquashfs"), "unsquashfs (Debian's squashfs-tools) is not installed")
    image, _ = built
    run_cli("run", "--label", "pk1", "--", "apptainer", "exec", str(image), "true")
    found = record(project_dir, "pk1")
    assert found.environment_digest is not None
    with RecordStore(project_dir / ".paperlink" / "records.sqlite") as store:
        environment = store.get_environment(found.environment_digest)
    dpkg = {p.name: p.version for p in environment.packages.get("dpkg", [])}
    assert dpkg == {
        "libplt-image1": "4.2.0-1",
        "plt-data": "2026.1",
    }  # config-files only: not installed
    host = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\n"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert host and not set(host) & set(dpkg)


def test_the_viewers_record_page_shows_the_sif_image_and_the_host_apart(
    project_dir: Path,
    built: tuple[Path, dict[str, object]],  # noqa: F811 - the fixture imported above
    fake_apptainer: Path,
    serve: Any,
) -> None:
    require(shutil.which("unsquashfs"), "unsquashfs (Debian's squashfs-tools) is not installed")
    image, _ = built
    run_cli("run", "--label", "vw1", "--", "apptainer", "exec", str(image), "true")
    found = record(project_dir, "vw1")
    assert (
        found.container is not None and found.container.sif is not None and found.host is not None
    )
    html = serve(project_dir).text("/records/vw1")
    sif = html.split('class="facts sif"', 1)[1].split("</dl>", 1)[0]
    assert f"sha256:{found.container.sif.sha256}" in sif and found.container.sif.id in sif
    assert "primary-system squashfs" in sif
    environment = html.split('id="environment-h"', 1)[1]
    assert (
        "paperlink test" in environment.split('class="facts host"', 1)[0]
    )  # the image's os-release
    host = environment.split('class="facts host"', 1)[1].split("</dl>", 1)[0]
    assert socket.gethostname() in host and "paperlink test" not in host


@pytest.mark.parametrize("prefix", ["APPTAINER", "SINGULARITY"])
def test_inside_apptainer_records_the_image_the_environment_names(
    project_dir: Path, sif_image: Path, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(f"{prefix}_CONTAINER", str(sif_image))
    monkeypatch.setenv(f"{prefix}_NAME", "env.sif")
    run_cli("run", "--label", "in1", "--", "python3", "make_figure.py")
    found = record(project_dir, "in1")
    assert_is_image(found, sif_image)
    assert found.container is not None and found.container.inside_container
    assert found.container.engine == prefix.lower()
    assert found.container.labels == {"dev.paperlink.host.name": "env.sif"}


def test_inside_apptainer_with_the_image_out_of_sight_keeps_its_name(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPTAINER_CONTAINER", "/cluster/images/gone.sif")
    run_cli("run", "--label", "in2", "--", "python3", "make_figure.py")
    found = record(project_dir, "in2")
    assert found.container is not None and found.container.reference == "/cluster/images/gone.sif"
    assert found.container.sif is None and found.container.inside_container


def test_the_image_is_read_once_while_it_is_unchanged(
    project_dir: Path, sif_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reference image itself: its times are old enough to be remembered (a file changed within
    # the last two seconds is read again, as for any digest).
    image = IMAGES / "one-group-signed.sif"
    run_cli("run", "--sif", str(image), "--label", "c1", "--", "true")
    reads: list[str] = []
    real = paperlink.containers.sif.read_sif

    def counted(path, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(str(path))
        return real(path, **kwargs)

    monkeypatch.setattr(paperlink.containers.sif, "read_sif", counted)
    run_cli("run", "--sif", str(image), "--label", "c2", "--", "true")
    assert reads == []
    assert record(project_dir, "c2").container == record(project_dir, "c1").container
    # Another file (here: a fresh copy) is read.
    run_cli("run", "--sif", str(sif_image), "--label", "c3", "--", "true")
    assert reads == [str(sif_image)]


def publish_setup(root: Path) -> None:
    (root / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: t\nauthors:\n  - family-names: Curie\n    given-names: Marie\n"
    )


def test_publish_archives_the_sif_unless_no_image(
    project_dir: Path, sif_image: Path, tmp_path: Path, fake_apptainer: Path
) -> None:
    publish_setup(project_dir)
    run_cli("run", "--sif", str(sif_image), "--label", "p1", "--", "python3", "make_figure.py")
    target = tmp_path / "published"
    run_cli("publish", "--record", "p1", "--to", str(target))
    images = [p for p in target.iterdir() if p.name.startswith("image-")]
    assert [p.read_bytes() for p in images] == [sif_image.read_bytes()]
    # sha256sum, the outside tool, checks the whole archive, the image included.
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=target, capture_output=True)
    assert done.returncode == 0 and f"{images[0].name}: OK" in done.stdout.decode()
    crate = json.loads((target / "ro-crate-metadata.json").read_text())
    image = next(e for e in crate["@graph"] if e.get("@type") == "ContainerImage")
    assert image["sha256"] == hashlib.sha256(sif_image.read_bytes()).hexdigest()
    assert image["distribution"] == {"@id": images[0].name}
    # The archive's README checks the image and runs the command in it with Apptainer.
    readme = (target / "README.md").read_text()
    assert f"{read_sif(sif_image).sha256}  ../../../{images[0].name}' | sha256sum -c -" in readme
    assert 'apptainer exec --cleanenv --bind "$PWD" --pwd "$PWD" --env SOURCE_DATE_EPOCH=' in readme
    assert f"../../../{images[0].name} python3 make_figure.py" in readme
    # The README's commands run as they stand (Apptainer stood in for): the image checks, and the
    # re-run in it makes the recorded figure.
    outputs = run_readme(target)
    assert any(f"{images[0].name}: OK" in out and "figures/fig1.svg: OK" in out for out in outputs)
    # The official validator passes the crate, and nothing in the archive names this machine's folders.
    assert_valid(target, ("required",))  # recommended asks for affiliations this CITATION lacks
    assert_no_local_paths(target, project_dir, sif_image.parent)
    bare = tmp_path / "bare"
    run_cli("publish", "--record", "p1", "--to", str(bare), "--no-image")
    assert not [p for p in bare.iterdir() if p.name.startswith("image-")]
    # A SIF changed since the run is not archived as if it were the run's.
    sif_image.write_bytes(sif_image.read_bytes() + b"\0")
    changed = run_cli("publish", "--record", "p1", "--to", str(tmp_path / "again"), ok=False)
    assert changed.exit_code != 0 and "the image changed after the run" in changed.output


def manuscript(root: Path, body: str) -> None:
    (root / "paper").mkdir(exist_ok=True)
    (root / "paper" / "main.tex").write_text(
        f"\\documentclass{{article}}\n\\begin{{document}}\n{body}\\end{{document}}\n"
    )


def test_verify_checks_the_sif_and_a_changed_one_is_a_mismatch(
    project_dir: Path, sif_image: Path, tmp_path: Path
) -> None:
    run_cli("run", "--sif", str(sif_image), "--label", "v1", "--", "python3", "make_figure.py")
    manuscript(project_dir, "\\plincludegraphics{v1:figures/fig1.svg}\n")
    report = json.loads(run_cli("verify", "paper/main.tex", "--json").output)
    image = next(c for c in report["items"][0]["checks"] if c["name"] == "image")
    assert image["status"] == "OK" and "as recorded" in image["reason"]
    keep = tmp_path / "kept.sif"
    shutil.copyfile(sif_image, keep)
    sif_image.write_bytes(sif_image.read_bytes()[:-1] + b"\1")
    result = run_cli("verify", "paper/main.tex", ok=False)
    assert result.exit_code == 3
    assert f"SIF image {sif_image} of record 'v1' is sha256:" in result.output
    assert "but the run used sha256:" in result.output
    # The archived copy, given with --image-archive, is the image the run used.
    again = json.loads(
        run_cli("verify", "paper/main.tex", "--image-archive", str(keep), "--json").output
    )
    assert again["ok"], again
    sif_image.unlink()
    gone = json.loads(run_cli("verify", "paper/main.tex", "--json", ok=False).output)
    image = next(c for c in gone["items"][0]["checks"] if c["name"] == "image")
    assert image["status"] == "MISSING" and "--image-archive FILE" in image["reason"]


def test_rerun_prints_the_apptainer_command_that_reruns_in_the_image(
    project_dir: Path, sif_image: Path, fake_apptainer: Path
) -> None:
    run_cli("run", "--sif", str(sif_image), "--label", "r1", "--", "python3", "make_figure.py")
    first = (project_dir / "figures" / "fig1.svg").read_bytes()
    (project_dir / "figures" / "fig1.svg").unlink()
    found = record(project_dir, "r1")
    shown = run_cli("rerun", "r1").output
    command = rerun_command(found, project_dir)
    assert shlex.join(command) in shown and f"sha256:{read_sif(sif_image).sha256}" in shown
    assert command[4:7] == ["apptainer", "exec", "--cleanenv"]
    assert f"--env=SOURCE_DATE_EPOCH={found.source_date_epoch}" in command
    assert json.loads(run_cli("rerun", "r1", "--json").output)["command"] == command
    # The printed command works (Apptainer stood in for as above) and its record names the same image.
    assert command[:2] == ["paperlink", "run"]
    result = run_cli(*command[1:])
    assert "recorded" in result.output
    assert (project_dir / "figures" / "fig1.svg").read_bytes() == first
    with RecordStore(project_dir / ".paperlink" / "records.sqlite") as store:
        again = store.get(store.summaries(limit=1)[0].label)
    assert again.container is not None and again.container.sif is not None
    assert again.container.sif.sha256 == found.container.sif.sha256  # type: ignore[union-attr]
    # verify --rerun cannot start Apptainer either: it says how instead.
    manuscript(project_dir, "\\plincludegraphics{r1:figures/fig1.svg}\n")
    report = json.loads(run_cli("verify", "paper/main.tex", "--rerun", "--json", ok=False).output)
    rerun = next(c for c in report["items"][0]["checks"] if c["name"] == "rerun")
    assert rerun["status"] == "ERROR" and "apptainer exec" in rerun["reason"]
