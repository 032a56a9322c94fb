"""Julia's packages, read from the active project's Manifest.toml as Julia finds it, without starting Julia.

Julia is not installable on the machines the tests run on (Debian does not package it and there is no
internet), so these tests use its documented on-disk format: real manifests of both of Pkg's formats and a
stand-in ``julia`` on PATH, a shell script that answers ``--version`` as Julia does and otherwise runs the
script it is given with sh.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from paperlink.core.config import find_project
from paperlink.core.envpackages import Environment
from paperlink.core.store import RecordStore
from paperlink.recorder.envscan import EnvironmentCapture
from paperlink.recorder.julia_env import project_option, read_manifest

EXAMPLE_UUID = "7876af07-990d-54b4-ab0e-23690620f79a"
# A manifest as Julia 1.10's Pkg writes it (format 2.0): a registered package, a standard library (no
# version) and a package with two entries of one name (another UUID).
MANIFEST_V2 = f"""\
# This file is machine-generated - editing it directly is not advised

julia_version = "1.10.4"
manifest_format = "2.0"
project_hash = "9a6e3bd33e6e0b6a8d3b55a6d2c3a4b04b3b5a7b"

[[deps.Example]]
git-tree-sha1 = "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc"
uuid = "{EXAMPLE_UUID}"
version = "0.5.3"

[[deps.JSON]]
deps = ["Dates", "Mmap", "Parsers", "Unicode"]
git-tree-sha1 = "31e996f0a15c7b280ba9f76636b3ff9e2ae58c9a"
uuid = "682c06a0-de6a-54ab-a142-c8b1cf79cde6"
version = "0.21.4"

[[deps.Dates]]
deps = ["Printf"]
uuid = "ade2ca70-3891-5945-98fb-dc099432e06a"
"""
# The first format (Julia 1.0 to 1.5): the package names are the top-level keys.
MANIFEST_V1 = """\
# This file is machine-generated - editing it directly is not advised

[[Example]]
git-tree-sha1 = "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc"
uuid = "7876af07-990d-54b4-ab0e-23690620f79a"
version = "0.5.3"

[[Parsers]]
deps = ["Dates"]
git-tree-sha1 = "8c1c4a2d7e4b5b1e7a5f8f9b3c2d1e0f9a8b7c6d"
uuid = "69de0a69-1ddd-5017-9359-2bf0b02dc9f0"
version = "2.8.1"

[[Dates]]
deps = ["Printf"]
uuid = "ade2ca70-3891-5945-98fb-dc099432e06a"
"""
PROJECT = f'[deps]\nExample = "{EXAMPLE_UUID}"\n'
PLOT = "mkdir -p figures && echo '<svg id=\"julia\"/>' > figures/julia.svg\n"


@pytest.fixture
def julia(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``julia`` first on PATH; each call is logged (one line of arguments) in the file it
    returns."""
    folder = tmp_path / "julia-bin"
    folder.mkdir()
    log = tmp_path / "julia-calls.log"
    log.write_text("")
    script = folder / "julia"
    script.write_text(
        "#!/bin/sh\n"
        f"echo \"$*\" >> '{log}'\n"
        'if [ "$1" = "--version" ]; then echo "julia version 1.10.4"; exit 0; fi\n'
        "while [ $# -gt 0 ]; do\n"
        '  case "$1" in\n'
        "    --) shift; break ;;\n"
        "    -t|-p|-e|-L) shift 2 ;;\n"
        "    -*) shift ;;\n"
        "    *) break ;;\n"
        "  esac\n"
        "done\n"
        'exec sh "$@"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JULIA_DEPOT_PATH", str(tmp_path / "depot"))
    monkeypatch.delenv("JULIA_PROJECT", raising=False)
    return log


def environment_of(label: str) -> Environment:
    with RecordStore(find_project().store_path) as store:
        record = store.get(label)
        assert record.environment_digest is not None
        return store.get_environment(record.environment_digest)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["julia", "-t", "4", "--project=env", "x.jl"], ("env", "x.jl")),
        (["julia", "--project", "x.jl", "--project=later"], ("@.", "x.jl")),
        (["julia", "--project=", "--", "x.jl"], ("@.", "x.jl")),
        (["julia", "-e", "using Pkg", "--project=@analysis"], ("@analysis", None)),
        (["julia", "x.jl", "--project=y"], (None, "x.jl")),  # the script's own argument
    ],
)
def test_julias_own_project_option_is_found_before_the_script(
    argv: list[str], expected: tuple[str | None, str | None]
) -> None:
    assert project_option(argv) == expected


