"""``paperlink list --job``: which records belong to a Slurm job, an array task or a step, as an SQL condition.

It lives with the store, which runs the query; the recorder (:mod:`paperlink.recorder.slurm`) writes the
``job`` field it reads.
"""

from __future__ import annotations

from typing import Any

from paperlink.core.patterns import LazyPattern
from paperlink.errors import UsageError

_JOB_REF = LazyPattern(r"^(?P<job>\d+(?:\+\d+)?)(?:_(?P<task>\d+))?(?:\.(?P<step>\w+))?$")


def job_filter(job: str) -> tuple[str, list[Any]]:
    """An SQL condition on a record's JSON (``data``) and its parameters for ``paperlink list --job``.

    ``ID`` names the job whose id or array id is ID (an array's id: all its tasks), ``ID_TASK`` one task
    of array ID, ``ID.STEP`` (or ``ID_TASK.STEP``) one step. Raises :class:`UsageError` for other text.
    """
    found = _JOB_REF.re.match(job.strip())
    if not found:
        raise UsageError(
            f"--job {job!r} is not a Slurm job id",
            hint="give a job id (1234), an array task (1234_7) or a step (1234.0), as squeue shows them",
        )
    ident, task, step = found.group("job"), found.group("task"), found.group("step")
    if task is not None:
        condition = (
            "(json_extract(data, '$.job.array_job_id') = ? "
            "AND json_extract(data, '$.job.array_task_id') = ?)"
        )
        values: list[Any] = [ident, int(task)]
    else:
        condition = "(json_extract(data, '$.job.job_id') = ? OR json_extract(data, '$.job.array_job_id') = ?)"
        values = [ident, ident]
    if step is not None:
        condition += " AND json_extract(data, '$.job.step_id') = ?"
        values.append(step)
    return condition, values
