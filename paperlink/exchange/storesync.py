"""Records copied between two stores, of either kind (SQLite file, PostgreSQL database), keyed on run_id.

``copy_records(source, target)`` adds to ``target`` every record of ``source`` it lacks, with what travels
with a record: tags, reason, annotations (the publication state among them), the stored contents it names
and its streams. A record ``target`` has already (the same run_id, whatever its label there) gets the
tags it lacks, and the reason and annotations it has none of; one it has differently is reported, never
overwritten, and so is a label another run holds there (the rule of :func:`paperlink.exchange.admit`).
Copying twice changes nothing. ``sync_stores(a, b)`` copies both ways.

Both stores are read in bulk (every run, tag and annotation in a few queries) and new records are copied
as stored, in batches of one transaction each, so a second sync of a big store takes a moment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import Any

from paperlink.core.model import model
from paperlink.core.store import RecordStore
from paperlink.core.store.bulk import RECORD_COLUMNS
from paperlink.exchange.transfer import admit_run

BATCH = 500
_DATA = RECORD_COLUMNS.split(", ").index("data")
ProgressCallback = Callable[[int, int], None]


@model
class CopyResult:
    """What one direction of a copy did, by label (in the target)."""

    source: str
    target: str
    added: list[str] = field(default_factory=list)
    present: int = 0  # records the target holds already
    updated: list[str] = field(default_factory=list)  # present, and given tags/reason/annotations
    clashes: list[str] = field(
        default_factory=list
    )  # messages, one per record or annotation left alone

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "added": len(self.added),
            "present": self.present,
            "updated": self.updated,
            "clashes": self.clashes,
        }


@model
class _Index:
    """One store read in bulk: its run ids, tags, reasons and annotations. Labels are looked up only for
    the runs that differ (``resolve``), so comparing two big stores reads little more than their run_id
    indexes. What :func:`admit_run` asks of a store, for the runs resolved."""

    store: RecordStore
    run_ids: set[str]
    tags: set[tuple[str, str]]
    reasons: dict[str, str]
    annotations: dict[tuple[str, str], str]  # (label, name) -> canonical JSON
    labels: dict[str, str] = field(default_factory=dict)  # run_id -> label, of the runs resolved
    taken: set[str] = field(default_factory=set)  # labels known to be held

    @classmethod
    def read(cls, store: RecordStore) -> _Index:
        return cls(
            store, store.run_ids(), store.tag_pairs(), store.reasons(), store.annotation_texts()
        )

    @property
    def location(self) -> str:
        return self.store.location

    def resolve(self, run_ids: Iterable[str]) -> None:
        missing = [run for run in run_ids if run not in self.labels and run in self.run_ids]
        if missing:
            self.labels.update(self.store.labels_of_runs(missing))

    def label_of_run(self, run_id: str) -> str | None:
        return self.labels.get(run_id) if run_id in self.run_ids else None

    def exists(self, label: str) -> bool:
        return label in self.taken


def copy_records(
    source: RecordStore, target: RecordStore, *, on_progress: ProgressCallback | None = None
) -> CopyResult:
    """Copy what ``target`` lacks from ``source`` (see the module docstring). Raises :class:`StoreError`
    (:class:`StoreReadOnly`, :class:`StoreFull`) when ``target`` cannot be written; a batch that fails
    leaves nothing of itself behind."""
    return _copy(source, target, _Index.read(source), _Index.read(target), on_progress)


def sync_stores(
    a: RecordStore, b: RecordStore, *, on_progress: ProgressCallback | None = None
) -> tuple[CopyResult, CopyResult]:
    """Copy ``a`` → ``b``, then ``b`` → ``a``: afterwards both hold every record of either."""
    # Each store is read once: what a -> b adds to b, a has already, so b's first state decides b -> a.
    first, second = _Index.read(a), _Index.read(b)
    return (
        _copy(a, b, first, second, on_progress),
        _copy(b, a, second, first, on_progress),
    )


def _copy(
    source: RecordStore,
    target: RecordStore,
    want: _Index,
    have: _Index,
    on_progress: ProgressCallback | None,
) -> CopyResult:
    result = CopyResult(source.location, target.location)
    result.present = len(want.run_ids & have.run_ids)
    fresh: set[str] = set()
    if new_runs := want.run_ids - have.run_ids:
        want.resolve(new_runs)
        have.taken |= set(target.runs_of_labels(want.labels[run] for run in new_runs))
        fresh = {
            label
            for run in sorted(new_runs, key=want.labels.__getitem__)
            if admit_run(
                have,
                run,
                label := want.labels[run],
                [],
                result.clashes,
                where=f"{source.location}: ",
            )
        }
        result.clashes.sort()
    _merge_mutable(target, want, have, result)
    new = [label for label in source.labels() if label in fresh] if fresh else []
    # The new records' tags and annotations, grouped once for all batches.
    extras: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str, str]]]] = {}
    for label, tag in sorted(want.tags) if fresh else ():
        if label in fresh:
            extras.setdefault(label, ([], []))[0].append((label, tag))
    for (label, name), text in sorted(want.annotations.items()) if fresh else ():
        if label in fresh:
            extras.setdefault(label, ([], []))[1].append((label, name, text))
    total = len(new)
    for start in range(0, total, BATCH):
        _add_batch(source, target, new[start : start + BATCH], extras)
        result.added += new[start : start + BATCH]
        if on_progress is not None:
            on_progress(min(start + BATCH, total), total)
    return result


def _merge_mutable(target: RecordStore, want: _Index, have: _Index, result: CopyResult) -> None:
    """Give the records both stores hold the tags, reason and annotations the target lacks; report
    annotations the two have differently."""
    differing = (
        {label for label, _ in want.tags - have.tags}
        | {label for label, reason in want.reasons.items() if have.reasons.get(label) != reason}
        | {label for (label, name), data in want.annotations.items()
           if have.annotations.get((label, name)) != data}
    )  # fmt: skip
    if not differing:
        return
    # The source's labels -> their runs -> the labels those runs have in the target (None: not there).
    runs = {
        label: run
        for label, run in want.store.runs_of_labels(differing).items()
        if run in have.run_ids
    }
    have.resolve(runs.values())

    def held(label: str) -> str | None:
        return have.labels.get(runs[label]) if label in runs else None

    # Only what differs under the same label can be missing (set differences at C speed): a second sync
    # of a big store looks at nothing else. A record with another label there is mapped through its run.
    tags = {
        (there, tag)
        for label, tag in want.tags - have.tags
        if (there := held(label)) and (there, tag) not in have.tags
    }
    reasons = [(there, reason) for label, reason in want.reasons.items()
               if have.reasons.get(label) != reason and (there := held(label))
               and there not in have.reasons]  # fmt: skip
    annotations: list[tuple[str, str, dict[str, Any] | str]] = []
    for (label, name), data in sorted(want.annotations.items()):
        if have.annotations.get((label, name)) == data or (there := held(label)) is None:
            continue
        theirs = have.annotations.get((there, name))
        if theirs is None:
            annotations.append((there, name, data))
        elif theirs != data:
            result.clashes.append(
                f"{target.location}: record '{there}' has another '{name}' annotation than "
                f"'{label}' in the source; left as it is"
            )
    if tags or reasons or annotations:
        target.add_contents(annotations=annotations, tags=sorted(tags), reasons=reasons)
        touched = {label for label, _ in tags} | {label for label, _ in reasons}
        result.updated = sorted(touched | {label for label, _, _ in annotations})


def _add_batch(
    source: RecordStore,
    target: RecordStore,
    labels: list[str],
    extras: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str, str]]]],
) -> None:
    """Copy ``labels`` as stored (rows, compressed streams, contents and the environments they name as
    they are: nothing is parsed and written again, so the copy's JSON and digests are the source's to
    the byte)."""
    rows = source.record_rows(labels)
    wanted: set[str] = set()
    environments: set[str] = set()
    for row in rows:
        data = json.loads(row[_DATA])
        if data.get("environment_digest"):
            environments.add(str(data["environment_digest"]))
        # Most outputs' bytes are not kept in a store: only the diff, parameter and values files.
        files = [*data.get("inputs", []), *data.get("outputs", [])]
        wanted.update(
            filter(
                None, [data.get("code", {}).get("diff_sha256"), *(f.get("sha256") for f in files)]
            )
        )
    blobs = {sha256: source.get_blob(sha256) for sha256 in sorted(source.has_blobs(wanted))}
    tags = [pair for label in labels for pair in extras.get(label, ([], []))[0]]
    annotations: list[tuple[str, str, dict[str, Any] | str]] = [
        item for label in labels for item in extras.get(label, ([], []))[1]
    ]
    with target.transaction():
        target.add_record_rows(rows, tags)
        target.add_contents(
            annotations=annotations,
            blobs=blobs,
            stream_rows=source.stream_rows(labels),
            environment_rows=source.environment_rows(environments),
        )
