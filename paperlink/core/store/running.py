"""The runs of a store that are going on, or overlapped one: the running rows (through their own index),
their processes, and the ambiguity notes a run leaves on the records it overlapped. A mixin of
:class:`paperlink.core.store.recordstore.RecordStore`, in SQL both back ends read."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from typing import Any, NamedTuple

from paperlink.core.records import STATUS_RUNNING
from paperlink.core.store.backend import Writer
from paperlink.core.store.processes import (
    RunningProcess,
    effective_status,
)

# Room a run keeps in the write-ahead log from its start (see reserve_space): a finished record and its
# streams cut short fit in it even when the command fills the disk.
RESERVE_BYTES = 1 << 20
# Up to this many summaries, their tags are looked up by label (500 a query); beyond, all are read.
_FEW_ROWS = 5000
StoreLocation = str | os.PathLike[str]


class OverlapRow(NamedTuple):
    """What another run shows of itself to a run that overlapped it (:mod:`paperlink.recorder.overlap`)."""

    label: str
    stored_status: str  # as written: 'running' until it finishes
    status: str  # as it is: 'incomplete' when a running row's process is gone
    start_time: str
    project: str
    traced: bool
    declared: list[str]
    claimed: list[str]  # its outputs and ambiguous paths


class RunningRuns:
    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[Writer]:
        raise NotImplementedError

    def get_annotation(self, label: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def set_annotation(self, label: str, name: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def running_processes(self) -> list[RunningProcess]:
        """Where each record still marked running runs (host, pid, boot, process start)."""
        rows = self._read(
            "SELECT label, host, pid, boot_id, proc_start FROM records "
            "WHERE status='running'",  # a literal, matching the partial index records_running
        )
        return [RunningProcess(*row) for row in rows]

    def running_now(self) -> tuple[set[str], set[str]]:
        """Labels of the records marked running, and of those among them whose process is there."""
        processes = self.running_processes()
        alive = {
            p.label
            for p in processes
            if effective_status(STATUS_RUNNING, p.host, p.pid, p.boot_id, p.proc_start)
            == STATUS_RUNNING
        }
        return {p.label for p in processes}, alive

    def overlapping(self, since: str, labels: Iterable[str], exclude: str) -> list[OverlapRow]:
        """Records other than ``exclude`` that may have overlapped a run that began at ``since``: those
        that started or ended since, are among ``labels`` (those running when it started) or are still
        marked running. A run that began before this one may write its running row after this one
        looked: its end time still shows it. The few rows are read whole and parsed here, the same on
        both back ends."""
        wanted = sorted(set(labels) - {exclude})
        marks = ",".join("?" * len(wanted))
        rows = self._read(
            "SELECT label, status, start_time, host, pid, boot_id, proc_start, data "
            "FROM records WHERE label != ? AND (start_time >= ? OR status = 'running' "
            "OR end_time >= ?"
            + (f" OR label IN ({marks})" if wanted else "")  # only placeholders
            + ")",
            (exclude, since, since, *wanted),
        )
        found = []
        for label, status, start, host, pid, boot, proc_start, data in rows:
            item = _loads(data)
            trace = item.get("trace") or {}
            paths = [o.get("path") for o in [*item.get("outputs", []), *item.get("ambiguous", [])]]
            found.append(
                OverlapRow(
                    label=label,
                    stored_status=status,
                    status=effective_status(status, host, pid, boot, proc_start),
                    start_time=start,
                    project=str(item.get("project") or ""),
                    traced=bool(trace.get("tool")) and trace.get("error") is None,
                    declared=[str(p) for p in item.get("declared_outputs", [])],
                    claimed=[str(p) for p in paths if p],
                )
            )
        return found

    def mark_ambiguous(self, label: str, paths: Iterable[str], by: str) -> None:
        """Note on finished record ``label`` that run ``by`` may also have written ``paths``."""
        with self.transaction():
            current = self.get_annotation(label, "ambiguous") or {}
            outputs: dict[str, list[str]] = current.get("outputs", {})
            for path in paths:
                outputs[path] = sorted({*outputs.get(path, []), by})
            self.set_annotation(label, "ambiguous", {"outputs": outputs})


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
