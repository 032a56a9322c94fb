"""MPI: the launch a run makes (``mpirun -n 4 python3 sim.py``) or the rank paperlink itself runs as.

A launcher in the command (``mpirun``, ``mpiexec``, ``orterun``, ``srun`` …) is read for its rank count
(``-n``/``-np``/``--ntasks``) and hosts (``--host``/``-H``/``-hosts``, a hostfile, else the Slurm job's
nodes or this host), and asked for its ``--version``, which names the implementation (Open MPI, MPICH,
Intel MPI, MVAPICH2) and its version; the answer is cached by the launcher's path, size and mtime. Inside a
rank, the variables the launcher sets (``OMPI_COMM_WORLD_*``, ``PMI_*``, ``PMIX_RANK``) give the rank and
the world's size.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from paperlink.core.programs import which
from paperlink.core.runcontext import MpiRun
from paperlink.recorder.probe import ToolCache
from paperlink.recorder.slurm import expand_hostlist

VERSION_TIMEOUT_SECONDS = 5.0

LAUNCHERS = {
    "mpirun",
    "mpiexec",
    "orterun",
    "prterun",
    "mpiexec.hydra",
    "mpirun.openmpi",
    "mpiexec.openmpi",
    "mpirun.mpich",
    "mpiexec.mpich",
    "srun",
}
# Commands that run the rest of their arguments: `time mpirun …`, `env OMP_NUM_THREADS=2 mpirun …`.
_PREFIXES = {"env", "time", "nice", "nohup", "stdbuf", "numactl", "taskset", "chrt", "ionice"}

_RANK_OPTIONS = {"-n", "-np", "--np", "--n", "-c", "--ntasks"}
_HOST_OPTIONS = {"--host", "-host", "-H", "--hosts", "-hosts", "-w", "--nodelist"}
_HOSTFILE_OPTIONS = {
    "--hostfile",
    "-hostfile",
    "--machinefile",
    "-machinefile",
    "-f",
    "--default-hostfile",
}
# Options of the launchers that take a value (two for --mca and -genv), so that scanning stops at the
# program and never reads the program's own -n.
_TWO_VALUES = {"--mca", "-mca", "--gmca", "-gmca", "-genv", "-env"}
_ONE_VALUE = {
    *_RANK_OPTIONS,
    *_HOST_OPTIONS,
    *_HOSTFILE_OPTIONS,
    "-x",
    "--map-by",
    "-map-by",
    "--rank-by",
    "--bind-to",
    "-bind-to",
    "--npernode",
    "-npernode",
    "-N",
    "--npersocket",
    "--wdir",
    "-wdir",
    "--prefix",
    "--output-filename",
    "--timeout",
    "--cpus-per-proc",
    "--cpus-per-rank",
    "--cpu-set",
    "--path",
    "-s",
    "--preload-files",
    "-am",
    "--tune",
    "-genvlist",
    "-envlist",
    "-ppn",
    "-launcher",
    "-bootstrap",
    "-configfile",
    "-iface",
    "-A",
    "-p",
    "-J",
    "-t",
    "-o",
    "-e",
    "-i",
    "-D",
    "-m",
    "-C",
    "-G",
    "-q",
    "-d",
}
# srun's -c is --cpus-per-task, not the rank count it is for Open MPI.
_SRUN_RANK_OPTIONS = {"-n", "--ntasks"}


def find_launcher(argv: list[str]) -> int | None:
    """The index of the MPI launcher in ``argv`` (behind ``env``, ``time`` … prefixes), or None."""
    for index, arg in enumerate(argv):
        name = Path(arg).name
        if name in LAUNCHERS:
            return index
        if index == 0 and name not in _PREFIXES:
            return None
        if index > 0 and not (arg.startswith("-") or "=" in arg or name in _PREFIXES):
            return None
    return None


def parse_launch(
    args: list[str], launcher: str = "mpirun"
) -> tuple[int | None, list[str], str | None, str | None]:
    """(ranks, hosts, hosts_from, hostfile) from a launcher's arguments, up to the program."""
    rank_options = _SRUN_RANK_OPTIONS if launcher == "srun" else _RANK_OPTIONS
    ranks: int | None = None
    hosts: list[str] = []
    hosts_from: str | None = None
    hostfile: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-") or arg == "--":
            break  # the program (or `--` before it)
        name, eq, inline = arg.partition("=")
        value: str | None = inline if eq else None
        if value is None and name not in _ONE_VALUE | _TWO_VALUES:
            glued = re.fullmatch(r"-(n|np|c)(\d+)", arg)  # srun's and mpiexec's -n4
            if glued:
                name, value = "-" + glued.group(1), glued.group(2)
        if value is None and name in _ONE_VALUE and index + 1 < len(args):
            index += 1
            value = args[index]
        elif value is None and name in _TWO_VALUES:
            index += 2
        index += 1
        if value is None:
            continue
        if name in rank_options and value.isdigit():
            ranks = int(value)
        elif name in _HOST_OPTIONS:
            hosts += [h.split(":", 1)[0] for h in expand_hostlist(value)]
            hosts_from = "--host"
        elif name in _HOSTFILE_OPTIONS:
            hostfile = value
            hosts += read_hostfile(Path(value))
            hosts_from = "hostfile"
    return ranks, _unique(hosts), hosts_from, hostfile


