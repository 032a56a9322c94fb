"""Where a run ran, as its record keeps it: the container or SIF image (with its identity), the Slurm job
and the MPI launch."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from paperlink.core.files import FileDigest
from paperlink.core.model import model


@model
class SifObjectRef:
    """One data object of a SIF image as a record keeps it: its descriptor and the sha256 of its bytes."""

    id: int
    group: int
    type: str  # partition | signature | deffile | labels | generic-json | …
    size: int
    sha256: str
    name: str = ""
    offset: int = 0  # where its bytes start in the file
    partition_fs: str | None = None  # squashfs | ext3 | …
    partition_type: str | None = None  # primary-system | data | overlay | …
    partition_arch: str | None = None
    signature_hash: str | None = None
    signature_entity: str | None = None  # the signer's key fingerprint, hex


@model
class SifImageRef:
    """An Apptainer/Singularity image (SIF) a run used, by its exact bytes (``sha256``) and its header."""

    path: str  # as the run named it (APPTAINER_CONTAINER, the apptainer command line, --sif)
    size: int
    sha256: str
    id: str  # the SIF header's UUID
    version: str
    arch: str
    created: str | None = None
    modified: str | None = None
    signed: bool = False
    deffile_sha256: str | None = (
        None  # the definition file itself is in ``paperlink image inspect``
    )
    labels: dict[str, Any] = field(default_factory=dict)
    objects: list[SifObjectRef] = field(default_factory=list)

    @property
    def sha256_ref(self) -> str:
        return f"sha256:{self.sha256}"


@model
class ContainerRef:
    """The image a run used, by identity (filled by the containers feature)."""

    engine: str | None = None  # docker | podman | apptainer
    engine_version: str | None = None
    api_version: str | None = None
    reference: str | None = None  # as the user typed it
    pinned_reference: str | None = None  # what actually ran: name@sha256:… or the image ID
    image_id: str | None = None  # sha256 of the image config
    repo_digests: list[str] = field(default_factory=list)
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    created: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    dockerfile_sha256: str | None = None
    context_sha256: str | None = None
    archive: FileDigest | None = None
    inside_container: bool = False  # paperlink itself ran inside this container
    # How the run's container was set up (None for a container paperlink itself ran inside).
    network: str | None = None  # None: networking off
    memory_limit: str | None = None
    timeout_seconds: float | None = None
    user: str | None = None  # uid:gid the command ran as
    sif: SifImageRef | None = None  # the SIF image, for Apptainer/Singularity runs


@model
class SlurmJob:
    """The Slurm job (and step and task) a run was made in, from ``scontrol show job`` or, where that
    failed, the job's ``SLURM_*`` variables (``source`` says which)."""

    job_id: str  # this job's own id; an array task has one of its own besides the array's
    array_job_id: str | None = None
    array_task_id: int | None = None
    step_id: str | None = None  # inside ``srun``: the step, and the task's rank in it
    task_id: int | None = None  # SLURM_PROCID
    step_tasks: int | None = None
    job_name: str | None = None
    partition: str | None = None
    account: str | None = None
    cluster: str | None = None
    user: str | None = None
    node: str | None = None  # the node this task ran on
    node_list: str | None = None  # Slurm's host list expression, e.g. node[01-04]
    num_nodes: int | None = None
    ntasks: int | None = None
    cpus_per_task: int | None = None
    memory_per_cpu_mib: int | None = None
    memory_per_node_mib: int | None = None
    submit_host: str | None = None
    submit_dir: str | None = None
    work_dir: str | None = None
    command: str | None = None  # the batch script's path or the srun command, as Slurm shows it
    batch_script_sha256: str | None = None  # what ``scontrol write batch_script`` returns
    submit_time: str | None = None
    time_limit: str | None = None
    source: str = "environment"  # scontrol | environment

    @property
    def display_id(self) -> str:
        """Slurm's own name for the job: ``ARRAY_TASK`` (e.g. ``1234_7``) for an array task, else the id."""
        if self.array_job_id is not None and self.array_task_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return self.job_id

    @property
    def memory_per_task_mib(self) -> int | None:
        if self.memory_per_cpu_mib is None:
            return None
        return self.memory_per_cpu_mib * (self.cpus_per_task or 1)


@model
class MpiRun:
    """An MPI launch the run made (``mpirun -n 4 …``), or the rank paperlink itself ran as."""

    launcher: str | None = None  # mpirun | mpiexec | srun …; None when paperlink ran inside a rank
    launcher_path: str | None = None
    implementation: str | None = None  # Open MPI | MPICH | Intel MPI | MVAPICH2
    version: str | None = None
    version_text: str | None = None  # the first line of the launcher's --version
    ranks: int | None = None  # -n/-np as given (None: the launcher's default)
    hosts: list[str] = field(default_factory=list)
    hosts_from: str | None = None  # --host | hostfile | slurm | local
    hostfile: str | None = None
    rank: int | None = None  # inside a rank: this process's rank in MPI_COMM_WORLD
    local_rank: int | None = None
    world_size: int | None = None
