"""The Slurm job a run is made in: job, array task, step and task, resources, where it was submitted from
and the batch script's sha256.

``scontrol show job -o ID`` is asked first (it knows the account, memory, node list and whether there is a
batch script, which ``scontrol write batch_script ID -`` then returns); where scontrol is missing, slow or
refuses, the job's ``SLURM_*`` variables are the fallback, so a record made inside a job always says so.
Nothing here runs outside a job: without ``SLURM_JOB_ID`` no process is started.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Mapping

from paperlink.core.patterns import LazyPattern
from paperlink.core.programs import which
from paperlink.core.runcontext import MpiRun, SlurmJob

SCONTROL_TIMEOUT_SECONDS = 10.0

# A key of `scontrol show job -o`: a word at the start or after a space, then `=`. Keys hold `:` and `/`
# (AllocNode:Sid, CPUs/Task); values may hold spaces (JobName, Reason, Comment), so a value runs up to
# the next key.
_KEY = LazyPattern(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/]*)=")
_NULL = {"", "(null)", "N/A", "None", "Unknown"}
_MEMORY = LazyPattern(r"^(\d+(?:\.\d+)?)([KMGTP]?)$", re.IGNORECASE)
_MIB_PER_UNIT = {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def parse_show_job(text: str, job_id: str | None = None) -> dict[str, str]:
    """The ``key=value`` fields of ``scontrol show job -o`` output, for ``job_id`` (the first job when
    None or not found). Slurm's ``(null)``, ``N/A`` and ``Unknown`` are left out."""
    lines = [line for line in text.splitlines() if line.strip()]
    chosen: dict[str, str] = {}
    for line in lines:
        fields = _parse_line(line)
        if not chosen:
            chosen = fields
        if job_id is not None and fields.get("JobId") == job_id:
            chosen = fields
            break
    return {key: value for key, value in chosen.items() if value not in _NULL}


def _parse_line(line: str) -> dict[str, str]:
    matches = list(_KEY.re.finditer(line))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        fields.setdefault(match.group(1), line[match.end() : end].strip())
    return fields


def memory_mib(text: str | None) -> int | None:
    """Slurm's memory amount (``500M``, ``2G``, a plain number of MiB) in MiB; None for 0 or unknown."""
    if not text:
        return None
    found = _MEMORY.re.match(text.strip())
    if not found:
        return None
    value = int(float(found.group(1)) * _MIB_PER_UNIT[found.group(2).upper()])
    return value or None


def expand_hostlist(expression: str) -> list[str]:
    """Slurm's host list expression (``node[01-03,07],gpu1``) as host names, in order."""
    hosts: list[str] = []
    for part in _split_top_level(expression):
        bracket = part.find("[")
        if bracket < 0 or not part.endswith("]"):
            if part:
                hosts.append(part)
            continue
        prefix, ranges = part[:bracket], part[bracket + 1 : -1]
        for item in ranges.split(","):
            low, _, high = item.partition("-")
            if not high:
                hosts.append(prefix + low)
                continue
            if not (low.isdigit() and high.isdigit()):
                hosts.append(f"{prefix}{item}")
                continue
            width = len(low)
            hosts.extend(f"{prefix}{n:0{width}d}" for n in range(int(low), int(high) + 1))
    return hosts


