"""Whole-store reads and batched writes: what copying between stores (and the benchmarks) need.

A mixin of :class:`~paperlink.store.recordstore.RecordStore`. Reads return every row of a kind in one
query, so comparing two stores of 100,000 records takes a handful of queries, not one per record; writes
put many records, annotations, contents and streams in one transaction with ``executemany``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from paperlink.errors import UsageError
from paperlink.records import Record, canonical_json
from paperlink.store.backend import Writer
from paperlink.store.contents import StoredContents

_MUTABLE_FIELDS = ("tags", "reason", "publication")
_RECORD_COLUMNS = (
    "label, run_id, status, start_time, end_time, duration, command, exit_status, reason, host, pid, "
    "boot_id, proc_start, data, digest"
)


class BulkAccess(StoredContents):
    def add_records(self, records: Sequence[Record]) -> None:
        """Store complete records in one transaction, a row each (bulk imports; labels must be free).

        Raises :class:`UsageError` when a label or run_id is taken (nothing is written then)."""
        rows = [
            (r.label, r.run_id, r.outcome.status, r.start_time, r.end_time, r.duration_seconds,
             r.command, r.outcome.exit_status, r.reason, None, None, None, None, record_data(r),
             r.digest())
            for r in records
        ]  # fmt: skip
        try:
            with self.transaction() as db:
                db.executemany(
                    f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES ({','.join('?' * 15)})",  # noqa: S608
                    rows,
                )
                insert_tags(db, [(r.label, tag) for r in records for tag in r.tags])
        except self._backend.integrity_errors as exc:
            raise UsageError(
                f"cannot add {len(rows)} record(s) to {self.location}: a label or run is there already"
            ) from exc

    def all_tags(self) -> dict[str, list[str]]:
        """Every record's tags by label (records without tags are left out)."""
        tags: dict[str, list[str]] = {}
        for label, name in self._backend.read("SELECT label, tag FROM tags ORDER BY tag"):
            tags.setdefault(label, []).append(name)
        return tags

    def runs(self) -> dict[str, str]:
        """Every record's label by run_id, in one query (what copying between stores keys on)."""
        return dict(self._backend.read("SELECT run_id, label FROM records"))

    def all_annotations(self) -> dict[str, dict[str, str]]:
        """Every annotation as canonical JSON text, by label and name."""
        found: dict[str, dict[str, str]] = {}
        for label, name, data in self._backend.read("SELECT label, name, data FROM annotations"):
            found.setdefault(label, {})[name] = data
        return found

    def reasons(self) -> dict[str, str]:
        """Every record's reason by label (records without one are left out)."""
        return dict(
            self._backend.read("SELECT label, reason FROM records WHERE reason IS NOT NULL")
        )

    def add_contents(
        self,
        *,
        annotations: Sequence[tuple[str, str, Mapping[str, Any]]] = (),
        blobs: Mapping[str, bytes] | None = None,
        streams: Sequence[tuple[str, str, Mapping[str, bytes]]] = (),
        tags: Sequence[tuple[str, str]] = (),
        reasons: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write ``(label, name, data)`` annotations (replacing), blobs by sha256 (kept), ``(label,
        stream, parts)`` streams (replacing), ``(label, tag)`` tags and ``(label, reason)`` reasons in
        one transaction. The records must exist."""
        with self.transaction() as db:
            if annotations:
                db.executemany(
                    "INSERT INTO annotations (label, name, data) VALUES (?, ?, ?) ON CONFLICT "
                    "(label, name) DO UPDATE SET data=excluded.data, updated=excluded.updated",
                    [
                        (label, name, canonical_json(dict(data)))
                        for label, name, data in annotations
                    ],
                )
            if blobs:
                db.executemany(
                    "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(sha, len(data), zlib.compress(data, 6)) for sha, data in blobs.items()],
                )
            if streams:
                db.executemany(
                    "DELETE FROM streams WHERE label=? AND stream=?",
                    [(label, stream) for label, stream, _ in streams],
                )
                db.executemany(
                    "INSERT INTO streams (label, stream, part, data) VALUES (?, ?, ?, ?)",
                    [(label, stream, part, zlib.compress(data, 1))
                     for label, stream, parts in streams for part, data in parts.items()],
                )  # fmt: skip
            insert_tags(db, list(tags))
            if reasons:
                db.executemany(
                    "UPDATE records SET reason=? WHERE label=?",
                    [(r, label) for label, r in reasons],
                )


def insert_tags(db: Writer, rows: list[tuple[str, str]]) -> None:
    if rows:
        db.executemany("INSERT INTO tags (label, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", rows)


def record_data(record: Record) -> str:
    """The record's immutable part as stored: its canonical JSON without tags, reason and publication."""
    data = record.to_dict()
    for name in _MUTABLE_FIELDS:
        data.pop(name, None)
    return canonical_json(data)