def test_the_manifest_of_the_project_the_command_names_is_read_without_running_julia(
    project_dir: Path, julia: Path
) -> None:
    (project_dir / "plot.jl").write_text(PLOT)
    env = project_dir / "env"
    env.mkdir()
    (env / "Project.toml").write_text(PROJECT)
    (env / "Manifest.toml").write_text(MANIFEST_V2.replace("0.5.3", "0.5.1"))
    # Julia 1.10.8 and later prefer the manifest named for their version; another version's is not theirs.
    (env / "Manifest-v1.10.toml").write_text(MANIFEST_V2)
    (env / "Manifest-v1.11.toml").write_text(MANIFEST_V2.replace("0.5.3", "0.6.0"))
    run_cli("run", "--label", "j1", "--", "julia", "-t", "2", "--project=env", "plot.jl")
    assert (project_dir / "figures/julia.svg").is_file()
    environment = environment_of("j1")
    packages = {p.name: p for p in environment.packages["julia"]}
    assert set(packages) == {"Example", "JSON"}  # Dates is a standard library: no version
    example = packages["Example"]
    assert (example.version, example.uuid, example.git_tree_sha1) == (
        "0.5.3", EXAMPLE_UUID, "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc",
    )  # fmt: skip
    assert environment.sources["julia"] == "env/Manifest-v1.10.toml"
    # Julia was asked its version, never to run Pkg.
    calls = julia.read_text().splitlines()
    assert "--version" in calls and not any(" -e " in f" {c} " for c in calls)
    assert "JSON" in run_cli("show", "j1", "--packages").output


def test_the_first_manifest_format_is_found_upward_for_julia_project_at_dot(
    project_dir: Path, julia: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "Project.toml").write_text(PROJECT)
    (project_dir / "Manifest.toml").write_text(MANIFEST_V1)
    analysis = project_dir / "analysis"
    analysis.mkdir()
    (analysis / "plot.jl").write_text(PLOT)
    monkeypatch.chdir(analysis)
    monkeypatch.setenv("JULIA_PROJECT", "@.")
    run_cli("run", "--label", "j2", "--", "julia", "plot.jl")
    environment = environment_of("j2")
    assert {(p.name, p.version) for p in environment.packages["julia"]} == {
        ("Example", "0.5.3"),
        ("Parsers", "2.8.1"),
    }
    assert environment.sources["julia"] == "Manifest.toml"
    # `--project` with no value is the same search, and comes before JULIA_PROJECT.
    monkeypatch.setenv("JULIA_PROJECT", str(project_dir / "nowhere"))
    run_cli("run", "--label", "j3", "--", "julia", "--project", "plot.jl")
    assert environment_of("j3").sources["julia"] == "Manifest.toml"


def test_without_a_project_julia_uses_the_default_environment_of_its_version(
    project_dir: Path, julia: Path, tmp_path: Path
) -> None:
    # A Project.toml in the working folder is not active without --project (Julia does not look there).
    (project_dir / "Project.toml").write_text(PROJECT)
    (project_dir / "Manifest.toml").write_text(MANIFEST_V1)
    (project_dir / "plot.jl").write_text(PLOT)
    default = tmp_path / "depot" / "environments" / "v1.10"
    default.mkdir(parents=True)
    (default / "Project.toml").write_text(PROJECT)
    (default / "Manifest.toml").write_text(MANIFEST_V2)
    run_cli("run", "--label", "j4", "--", "julia", "plot.jl")
    environment = environment_of("j4")
    assert {p.name for p in environment.packages["julia"]} == {"Example", "JSON"}
    assert environment.sources["julia"] == str(default / "Manifest.toml")


def test_without_julia_on_path_no_julia_packages_are_recorded(
    project_dir: Path, julia: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "Project.toml").write_text(PROJECT)
    (project_dir / "Manifest.toml").write_text(MANIFEST_V2)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if "julia-bin" not in p)
    monkeypatch.setenv("PATH", path)
    result = run_cli("run", "--label", "nojulia", "--", "julia", "--project", "plot.jl", ok=False)
    assert result.exit_code == 127
    assert "julia" not in environment_of("nojulia").packages
    # A Python command does not look for a Julia project either.
    run_cli("run", "--label", "py", "--", sys.executable, "make_figure.py", "py")
    assert "julia" not in environment_of("py").packages


def test_the_manifest_is_read_again_only_when_its_file_changes(
    project_dir: Path, julia: Path
) -> None:
    manifest = project_dir / "Manifest.toml"
    (project_dir / "Project.toml").write_text(PROJECT)
    manifest.write_text(MANIFEST_V2)
    project = find_project()

    def versions() -> dict[str, str]:
        with RecordStore(project.store_path) as store:
            run = EnvironmentCapture(
                store,
                project_dir,
                ["julia", "--project=.", "plot.jl"],
                dict(os.environ),
                parts=["julia"],
                cwd=project_dir,
            )
            run.start()
            return {p.name: p.version for p in run.finish().packages["julia"]}

    assert versions() == {"Example": "0.5.3", "JSON": "0.21.4"}
    # The same size and times: the cache answers, the file is not parsed again.
    stat = manifest.stat()
    manifest.write_text(MANIFEST_V2.replace("0.21.4", "0.21.9"))
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert versions()["JSON"] == "0.21.4"
    # Pkg rewrites it (a new mtime): read again.
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert versions()["JSON"] == "0.21.9"
    # An explicit project needs no version: Julia was never started for these captures.
    assert julia.read_text() == ""


def test_both_manifest_formats_read_the_same_packages(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.toml", tmp_path / "v2.toml"
    v1.write_text(MANIFEST_V1)
    v2.write_text(MANIFEST_V2)
    assert [p.name for p in read_manifest(v1)] == ["Example", "Parsers"]
    assert [p.name for p in read_manifest(v2)] == ["Example", "JSON"]
    assert read_manifest(v1)[0].to_dict() == read_manifest(v2)[0].to_dict()
