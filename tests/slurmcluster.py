"""A real one-node Slurm cluster for the tests and the benchmark: munged, slurmctld and slurmd from Debian's
``munge`` and ``slurm-wlm``, all in one scratch folder.

Nothing outside that folder is used or changed: munged gets its own key (``mungekey``) and socket, Slurm
its own ``slurm.conf`` (``SLURM_CONF`` in :attr:`SlurmCluster.env` points the clients at it), state and
spool folders and free ports on 127.0.0.1. ``ProctrackType=proctrack/linuxproc`` and
``TaskPlugin=task/none`` with no ``cgroup.conf``: the configuration that runs jobs in a container as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo")


class ClusterError(RuntimeError):
    """The cluster could not be started; the message says what is missing or holds the daemons' logs."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _memory_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 1024


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (kills the daemons and waits for them)."""

    def __init__(self, folder: Path | None = None, *, oversubscribe: int = 4) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="paperlink-slurm-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = socket.gethostname().split(".")[0]
        self.oversubscribe = oversubscribe
        self.conf = self.folder / "slurm.conf"
        self.munge_socket = self.folder / "run" / "munge.sock"
        self._daemons: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- life -------------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> SlurmCluster:
        missing = missing_tools()
        if missing:
            raise ClusterError(
                f"{', '.join(missing)} not installed (Debian packages slurm-wlm and munge)"
            )
        try:
            self._start_munge()
            self._write_conf()
            self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-f", str(self.conf)])
            self._spawn("slurmd", ["slurmd", "-D", "-c", "-f", str(self.conf)])
            self._wait_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if any(name == "slurmctld" and p.poll() is None for name, p in self._daemons):
            # Jobs still running (a failed test's) end with the cluster, not after it.
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self.run("scancel", f"--user={os.getuid()}", timeout=20)
        for _, process in reversed(self._daemons):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in reversed(self._daemons):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._daemons.clear()

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts ------------------------------------------------------------------------------------
    def _start_munge(self) -> None:
        key_dir, run_dir = self.folder / "munge", self.folder / "run"
        key_dir.mkdir(mode=0o700)
        run_dir.mkdir()
        # munged refuses a socket in a folder others cannot traverse.
        self.folder.chmod(0o755)
        run_dir.chmod(0o755)
        key = key_dir / "munge.key"
        subprocess.run(
            ["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True
        )
        key.chmod(0o600)
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--num-threads=8",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={run_dir / 'munged.pid'}",
                f"--log-file={self.folder / 'log' / 'munged.log'}",
                f"--seed-file={key_dir / 'munged.seed'}",
            ],
        )
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise ClusterError("munged did not create its socket:\n" + self.logs())
            time.sleep(0.05)

    def _write_conf(self) -> None:
        for name in ("state", "spool"):
            (self.folder / name).mkdir()
        f = self.folder
        lines = [
            "ClusterName=paperlinktest",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "CredType=cred/munge",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            # The node's CPUs and memory are what this file says, whatever slurmd detects.
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "MaxArraySize=10001",
            "KillWait=5",
            "MinJobAge=600",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} "
            f"RealMemory={max(256, int(_memory_mib() * 0.8))} State=UNKNOWN",
            # FORCE:N lets N jobs share a core, so an array keeps more tasks writing at once.
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP "
            f"OverSubscribe=FORCE:{self.oversubscribe}",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.folder / "log"
        log.mkdir(exist_ok=True)
        with (log / f"{name}.out").open("wb") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self._daemons.append((name, process))

    def _check_alive(self) -> None:
        for name, process in self._daemons:
            if process.poll() is not None:
                raise ClusterError(
                    f"{name} exited with {process.returncode} while starting:\n" + self.logs()
                )

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            self._check_alive()
            done = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"],
                capture_output=True,
                text=True,
                env=self.env,
                check=False,
                timeout=30,
            )
            state = done.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.2)
        raise ClusterError(f"the node is '{state}', not idle, after {timeout:g} s:\n" + self.logs())

    def logs(self, lines: int = 15) -> str:
        parts = []
        for path in sorted((self.folder / "log").glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"== {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- clients ----------------------------------------------------------------------------------
    def run(
        self, *argv: str, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """A Slurm client command (sbatch, srun, scontrol …) against this cluster."""
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def submit(self, *args: str, cwd: Path, timeout: float = 600) -> str:
        """``sbatch ARGS`` and wait until the job (every task of an array) has left the queue; returns
        the job id. Polls squeue itself: ``sbatch --wait`` sleeps ever longer, up to ~30 s here."""
        done = self.run("sbatch", "--parsable", *args, cwd=cwd)
        if done.returncode != 0:
            raise ClusterError(f"sbatch {' '.join(args)} failed: {done.stdout}{done.stderr}")
        job = done.stdout.strip().split(";")[0]
        deadline = time.monotonic() + timeout
        while self.run("squeue", "-h", "-j", job, "-o", "%i").stdout.strip():
            if time.monotonic() > deadline:
                raise ClusterError(f"job {job} still queued after {timeout:g} s:\n" + self.logs())
            time.sleep(0.1)
        return job
