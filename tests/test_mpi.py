"""MPI runs: ``paperlink run -- mpirun -n 4 …`` records the implementation, its version, the ranks and the
hosts, with Debian's Open MPI (``openmpi-bin``) launching real ranks; and paperlink inside each rank."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import paperlink_process, require, run_cli

from paperlink.core.records import Record
from paperlink.recorder.mpi import describe_mpi, find_launcher, parse_launch, parse_version

# Without mpi4py: each rank says who it is from the variables Open MPI's launcher gives it.
SIM = """\
import os, pathlib
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
pathlib.Path("results").mkdir(exist_ok=True)
pathlib.Path(f"results/rank{rank}.txt").write_text(f"{rank} of {size}\\n")
print(f"rank {rank} of {size}", flush=True)
"""
ROOT_FLAGS = ("--allow-run-as-root", "--oversubscribe")


def mpirun() -> str:
    found = shutil.which("mpirun")
    require(found, "mpirun is not installed (Debian package openmpi-bin)")
    assert found is not None
    return found


def open_mpi_version() -> str:
    """Open MPI's version as its own ompi_info reports it (not through paperlink's parser)."""
    done = subprocess.run(
        ["ompi_info", "--parsable"], capture_output=True, text=True, check=True, timeout=60
    )
    found = re.search(r"^ompi:version:full:(\S+)$", done.stdout, re.MULTILINE)
    assert found, done.stdout[:500]
    return found.group(1)


@pytest.fixture
def sim_project(project_dir: Path) -> Path:
    (project_dir / "sim.py").write_text(SIM)
    return project_dir


def test_mpirun_records_open_mpi_its_version_four_ranks_and_the_host(sim_project: Path) -> None:
    mpirun()
    done = paperlink_process(
        "run", "--", "mpirun", *ROOT_FLAGS, "-n", "4", "python3", "sim.py", cwd=sim_project
    )
    assert done.returncode == 0, done.stderr.decode()
    (item,) = json.loads(run_cli("list", "--json").output)
    rec = Record.from_json(run_cli("show", "--json", item["label"]).output)
    mpi = rec.mpi
    assert mpi is not None
    assert mpi.launcher == "mpirun"
    assert mpi.implementation == "Open MPI"
    assert mpi.version == open_mpi_version()
    assert mpi.ranks == 4
    assert mpi.hosts == [socket.gethostname()] and mpi.hosts_from == "local"
    # Four ranks really ran, and their files are the run's outputs.
    assert sorted(o.path for o in rec.outputs) == [f"results/rank{i}.txt" for i in range(4)]
    assert done.stdout.decode().count(" of 4") == 4
    text = run_cli("show", item["label"]).output
    assert f"MPI (Open MPI {mpi.version})" in text
    assert "ranks       4" in text


def test_paperlink_inside_each_rank_records_the_rank_with_unique_labels(sim_project: Path) -> None:
    done = subprocess.run(
        [mpirun(), *ROOT_FLAGS, "-n", "2", sys.executable, "-m", "paperlink", "run", "--",
         "python3", "sim.py"],
        cwd=sim_project, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    items = json.loads(run_cli("list", "--json").output)
    assert len(items) == 2
    ranks = set()
    for item in items:
        mpi = Record.from_json(run_cli("show", "--json", item["label"]).output).mpi
        assert mpi is not None and mpi.launcher is None
        assert mpi.implementation == "Open MPI" and mpi.world_size == 2
        assert mpi.version == open_mpi_version()
        assert item["label"].endswith(f"-rank{mpi.rank}")
        ranks.add(mpi.rank)
    assert ranks == {0, 1}


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["mpirun", "-n", "2", "x"], 0),
        (["/usr/bin/mpiexec", "x"], 0),
        (["time", "env", "OMP_NUM_THREADS=2", "mpirun", "x"], 3),
        (["srun", "-n", "2", "x"], 0),
        (["python3", "mpirun.py"], None),
        (["env", "python3", "mpirun"], None),
    ],
)
def test_the_launcher_is_found_behind_prefixes_only(argv: list[str], index: int | None) -> None:
    assert find_launcher(argv) == index


def test_hosts_come_from_the_options_and_hostfiles(tmp_path: Path) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# lab nodes\nnode1 slots=4\nnode2:4\n\n")
    args = ["--mca", "btl", "self", "-np", "8", "--hostfile", str(hostfile), "prog", "-n", "3"]
    assert parse_launch(args) == (8, ["node1", "node2"], "hostfile", str(hostfile))
    assert parse_launch(["-H", "a:2,b[1-2]", "-n4", "prog"]) == (
        4,
        ["a", "b1", "b2"],
        "--host",
        None,
    )
    # srun's -c is CPUs per task, not ranks
    assert parse_launch(["-c", "4", "--ntasks=8", "prog"], "srun")[0] == 8


def test_inside_an_allocation_the_ranks_go_to_the_jobs_nodes() -> None:
    environ = {"PATH": "/nonexistent", "SLURM_JOB_NODELIST": "node[01-02]"}
    mpi = describe_mpi(["mpirun", "-n", "4", "prog"], environ, probe=False)
    assert mpi is not None and mpi.hosts == ["node01", "node02"] and mpi.hosts_from == "slurm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mpirun (Open MPI) 4.1.4\n\nReport bugs to http://www.open-mpi.org/", ("Open MPI", "4.1.4")),
        ("mpiexec (OpenRTE) 4.1.4\n", ("Open MPI", "4.1.4")),
        ("HYDRA build details:\n    Version:                    4.0.2\n", ("MPICH", "4.0.2")),
        ("Intel(R) MPI Library for Linux* OS, Version 2021.5 Build 20211102", ("Intel MPI", "2021.5")),
        ("slurm 22.05.8\n", ("Slurm", "22.05.8")),
        ("something else", (None, None)),
    ],
)  # fmt: skip
def test_versions_name_the_implementation(
    text: str, expected: tuple[str | None, str | None]
) -> None:
    assert parse_version(text) == expected