def read_hostfile(path: Path) -> list[str]:
    """The hosts of an Open MPI (``host slots=4``) or MPICH (``host:4``) hostfile; [] if unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    hosts = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            hosts.append(line.split()[0].split(":", 1)[0])
    return hosts


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_version(text: str) -> tuple[str | None, str | None]:
    """(implementation, version) from a launcher's ``--version`` output."""
    patterns = (
        ("Open MPI", r"\(Open(?:RTE| MPI)\)\s+(\S+)"),
        ("Intel MPI", r"Intel\(R\) MPI Library.*?Version\s+(\S+)"),
        ("MVAPICH2", r"MVAPICH2?\s+Version:?\s+(\S+)"),
        ("MPICH", r"(?:HYDRA build details:|MPICH).*?Version:\s+(\S+)"),
        ("Slurm", r"^slurm\s+(\S+)"),
    )
    for name, pattern in patterns:
        found = re.search(pattern, text, re.DOTALL | re.MULTILINE | re.IGNORECASE)
        if found:
            return name, found.group(1).rstrip(",")
    return None, None


def launcher_version(
    launcher: str, environ: Mapping[str, str], cache: ToolCache | None = None
) -> str | None:
    """The launcher's ``--version`` output (cached by path, size and mtime); None if it gives none."""
    real = os.path.realpath(launcher)
    try:
        st = os.stat(real)
    except OSError:
        return None
    key = f"mpi-version:{real}:{st.st_size}:{st.st_mtime_ns}"
    if cache is not None:
        cached = cache.cache_get(key)
        if cached is not None:
            return cached or None
    try:
        done = subprocess.run(
            [launcher, "--version"],
            capture_output=True,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            timeout=VERSION_TIMEOUT_SECONDS,
            check=False,
        )
        text = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired):
        text = ""
    if cache is not None:
        cache.cache_put(key, text)
    return text or None


def _rank_environment(environ: Mapping[str, str]) -> MpiRun | None:
    get = environ.get

    def number(*names: str) -> int | None:
        for name in names:
            value = get(name, "")
            if value.isdigit():
                return int(value)
        return None

    rank = number("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MPI_LOCALRANKID")
    if rank is None:
        return None
    if any(name.startswith("OMPI_COMM_WORLD_") for name in environ):
        implementation: str | None = "Open MPI"
    elif any(name.startswith("I_MPI_") for name in environ):
        implementation = "Intel MPI"
    elif any(name.startswith("MV2_") for name in environ):
        implementation = "MVAPICH2"
    else:
        implementation = None  # PMI is spoken by MPICH, Intel MPI and srun alike
    return MpiRun(
        implementation=implementation,
        rank=rank,
        local_rank=number("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"),
        world_size=number("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"),
    )


def describe_mpi(
    argv: list[str],
    environ: Mapping[str, str],
    *,
    cache: ToolCache | None = None,
    probe: bool = True,
) -> MpiRun | None:
    """The MPI launch in ``argv``, or the rank ``environ`` says paperlink runs as; None for neither.

    ``probe`` allows running the launcher's ``--version`` (not for a command that runs in a container,
    where the host's launcher is not the one that runs). Never raises.
    """
    index = find_launcher(argv)
    if index is None:
        inside = _rank_environment(environ)
        if inside is not None and probe and inside.implementation == "Open MPI":
            found = which("mpirun", path=environ.get("PATH"))
            text = launcher_version(found, environ, cache) if found else None
            if text:
                inside.version_text = text.splitlines()[0]
                inside.version = parse_version(text)[1]
        return inside
    launcher = argv[index]
    name = Path(launcher).name
    ranks, hosts, hosts_from, hostfile = parse_launch(argv[index + 1 :], name)
    if not hosts:
        nodes = environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST")
        if nodes:
            # Inside an allocation mpirun and srun start the ranks on the job's nodes.
            hosts, hosts_from = expand_hostlist(nodes), "slurm"
        elif name != "srun":
            hosts, hosts_from = [os.uname().nodename], "local"
    run = MpiRun(
        launcher=name,
        ranks=ranks,
        hosts=hosts,
        hosts_from=hosts_from,
        hostfile=hostfile,
    )
    path: str | None = launcher
    if os.sep not in launcher:
        # In a container the host's launcher is not the one that runs: name none.
        path = which(launcher, path=environ.get("PATH")) if probe else None
    run.launcher_path = os.path.abspath(path) if path else None
    if probe and path:
        text = launcher_version(path, environ, cache)
        if text:
            run.version_text = text.splitlines()[0]
            implementation, version = parse_version(text)
            if implementation != "Slurm":  # srun's version is Slurm's, not the MPI library's
                run.implementation, run.version = implementation, version
    return run
