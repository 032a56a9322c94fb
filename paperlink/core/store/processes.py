"""Which process runs a record: recorded when the run starts, to tell a live run from one that was killed.

A row still marked ``running`` whose paperlink process is gone (the same host, and a pid that is dead, or
reused since, or a machine rebooted since) is shown as ``incomplete``: ``kill -9`` leaves no other trace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from paperlink.core.records import STATUS_INCOMPLETE, STATUS_RUNNING


class RunningProcess(NamedTuple):
    """The process that runs a record, as ``start_record`` saw it."""

    label: str
    host: str | None
    pid: int | None
    boot_id: str | None
    proc_start: int | None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, to tell a live run from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so split after its closing parenthesis.
    return int(stat.rsplit(")", 1)[1].split()[19])


def current_process_identity() -> tuple[str, int, str, int | None]:
    pid = os.getpid()
    return os.uname().nodename, pid, _boot_id(), _process_start(pid)


def effective_status(
    status: str, host: str | None, pid: int | None, boot: str | None, proc_start: int | None
) -> str:
    """A running row whose paperlink process is gone (on this machine) is an incomplete run."""
    if status != STATUS_RUNNING or pid is None or host != os.uname().nodename:
        return status
    if boot and boot != _boot_id():
        return STATUS_INCOMPLETE
    started = _process_start(pid)
    if started is None or (proc_start is not None and started != proc_start):
        return STATUS_INCOMPLETE
    return status
