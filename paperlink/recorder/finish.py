"""The finished record written in one transaction: the record, its streams (redacted), the attribution of
outputs that overlapping runs share, and the caches; retried with shorter streams when the disk is full.
A mixin of :class:`paperlink.recorder.run.RunCapture`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from paperlink.core.files import FileDigest
from paperlink.core.records import Ambiguity, Record, StreamInfo
from paperlink.errors import RunNotRecorded, StoreConflict, StoreFull
from paperlink.recorder.outputs import change_time
from paperlink.recorder.overlap import attribute, other_runs
from paperlink.recorder.runstate import RunState
from paperlink.recorder.streams import StreamKeeper

# When the store's file system fills up, a finished record keeps at most this much of each stream, then
# none: the record itself matters more than the command's output.
FULL_DISK_STREAM_BYTES = (64 << 10, 0)
# How often a finish that lost a deadlock to another run is tried again.
CONFLICT_RETRIES = 8


class RecordFinishing(RunState):
    """The storing side of a run's capture; :class:`RunCapture` provides the state it writes."""

    def _store_finished(
        self,
        record: Record,
        outputs: list[FileDigest],
        extra_outputs: Iterable[str | os.PathLike[str]],
        keepers: dict[str, StreamKeeper | None],
    ) -> None:
        """Finish the record with its streams in one transaction; when the store's disk is full, again
        with the streams cut short, then without them. Raises :class:`RunNotRecorded` when even that
        does not fit (the row stays, shown as incomplete)."""
        kept = {name: keeper for name, keeper in keepers.items() if keeper is not None}
        changed = {item.path: change_time(self._absolute(item.fs_path)) for item in outputs}
        own = [*record.declared_outputs, *(self.project.relative(p) for p in extra_outputs)]
        error = record.outcome.error
        full: StoreFull | None = None
        for budget in (None, *FULL_DISK_STREAM_BYTES) if kept else (None, 0):
            for name, keeper in kept.items():
                setattr(record.outcome, name, keeper.info(budget))
            if budget is not None and kept:
                note = "the record store's disk was full: " + (
                    f"stdout and stderr are kept only up to {budget} bytes each"
                    if budget
                    else "stdout and stderr were not kept"
                )
                record.outcome.error = f"{error}; {note}" if error else note
            try:
                self._finish_transaction(record, outputs, changed, own, kept, budget)
                return
            except StoreFull as exc:
                full = exc
        assert full is not None
        record.outcome.error = error
        raise RunNotRecorded(
            f"{full.message}: the record of run '{record.label}' could not be completed and shows as "
            f"incomplete; the command's exit status ({record.outcome.exit_status}) is passed through",
            exit_status=record.outcome.exit_status,
            hint=full.hint,
        ) from full

    def _finish_transaction(
        self,
        record: Record,
        outputs: list[FileDigest],
        changed: dict[str, int],
        own: list[str],
        kept: dict[str, StreamKeeper],
        budget: int | None,
    ) -> None:
        # One transaction: which outputs are this run's is decided with every other run's record as it
        # is now, and written before another run can decide from this one's. The caches only save work:
        # after a full disk they are left out. Runs finishing at once on a shared PostgreSQL store mark
        # each other's records ambiguous and can deadlock: the loser's transaction is rolled back whole,
        # so it is decided and written again (the attribution is recomputed from the store each time). The
        # writers' lock makes that rare: finishes on one store take their turn.
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                with self.store.transaction() as db:
                    self.store.hold_writers(db)
                    self._attribute(record, outputs, changed, own)
                    self.store.finish_record(
                        record, streams=self._redacted_streams(record, kept, budget)
                    )
                    if budget is None:
                        if self._probe is not None:
                            self._probe.remember()
                        for key, value in self._cache_rows:
                            self.store.cache_put(key, value)
                        self.cache.flush()
                return
            except StoreConflict:
                if attempt == CONFLICT_RETRIES:
                    raise
                import random

                time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))

    def _attribute(
        self,
        record: Record,
        outputs: list[FileDigest],
        changed: dict[str, int],
        own: list[str],
    ) -> None:
        """Decide which changed files are this run's alone, against the runs that overlapped it."""
        # Also the runs that ended since this one began (no margin: a run that ended just before this one
        # began, writing the same figure, did not overlap it).
        rows = self.store.overlapping(record.start_time, self._running_at_start, record.label)
        others = other_runs(rows, record.project, self._running_at_start, self._rows_at_start)
        share = attribute(changed, own_declared=own, traced=self.tracer is not None, others=others)
        record.outputs = sorted(
            (item for item in outputs if item.path not in share.dropped),
            key=lambda item: item.path,
        )
        record.ambiguous = [Ambiguity(path, runs) for path, runs in share.ambiguous.items()]
        for label, shared in share.notify.items():
            self.store.mark_ambiguous(label, shared, by=record.label)

    def _redacted_streams(
        self, record: Record, kept: dict[str, StreamKeeper], budget: int | None
    ) -> dict[str, dict[str, bytes]]:
        """Each stream's head and tail, redacted; its size and sha256 stay those of what ran."""
        streams = {}
        for name, keeper in kept.items():
            info: StreamInfo = getattr(record.outcome, name)
            parts = self.redactor.stream_parts(keeper.parts(budget), truncated=info.truncated)
            info.stored_bytes = sum(len(part) for part in parts.values())
            streams[name] = parts
        return streams
