"""Records copied between two stores, of either kind (SQLite file, PostgreSQL database), keyed on run_id.

``copy_records(source, target)`` adds to ``target`` every record of ``source`` it lacks, with what travels
with a record: tags, reason, annotations (the publication state among them), the stored contents it names
and its streams. A record ``target`` has already (the same run_id, whatever its label there) gets the
tags it lacks, and the reason and annotations it has none of; one it has differently is reported, never
overwritten, and so is a label another run holds there (the rule of :func:`paperlink.exchange.admit`).
Copying twice changes nothing. ``sync_stores(a, b)`` copies both ways.

Both stores are read in bulk (every run, tag and annotation in a few queries) and new records are written
in batches of one transaction each, so a second sync of a big store takes a moment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paperlink.exchange import admit_run
from paperlink.records import Record
from paperlink.store import RecordStore

BATCH = 500
_STREAMS = ("stdout", "stderr")
ProgressCallback = Callable[[int, int], None]


@dataclass
class CopyResult:
    """What one direction of a copy did, by label (in the target)."""

    source: str
    target: str
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # present, and given tags/reason/annotations
    clashes: list[str] = field(
        default_factory=list
    )  # messages, one per record or annotation left alone

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "added": len(self.added),
            "present": len(self.present),
            "updated": self.updated,
            "clashes": self.clashes,
        }


@dataclass
class _Index:
    """One store's runs, tags, reasons and annotations, read in bulk (what ``admit_run`` asks)."""

    location: str
    runs: dict[str, str]
    tags: dict[str, list[str]]
    reasons: dict[str, str]
    annotations: dict[str, dict[str, str]]
    labels: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, store: RecordStore) -> _Index:
        runs = store.runs()
        return cls(store.location, runs, store.all_tags(), store.reasons(), store.all_annotations(),
                   set(runs.values()))  # fmt: skip

    def label_of_run(self, run_id: str) -> str | None:
        return self.runs.get(run_id)

    def exists(self, label: str) -> bool:
        return label in self.labels


def copy_records(
    source: RecordStore, target: RecordStore, *, on_progress: ProgressCallback | None = None
) -> CopyResult:
    """Copy what ``target`` lacks from ``source`` (see the module docstring). Raises :class:`StoreError`
    (:class:`StoreReadOnly`, :class:`StoreFull`) when ``target`` cannot be written; a batch that fails
    leaves nothing of itself behind."""
    result = CopyResult(source.location, target.location)
    have, want = _Index.read(target), _Index.read(source)
    order = {label: run_id for run_id, label in want.runs.items()}
    new: list[str] = []
    for label in source.labels():
        if admit_run(have, order[label], label, result.present, result.clashes,
                     where=f"{source.location}: "):  # fmt: skip
            new.append(label)
        elif (held := have.runs.get(order[label])) is not None:
            _merge_mutable(target, want, have, label, held, result)
    total = len(new)
    for start in range(0, total, BATCH):
        _add_batch(source, target, new[start : start + BATCH])
        result.added += new[start : start + BATCH]
        if on_progress is not None:
            on_progress(min(start + BATCH, total), total)
    return result


def sync_stores(
    a: RecordStore, b: RecordStore, *, on_progress: ProgressCallback | None = None
) -> tuple[CopyResult, CopyResult]:
    """Copy ``a`` → ``b``, then ``b`` → ``a``: afterwards both hold every record of either."""
    return copy_records(a, b, on_progress=on_progress), copy_records(b, a, on_progress=on_progress)


def _merge_mutable(
    target: RecordStore, want: _Index, have: _Index, label: str, held: str, result: CopyResult
) -> None:
    """Give the record ``held`` in ``target`` (``label`` in the source) what it lacks of the source's."""
    tags = sorted(set(want.tags.get(label, ())) - set(have.tags.get(held, ())))
    reason = want.reasons.get(label)
    reasons = [(held, reason)] if reason is not None and held not in have.reasons else []
    annotations: list[tuple[str, str, dict[str, Any]]] = []
    theirs = have.annotations.get(held, {})
    for name, data in sorted(want.annotations.get(label, {}).items()):
        if name not in theirs:
            annotations.append((held, name, json.loads(data)))
        elif theirs[name] != data:
            result.clashes.append(
                f"{target.location}: record '{held}' has another '{name}' annotation than "
                f"'{label}' in the source; left as it is"
            )
    if tags or reasons or annotations:
        target.add_contents(
            annotations=annotations, tags=[(held, t) for t in tags], reasons=reasons
        )
        result.updated.append(held)


def _add_batch(source: RecordStore, target: RecordStore, labels: list[str]) -> None:
    records: list[Record] = []
    annotations: list[tuple[str, str, dict[str, Any]]] = []
    streams: list[tuple[str, str, dict[str, bytes]]] = []
    wanted: set[str] = set()
    for label in labels:
        record = source.get(label)
        record.publication = None  # an annotation, as the source keeps it, copied below
        records.append(record)
        annotations += [(label, name, data) for name, data in source.annotations(label).items()]
        for name in _STREAMS:
            if parts := source.get_stream(label, name):
                streams.append((label, name, parts))
        # Most outputs' bytes are not kept in a store: only the diff, parameter and values files.
        wanted.update(
            filter(
                None,
                [record.code.diff_sha256, *(f.sha256 for f in (*record.inputs, *record.outputs))],
            )
        )
    blobs = {sha256: source.get_blob(sha256) for sha256 in sorted(source.has_blobs(wanted))}
    with target.transaction():
        target.add_records(records)
        target.add_contents(annotations=annotations, blobs=blobs, streams=streams)
