"""Runs of one project that overlap in time, and the outputs none of them can claim alone.

Without tracing, a run's outputs are the files that changed while it ran; when another run of the project
ran at the same time, a changed file may be that run's. Such a file is *ambiguous* for both unless exactly
one of them declared it (``--output``): paperlink never silently gives it to either. A traced run knows what
it wrote, so a file only it wrote is its own; a traced run still running settles its share when it finishes.

The run that finishes later sees the earlier one's record; it decides inside the transaction that writes
its own record (so two runs finishing at once cannot both miss each other) and marks the earlier record
too, through an annotation: records are append-only, what is learnt later is attached to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from paperlink.core.filestate import DOUBT_WINDOW_NS
from paperlink.core.records import STATUS_RUNNING, time_ns
from paperlink.core.store import OverlapRow


class OtherRun(NamedTuple):
    """Another run of the project that overlapped this one, as the store shows it now."""

    label: str
    start_ns: int
    running: bool  # its row is still running (its process may have died)
    alive: bool  # running, and its paperlink process is there
    traced: bool
    claimed: frozenset[str] = frozenset()  # once finished: its outputs and ambiguous paths
    declared: tuple[str, ...] = ()  # its --output paths (files or folders)


class Attribution:
    """Which candidates a run keeps, which are ambiguous, and what the earlier runs must be told.

    (Plain classes here: a dataclass costs a millisecond of every run's start-up to define.)
    """

    def __init__(self) -> None:
        self.keep: list[str] = []  # candidates that stay outputs of this run
        self.ambiguous: dict[str, list[str]] = {}  # path -> labels of the other runs
        self.dropped: dict[str, str] = {}  # path -> the run that declared it
        self.notify: dict[str, list[str]] = {}  # finished label -> its paths to mark


def declares(declared: Iterable[str], path: str) -> bool:
    """Whether ``path`` is one of ``declared`` or inside a declared folder."""
    return any(path == item or path.startswith(item.rstrip("/") + "/") for item in declared)


def attribute(
    candidates: Mapping[str, int],
    *,
    own_declared: Iterable[str],
    traced: bool,
    others: Iterable[OtherRun],
    margin_ns: int = DOUBT_WINDOW_NS,
) -> Attribution:
    """Decide which of this run's candidate outputs it may claim.

    ``candidates`` maps each path to the time of its last change (``st_ctime_ns``, which no program can
    set back; 0 when unknown). ``traced``: this run's candidates are files it wrote itself. ``margin_ns``
    allows for file systems whose clock runs coarse or apart from this machine's.
    """
    own = list(own_declared)
    runs = list(others)
    result = Attribution()
    for path, changed_ns in sorted(candidates.items()):
        mine = declares(own, path)
        contenders: list[OtherRun] = []
        declared_elsewhere = None
        for other in runs:
            if declares(other.declared, path):
                declared_elsewhere = declared_elsewhere or other.label
                contenders.append(other)
            elif not other.running:
                if path in other.claimed:
                    contenders.append(other)
            elif (not other.traced or not other.alive) and (
                changed_ns == 0 or changed_ns >= other.start_ns - margin_ns
            ):
                # An untraced run never learns more and a dead one never finishes: decide now, by time.
                contenders.append(other)
            # A traced run still running settles this when it finishes, with this record in the store.
        if not contenders or (mine and declared_elsewhere is None):
            result.keep.append(path)
            continue
        if declared_elsewhere is not None and not mine and not traced:
            result.dropped[path] = declared_elsewhere
            continue
        result.keep.append(path)
        result.ambiguous[path] = sorted({other.label for other in contenders})
        for other in contenders:
            if not other.running:
                result.notify.setdefault(other.label, []).append(path)
    return result


def other_runs(
    rows: Iterable[OverlapRow],
    project: str,
    running_at_start: set[str],
    rows_at_start: set[str],
) -> list[OtherRun]:
    """The runs of ``project`` among ``rows`` that overlapped this one. ``running_at_start``: the rows
    running, their process there, when it started; ``rows_at_start``: every row then marked running. A
    row running but dead counts unless it was dead already then: one that was not marked running then
    wrote its row since (its start time may still be earlier: its start-up was slower)."""
    found = []
    for row in rows:
        if row.project != project:
            continue
        running = row.stored_status == STATUS_RUNNING
        alive = running and row.status == STATUS_RUNNING
        dead_before = row.label in rows_at_start and row.label not in running_at_start
        if running and not alive and dead_before:
            continue  # died before this run started: it wrote nothing meanwhile
        found.append(
            OtherRun(
                label=row.label,
                start_ns=time_ns(row.start_time),
                running=running,
                alive=alive,
                traced=row.traced,
                claimed=frozenset(row.claimed),
                declared=tuple(row.declared),
            )
        )
    return found
