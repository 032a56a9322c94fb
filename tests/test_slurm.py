"""Records made inside Slurm jobs, on a real one-node cluster (``tests/slurmcluster.py``): ``sbatch --array``
and ``srun`` give one record per task with the job in it, ``paperlink list --job`` finds exactly them; and
``scontrol show job`` output parsed as the Slurm Debian ships writes it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from helpers import REPO_ROOT, run_cli
from slurmcluster import SlurmCluster

from paperlink.core.jobfilter import job_filter
from paperlink.core.records import Record
from paperlink.core.runcontext import MpiRun, SlurmJob
from paperlink.errors import UsageError
from paperlink.recorder.slurm import (
    capture_job,
    expand_hostlist,
    job_from_environment,
    job_label_suffix,
    memory_mib,
    parse_show_job,
)

SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())

# `scontrol show job -o 2` of an array task, as slurm-wlm 22.05.8 prints it (one line, cut for width).
SHOW_JOB = (
    "JobId=2 ArrayJobId=1 ArrayTaskId=1 JobName=figure sweep UserId=root(0) GroupId=root(0) "
    "MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) JobState=RUNNING "
    "Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 "
    "RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-12-01T21:47:13 "
    "Partition=debug AllocNode:Sid=login1:25386 ReqNodeList=(null) ExcNodeList=(null) "
    "NodeList=node[01-02] BatchHost=node01 NumNodes=2 NumCPUs=4 NumTasks=2 CPUs/Task=2 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=4,node=2,billing=4 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* "
    "CoreSpec=* MinCPUsNode=2 MinMemoryCPU=1500M MinTmpDiskNode=0 Features=(null) "
    "Command=/home/ada/job.sh WorkDir=/home/ada/study StdErr=/home/ada/out.1 StdIn=/dev/null "
    "StdOut=/home/ada/out.1 Power= "
)


def test_show_job_fields_are_parsed_with_spaces_and_slashes_in_them() -> None:
    fields = parse_show_job(SHOW_JOB, "2")
    assert fields["JobName"] == "figure sweep"
    assert fields["CPUs/Task"] == "2"
    assert fields["AllocNode:Sid"] == "login1:25386"
    assert fields["TRES"] == "cpu=4,node=2,billing=4"
    assert "Account" not in fields and "Power" not in fields  # (null) and empty


def test_show_job_picks_the_asked_job_among_several_lines() -> None:
    text = SHOW_JOB.replace("JobId=2", "JobId=9") + "\n" + SHOW_JOB + "\n"
    assert parse_show_job(text, "2")["JobId"] == "2"


def test_environment_alone_describes_the_job_when_scontrol_is_missing() -> None:
    environ = {
        "PATH": "/nonexistent",
        "SLURM_JOB_ID": "42",
        "SLURM_ARRAY_JOB_ID": "40",
        "SLURM_ARRAY_TASK_ID": "2",
        "SLURM_JOB_NAME": "sweep",
        "SLURM_JOB_PARTITION": "gpu",
        "SLURM_JOB_ACCOUNT": "lab",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURM_NTASKS": "8",
        "SLURM_CPUS_PER_TASK": "4",
        "SLURM_MEM_PER_CPU": "2048",
        "SLURM_SUBMIT_HOST": "login1",
        "SLURM_SUBMIT_DIR": "/home/ada",
        "SLURM_PROCID": "0",  # set in a batch step too, where it names no task
    }
    job = capture_job(environ)
    assert job == SlurmJob(
        job_id="42",
        array_job_id="40",
        array_task_id=2,
        job_name="sweep",
        partition="gpu",
        account="lab",
        node_list="node[1-2]",
        ntasks=8,
        cpus_per_task=4,
        memory_per_cpu_mib=2048,
        submit_host="login1",
        submit_dir="/home/ada",
        source="environment",
    )
    assert job.memory_per_task_mib == 8192
    assert job_from_environment({"PATH": "/bin"}) is None


@pytest.mark.parametrize(
    ("text", "mib"), [("500M", 500), ("2G", 2048), ("1T", 1024**2), ("0", None), ("x", None)]
)
def test_memory_amounts(text: str, mib: int | None) -> None:
    assert memory_mib(text) == mib


def test_host_lists_expand_as_slurm_writes_them() -> None:
    assert expand_hostlist("node[01-03,07],gpu1") == [
        "node01",
        "node02",
        "node03",
        "node07",
        "gpu1",
    ]


@pytest.mark.parametrize(
    ("job", "mpi", "suffix"),
    [
        (SlurmJob(job_id="7"), None, "-job7"),
        (SlurmJob(job_id="8", array_job_id="7", array_task_id=1), None, "-job7_1"),
        (SlurmJob(job_id="9", step_id="0", task_id=3), None, "-job9.0-task3"),
        (SlurmJob(job_id="9"), MpiRun(rank=2), "-job9-rank2"),
        (None, MpiRun(rank=5), "-rank5"),
        (None, MpiRun(launcher="mpirun", ranks=4), ""),
        (None, None, ""),
    ],
)
def test_default_labels_inside_a_job_name_the_task(
    job: SlurmJob | None, mpi: MpiRun | None, suffix: str
) -> None:
    assert job_label_suffix(job, mpi) == suffix


@pytest.mark.parametrize("bad", ["", "abc", "1_x", "1 2", "1_2_3"])
def test_job_filter_refuses_what_is_not_a_job_id(bad: str) -> None:
    with pytest.raises(UsageError):
        job_filter(bad)


def test_list_job_with_a_bad_id_says_so(project_dir: Path) -> None:
    result = run_cli("list", "--job", "x1", ok=False)
    assert result.exit_code == UsageError.exit_code
    assert "is not a Slurm job id" in result.output
    assert "Traceback" not in result.output


# -- on the cluster -------------------------------------------------------------------------------
BATCH_SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=figure-sweep
#SBATCH --mem-per-cpu=100M
#SBATCH --cpus-per-task=1
cd "$SLURM_SUBMIT_DIR"
exec {python} -m paperlink run -- python3 make_figure.py fig$SLURM_ARRAY_TASK_ID
"""


