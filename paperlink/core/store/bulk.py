"""Whole-store reads and batched writes: what copying between stores (and the benchmarks) need.

A mixin of :class:`~paperlink.core.store.recordstore.RecordStore`. Reads return every row of a kind in one
query, so comparing two stores of 100,000 records takes a handful of queries, not one per record; writes
put many records, annotations, contents and streams in one transaction with ``executemany``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from paperlink.core.records import Record
from paperlink.core.serialize import canonical_json
from paperlink.core.store.backend import Writer
from paperlink.core.store.contents import StoredContents
from paperlink.errors import UsageError

_MUTABLE_FIELDS = ("tags", "reason", "publication")
RECORD_COLUMNS = (
    "label, run_id, status, start_time, end_time, duration, command, exit_status, reason, host, pid, "
    "boot_id, proc_start, data, digest"
)


RecordRow = tuple[Any, ...]


class BulkAccess(StoredContents):
    def add_records(self, records: Sequence[Record]) -> None:
        """Store complete records in one transaction, a row each (bulk imports; labels must be free).

        Raises :class:`UsageError` when a label or run_id is taken (nothing is written then)."""
        self.add_record_rows(
            [record_row(r) for r in records], [(r.label, tag) for r in records for tag in r.tags]
        )

    def add_record_rows(
        self, rows: Sequence[RecordRow], tags: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Store rows of the records table as they are (:meth:`record_rows` of another store, or
        :func:`record_row`) with their ``(label, tag)`` tags, in one transaction. Raises
        :class:`UsageError` when a label or run_id is taken (nothing is written then)."""
        try:
            with self.transaction() as db:
                db.executemany(
                    f"INSERT INTO records ({RECORD_COLUMNS}) VALUES ({','.join('?' * 15)})",  # noqa: S608
                    rows,
                )
                insert_tags(db, list(tags))
        except self._backend.integrity_errors as exc:
            raise UsageError(
                f"cannot add {len(rows)} record(s) to {self.location}: a label or run is there already"
            ) from exc

    def record_rows(self, labels: Sequence[str]) -> list[RecordRow]:
        """The records table's rows of ``labels`` as stored (the JSON text untouched)."""
        return [
            tuple(row)
            for row in self._in_chunks(
                f"SELECT {RECORD_COLUMNS} FROM records WHERE label IN ({{}})",  # noqa: S608
                labels,
            )
        ]

    def stream_rows(self, labels: Sequence[str]) -> list[tuple[str, str, str, bytes]]:
        """``(label, stream, part, compressed bytes)`` of ``labels``, as stored."""
        return [
            (row[0], row[1], row[2], bytes(row[3]))
            for row in self._in_chunks(
                "SELECT label, stream, part, data FROM streams WHERE label IN ({})", labels
            )
        ]

    def environment_rows(self, digests: Iterable[str]) -> list[tuple[str, int, bytes]]:
        """``(digest, size, compressed canonical JSON)`` of the environments ``digests`` names that the
        store holds, as stored."""
        return [
            (row[0], int(row[1]), bytes(row[2]))
            for row in self._in_chunks(
                "SELECT digest, size, data FROM environments WHERE digest IN ({})", sorted(digests)
            )
        ]

    def all_tags(self) -> dict[str, list[str]]:
        """Every record's tags by label (records without tags are left out)."""
        tags: dict[str, list[str]] = {}
        for label, name in self._backend.read("SELECT label, tag FROM tags ORDER BY tag"):
            tags.setdefault(label, []).append(name)
        return tags

    def runs(self) -> dict[str, str]:
        """Every record's label by run_id, in one query (what copying between stores keys on)."""
        return dict(self._backend.read("SELECT run_id, label FROM records"))

    def run_ids(self) -> set[str]:
        """Every record's run_id, in one query (read from the run_id index, not the records)."""
        return {row[0] for row in self._backend.read("SELECT run_id FROM records")}

    def labels_of_runs(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The labels of those of ``run_ids`` the store holds, by run_id."""
        return dict(
            self._in_chunks("SELECT run_id, label FROM records WHERE run_id IN ({})", run_ids)
        )

    def runs_of_labels(self, labels: Iterable[str]) -> dict[str, str]:
        """The run_ids of those of ``labels`` the store holds, by label."""
        return dict(
            self._in_chunks("SELECT label, run_id FROM records WHERE label IN ({})", labels)
        )

    def tag_pairs(self) -> set[tuple[str, str]]:
        """Every ``(label, tag)``, in one query."""
        return {(label, tag) for label, tag in self._backend.read("SELECT label, tag FROM tags")}

    def annotation_texts(self) -> dict[tuple[str, str], str]:
        """Every annotation as canonical JSON text, by ``(label, name)``."""
        rows = self._backend.read("SELECT label, name, data FROM annotations")
        return {(label, name): data for label, name, data in rows}

    def reasons(self) -> dict[str, str]:
        """Every record's reason by label (records without one are left out)."""
        return dict(
            self._backend.read("SELECT label, reason FROM records WHERE reason IS NOT NULL")
        )

    def add_contents(
        self,
        *,
        annotations: Sequence[tuple[str, str, Mapping[str, Any] | str]] = (),
        blobs: Mapping[str, bytes] | None = None,
        streams: Sequence[tuple[str, str, Mapping[str, bytes]]] = (),
        stream_rows: Sequence[tuple[str, str, str, bytes]] = (),
        environment_rows: Sequence[tuple[str, int, bytes]] = (),
        tags: Sequence[tuple[str, str]] = (),
        reasons: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write ``(label, name, data)`` annotations (replacing; data as JSON text or a mapping), blobs by
        sha256 (kept), ``(label, stream, parts)`` streams (replacing), :meth:`stream_rows` of another
        store (new), :meth:`environment_rows` of another store (kept), ``(label, tag)`` tags and
        ``(label, reason)`` reasons in one transaction. The records must exist."""
        with self.transaction() as db:
            if annotations:
                db.executemany(
                    "INSERT INTO annotations (label, name, data) VALUES (?, ?, ?) ON CONFLICT "
                    "(label, name) DO UPDATE SET data=excluded.data, updated=excluded.updated",
                    [
                        (label, name, data if isinstance(data, str) else canonical_json(dict(data)))
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
            if stream_rows:
                db.executemany(
                    "INSERT INTO streams (label, stream, part, data) VALUES (?, ?, ?, ?)",
                    stream_rows,
                )
            if environment_rows:
                db.executemany(
                    "INSERT INTO environments (digest, size, data) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    environment_rows,
                )
            insert_tags(db, list(tags))
            if reasons:
                db.executemany(
                    "UPDATE records SET reason=? WHERE label=?",
                    [(r, label) for label, r in reasons],
                )


def insert_tags(db: Writer, rows: list[tuple[str, str]]) -> None:
    if rows:
        db.executemany("INSERT INTO tags (label, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", rows)


def record_row(record: Record) -> RecordRow:
    """The records table's row of a complete record (its digest is that of the stored JSON)."""
    data = record_data(record)
    digest = "sha256:" + hashlib.sha256(data.encode()).hexdigest()
    return (record.label, record.run_id, record.outcome.status, record.start_time, record.end_time,
            record.duration_seconds, record.command, record.outcome.exit_status, record.reason, None,
            None, None, None, data, digest)  # fmt: skip


def record_data(record: Record) -> str:
    """The record's immutable part as stored: its canonical JSON without tags, reason and publication."""
    data = record.to_dict()
    for name in _MUTABLE_FIELDS:
        data.pop(name, None)
    return canonical_json(data)