def _split_top_level(expression: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in expression:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    # SLURM_TASKS_PER_NODE-like values ("2(x3)") and ranges are not one number.
    return int(text) if text.isdigit() else None


def job_from_environment(environ: Mapping[str, str]) -> SlurmJob | None:
    """The job as its ``SLURM_*`` variables describe it; None outside a job."""
    job_id = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not job_id:
        return None
    get = environ.get
    step = get("SLURM_STEP_ID") or get("SLURM_STEPID")
    in_step = step is not None
    mem_cpu, mem_node = get("SLURM_MEM_PER_CPU"), get("SLURM_MEM_PER_NODE")
    return SlurmJob(
        job_id=job_id,
        array_job_id=get("SLURM_ARRAY_JOB_ID"),
        array_task_id=_int(get("SLURM_ARRAY_TASK_ID")),
        step_id=step,
        task_id=_int(get("SLURM_PROCID")) if in_step else None,
        step_tasks=_int(get("SLURM_STEP_NUM_TASKS")) if in_step else None,
        job_name=get("SLURM_JOB_NAME"),
        partition=get("SLURM_JOB_PARTITION"),
        account=get("SLURM_JOB_ACCOUNT"),
        cluster=get("SLURM_CLUSTER_NAME"),
        user=get("SLURM_JOB_USER"),
        node=get("SLURMD_NODENAME") or get("SLURM_TOPOLOGY_ADDR"),
        node_list=get("SLURM_JOB_NODELIST") or get("SLURM_NODELIST"),
        num_nodes=_int(get("SLURM_JOB_NUM_NODES") or get("SLURM_NNODES")),
        ntasks=_int(get("SLURM_NTASKS") or get("SLURM_NPROCS")),
        cpus_per_task=_int(get("SLURM_CPUS_PER_TASK")),
        memory_per_cpu_mib=memory_mib(mem_cpu),
        memory_per_node_mib=memory_mib(mem_node),
        submit_host=get("SLURM_SUBMIT_HOST"),
        submit_dir=get("SLURM_SUBMIT_DIR"),
        source="environment",
    )


def merge_show_job(job: SlurmJob, fields: Mapping[str, str]) -> SlurmJob:
    """``job`` completed and corrected by the fields of ``scontrol show job`` (the controller's word
    beats the environment's, which a user may have changed or inherited from another job)."""
    get = fields.get
    job.source = "scontrol"
    job.job_id = get("JobId") or job.job_id
    if get("ArrayJobId"):
        job.array_job_id = get("ArrayJobId")
        job.array_task_id = _int(get("ArrayTaskId"))
    job.job_name = get("JobName") or job.job_name
    job.partition = get("Partition") or job.partition
    job.account = get("Account") or job.account
    user = get("UserId")
    if user:
        job.user = user.split("(", 1)[0]
    job.node_list = get("NodeList") or job.node_list
    job.num_nodes = _int(get("NumNodes")) or job.num_nodes
    job.ntasks = _int(get("NumTasks")) or job.ntasks
    job.cpus_per_task = _int(get("CPUs/Task")) or job.cpus_per_task
    if get("MinMemoryCPU"):
        job.memory_per_cpu_mib = memory_mib(get("MinMemoryCPU"))
    if get("MinMemoryNode"):
        job.memory_per_node_mib = memory_mib(get("MinMemoryNode"))
    alloc = get("AllocNode:Sid")
    if alloc and not job.submit_host:
        job.submit_host = alloc.rsplit(":", 1)[0]
    job.work_dir = get("WorkDir") or job.work_dir
    job.command = get("Command") or job.command
    job.submit_time = get("SubmitTime") or job.submit_time
    job.time_limit = get("TimeLimit") or job.time_limit
    return job


def capture_job(
    environ: Mapping[str, str], *, timeout: float = SCONTROL_TIMEOUT_SECONDS
) -> SlurmJob | None:
    """The Slurm job of a run started with ``environ``; None outside a job.

    Never raises: when scontrol is missing or fails, the ``SLURM_*`` variables describe the job alone
    (``source == "environment"``) and the batch script's sha256 stays unknown.
    """
    job = job_from_environment(environ)
    if job is None:
        return None
    scontrol = which("scontrol", path=environ.get("PATH"))
    if scontrol is None:
        return job
    shown = _scontrol(scontrol, ["show", "job", "-o", job.job_id], environ, timeout)
    if shown is None:
        return job
    fields = parse_show_job(shown.decode("utf-8", "replace"), job.job_id)
    if not fields:
        return job
    merge_show_job(job, fields)
    # Only a batch job has a script; asking for one of an `srun` allocation is an error.
    if fields.get("BatchFlag", "1") != "0":
        script = _scontrol(scontrol, ["write", "batch_script", job.job_id, "-"], environ, timeout)
        if script:
            job.batch_script_sha256 = hashlib.sha256(script).hexdigest()
    return job


def _scontrol(
    scontrol: str, args: list[str], environ: Mapping[str, str], timeout: float
) -> bytes | None:
    try:
        done = subprocess.run(
            [scontrol, *args],
            capture_output=True,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def job_label_suffix(job: SlurmJob | None, mpi: MpiRun | None) -> str:
    """What a default (timestamp) label gets inside a job or an MPI rank, so that labels made at the same
    second by the tasks of one job, on any node, differ and name where they came from:
    ``-job1234`` (a batch job), ``-job1234_7`` (array task 7), ``-job1234.0-task3`` (task 3 of step 0,
    inside ``srun``), ``-rank2`` (MPI rank 2 outside a Slurm step)."""
    suffix = ""
    if job is not None:
        suffix = f"-job{job.display_id}"
        if job.step_id is not None:
            suffix += f".{job.step_id}"
            if job.task_id is not None:
                return f"{suffix}-task{job.task_id}"
    if mpi is not None and mpi.launcher is None and mpi.rank is not None:
        suffix += f"-rank{mpi.rank}"
    return suffix