def submit_array(cluster: SlurmCluster, root: Path, tasks: str) -> str:
    script = root / "job.sh"
    script.write_text(BATCH_SCRIPT.format(python=sys.executable))
    return cluster.submit(f"--array={tasks}", "--output=slurm-%A_%a.out", str(script), cwd=root)


def _job_outputs(root: Path) -> str:
    return "".join(p.read_text() for p in sorted(root.glob("slurm-*.out")))


def listed(*args: str) -> list[dict[str, object]]:
    items = json.loads(run_cli("list", "--format", "json", *args).output)
    assert isinstance(items, list)
    return items


def record(label: str) -> Record:
    return Record.from_json(run_cli("show", "--json", label).output)


def test_sbatch_array_gives_one_record_per_task(
    slurm_cluster: SlurmCluster, project_dir: Path
) -> None:
    array = submit_array(slurm_cluster, project_dir, "1-4")
    items = listed("--job", array)
    assert len(items) == 4, _job_outputs(project_dir)
    records = [record(str(item["label"])) for item in items]
    # The batch script's digest, by sha256sum: what Slurm ran is the file that was submitted.
    digest = subprocess.run(
        ["sha256sum", "job.sh"], cwd=project_dir, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    tasks = set()
    for rec in records:
        job = rec.job
        assert job is not None and job.source == "scontrol"
        assert job.array_job_id == array
        assert job.array_task_id is not None
        tasks.add(job.array_task_id)
        assert rec.label.endswith(f"-job{array}_{job.array_task_id}"), rec.label
        assert job.batch_script_sha256 == digest
        assert job.job_name == "figure-sweep"
        assert job.partition == "debug"
        assert job.cluster == "paperlinktest"
        assert job.memory_per_cpu_mib == 100 and job.cpus_per_task == 1
        assert job.submit_dir == str(project_dir)
        assert job.node_list == slurm_cluster.host
        assert rec.outcome.status == "finished"
        assert f"figures/fig{job.array_task_id}.svg" in {o.path for o in rec.outputs}
        jsonschema.validate(json.loads(rec.to_json()), SCHEMA)
    assert tasks == {1, 2, 3, 4}
    assert len({rec.label for rec in records}) == 4
    assert len({rec.job.job_id for rec in records if rec.job}) == 4  # each task is a job of its own
    # One task by Slurm's name for it, ARRAY_TASK; and show prints the job.
    (one,) = listed("--job", f"{array}_3")
    assert str(one["label"]).endswith(f"_{3}")
    text = run_cli("show", str(one["label"])).output
    assert f"Slurm job {array}_3 (figure-sweep)" in text
    assert f"sha256:{digest}" in text


def test_srun_gives_one_record_per_task_and_list_job_finds_exactly_them(
    slurm_cluster: SlurmCluster, project_dir: Path
) -> None:
    run_cli("run", "-q", "--", sys.executable, "make_figure.py", "outside")
    paperlink = [sys.executable, "-m", "paperlink", "run", "--"]
    two = slurm_cluster.run(
        "srun", "-n", "2", "--job-name=two", *paperlink, "python3", "make_figure.py", "s",
        cwd=project_dir,
    )  # fmt: skip
    assert two.returncode == 0, two.stdout + two.stderr
    other = slurm_cluster.run("srun", "-n", "1", *paperlink, "true", cwd=project_dir)
    assert other.returncode == 0, other.stdout + other.stderr
    everything = listed()
    assert len(everything) == 4
    jobs = {str(item["label"]): record(str(item["label"])).job for item in everything}
    two_labels = {label for label, job in jobs.items() if job and job.job_name == "two"}
    assert len(two_labels) == 2
    job_id = next(job.job_id for job in jobs.values() if job and job.job_name == "two")
    assert {str(item["label"]) for item in listed("--job", job_id)} == two_labels
    assert {str(item["label"]) for item in listed("--job", f"{job_id}.0")} == two_labels
    table = run_cli("list", "--job", job_id).output
    assert all(label in table for label in two_labels)
    assert len(table.strip().splitlines()) == 3  # header + the two tasks
    tasks = set()
    for label in two_labels:
        job = jobs[label]
        assert job is not None
        assert job.step_id == "0" and job.step_tasks == 2 and job.ntasks == 2
        assert job.batch_script_sha256 is None  # srun alone: no batch script
        assert job.task_id is not None
        tasks.add(job.task_id)
        assert label.endswith(f"-job{job_id}.0-task{job.task_id}"), label
    assert tasks == {0, 1}


def test_without_scontrol_the_job_comes_from_the_environment(
    slurm_cluster: SlurmCluster, project_dir: Path, tmp_path: Path
) -> None:
    # Inside the job, a PATH that has python3 and true but no scontrol.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python3", "true"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    done = slurm_cluster.run(
        "srun", "-n", "1", "--job-name=fallback", "env", f"PATH={bin_dir}",
        sys.executable, "-m", "paperlink", "run", "--", "true",
        cwd=project_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (item,) = listed()
    job = record(str(item["label"])).job
    assert job is not None
    assert job.source == "environment"
    assert job.job_name == "fallback" and job.partition == "debug"
    assert job.step_id == "0" and job.task_id == 0
    assert job.batch_script_sha256 is None


def test_a_scontrol_that_hangs_is_given_up_on(tmp_path: Path) -> None:
    # What a broken slurm.conf does: scontrol retries for 60 s. The capture waits `timeout`, no longer.
    fake = tmp_path / "scontrol"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    environ = {"PATH": str(tmp_path), "SLURM_JOB_ID": "5", "SLURM_JOB_NAME": "slow"}
    start = time.monotonic()
    job = capture_job(environ, timeout=0.5)
    assert time.monotonic() - start < 5
    assert job is not None and job.source == "environment" and job.job_name == "slow"


@pytest.mark.slow
def test_a_32_task_array_into_one_sqlite_store_loses_nothing(
    slurm_cluster: SlurmCluster, project_dir: Path
) -> None:
    array = submit_array(slurm_cluster, project_dir, "1-32")
    items = listed("--job", array)
    logs = _job_outputs(project_dir)
    assert len(items) == 32, logs
    assert {item["status"] for item in items} == {"finished"}
    assert len({item["label"] for item in items}) == 32
    assert "locked" not in logs and "Error" not in logs


def test_viewer_and_show_present_the_job_and_the_mpi_launch(project_dir: Path, serve) -> None:
    from fixtures_browser import add_built_record

    from paperlink.core.config import find_project
    from paperlink.core.store import RecordStore

    built = add_built_record(project_dir, "placeholder")
    built.label, built.run_id = "sweep-7", "5b1e0c9e-0000-4000-8000-00000000000a"
    built.job = SlurmJob(
        job_id="1042", array_job_id="1035", array_task_id=7, job_name="sweep <7>",
        partition="gpu", account="lab-a", node_list="node[01-02]", num_nodes=2, ntasks=8,
        cpus_per_task=4, memory_per_cpu_mib=1500, submit_host="login1",
        submit_dir="/home/ada/study", command="/home/ada/study/job.sh",
        batch_script_sha256="ab" * 32, source="scontrol",
    )  # fmt: skip
    built.mpi = MpiRun(
        launcher="mpirun", launcher_path="/usr/bin/mpirun", implementation="Open MPI",
        version="4.1.4", version_text="mpirun (Open MPI) 4.1.4", ranks=8,
        hosts=["node01", "node02"], hosts_from="slurm",
    )  # fmt: skip
    with RecordStore(find_project(project_dir).store_path) as store:
        store.add_record(built)
    html = serve(project_dir).text("/records/sweep-7")
    assert "Slurm job <code>1035_7</code> <small>(sweep &lt;7&gt;)</small>" in html
    assert "sha256:" + "ab" * 32 in html
    assert "6000 MiB per task (1500 MiB per CPU)" in html
    assert "Open MPI 4.1.4" in html and "<code>node01</code>, <code>node02</code>" in html
    text = run_cli("show", "sweep-7").output
    assert "Slurm job 1035_7 (sweep <7>)" in text
    assert "partition   gpu   account lab-a" in text
    assert "memory 6000 MiB per task (1500 MiB per CPU)" in text
    assert "MPI (Open MPI 4.1.4)" in text and "hosts       node01, node02  (from slurm)" in text
    assert [i["label"] for i in listed("--job", "1035")] == ["sweep-7"]
    assert [i["label"] for i in listed("--job", "1042")] == ["sweep-7"]
    assert listed("--job", "1035_8") == []
    jsonschema.validate(json.loads(record("sweep-7").to_json()), SCHEMA)


def test_a_record_outside_a_cluster_serialises_as_before() -> None:
    """No ``job`` or ``mpi`` keys when there is none: old records keep their canonical JSON and digest."""
    raw = json.loads((REPO_ROOT / "tests/data/record-v1.json").read_text())
    again = json.loads(Record.from_dict(raw).to_json())
    assert "job" not in again and "mpi" not in again
    inside = Record.from_dict(raw)
    inside.job = SlurmJob(job_id="3")
    data = json.loads(inside.to_json())
    assert data["job"]["job_id"] == "3" and "mpi" not in data
    jsonschema.validate(data, SCHEMA)
