"""Records moved between stores as files: a folder of one JSON file per record, or JSON Lines.

``paperlink store export`` writes every record (or those a manuscript uses) with what travels with it: its
tags, reason and publication, its annotations, the stored contents it names (the code diff, parameter and
values files) and its stdout/stderr. A folder (one pretty, canonical ``LABEL.json`` per record) is made to be
committed with a paper, where a CI job imports it; ``.jsonl`` is one record per line, the way to bring records
back from an offline node. ``paperlink store import`` is keyed on each record's ``run_id``: importing twice
changes nothing, and a label that another run already holds is reported, never overwritten.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from paperlink.core.config import atomic_write_text
from paperlink.core.envpackages import Environment
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.serialize import canonical_json
from paperlink.core.store import RecordStore, StoreLocation
from paperlink.core.store.urls import is_server_url
from paperlink.errors import PaperlinkError, RecordNotFound, StoreError, UsageError

FORMAT = "paperlink-record-export"
VERSION = 1
_STREAMS = ("stdout", "stderr")


@model
class ImportResult:
    """What ``import_records`` did: labels added, labels already there, and clashes left alone."""

    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)  # messages, one per record not imported


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def export_entry(store: RecordStore, label: str) -> dict[str, Any]:
    """Everything about record ``label`` that another store needs, as JSON-ready data."""
    record = store.get(label)
    blobs: dict[str, str] = {}
    wanted = [record.code.diff_sha256, *(f.sha256 for f in (*record.inputs, *record.outputs))]
    for sha256 in wanted:
        if sha256 and sha256 not in blobs:
            # Most outputs' bytes are not kept in the store: only the diff, parameter and values files.
            with contextlib.suppress(RecordNotFound):
                blobs[sha256] = _b64(store.get_blob(sha256))
    streams = {
        name: {part: _b64(data) for part, data in parts.items()}
        for name in _STREAMS
        if (parts := store.get_stream(label, name))
    }
    entry: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "record": record.to_dict(),
        "annotations": store.annotations(label),
        "blobs": blobs,
        "streams": streams,
    }
    if record.environment_digest:
        # Only when there is one: an export of a record without keeps the bytes it had.
        entry["environment"] = store.get_environment(record.environment_digest).to_dict()
    return entry


def export_file_name(label: str) -> str:
    """The file of ``label`` in an export folder: labels may hold ``/`` and other characters a file name
    cannot, so they are percent-encoded (``fig/1`` → ``fig%2F1.json``), a leading dot too (no hidden
    files, no ``..``)."""
    name = quote(label, safe="-_.+=@,")
    return ("%2E" + name[1:] if name.startswith(".") else name) + ".json"


def export_records(store: RecordStore, labels: Iterable[str], target: Path) -> list[Path]:
    """Write the records ``labels`` to ``target``: a folder (one file each) or a ``.jsonl`` file.

    Returns the files written. Raises :class:`RecordNotFound` for an unknown label.
    """
    entries = [export_entry(store, label) for label in labels]
    if target.suffix == ".jsonl":
        lines = "".join(canonical_json(entry) + "\n" for entry in entries)
        atomic_write_text(target, lines)
        return [target]
    if target.exists() and not target.is_dir():
        raise UsageError(
            f"{target} exists and is not a folder",
            hint="name a folder (one JSON file per record) or a .jsonl file",
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        path = target / export_file_name(entry["record"]["label"])
        atomic_write_text(path, canonical_json(entry, indent=2) + "\n")
        written.append(path)
    return written


def read_entries(source: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, entry)`` for each record in an export folder or ``.jsonl`` file; ``where`` names the file
    (and line) for messages. Raises :class:`UsageError` for a file that is not such an export."""
    if source.is_dir():
        places: Iterable[tuple[str, str]] = (
            (str(path), path.read_text(encoding="utf-8")) for path in sorted(source.glob("*.json"))
        )
    elif source.is_file():
        text = source.read_text(encoding="utf-8")
        places = (
            (f"{source}:{number}", line)
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip()
        )
    else:
        raise UsageError(f"{source} does not exist", hint="name an export folder or .jsonl file")
    for where, text in places:
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where} is not JSON: {exc}") from exc
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            raise UsageError(
                f"{where} is not a paperlink record export",
                hint="make one with 'paperlink store export DIR'",
            )
        if entry.get("version") != VERSION:
            raise UsageError(
                f"{where} is export version {entry.get('version')}; this paperlink reads {VERSION}",
                hint="update paperlink (pip install --upgrade paperlink)",
            )
        yield where, entry


def import_records(store: RecordStore, source: Path) -> ImportResult:
    """Add the records of an export to ``store``, keyed on ``run_id``; see the module docstring."""
    result = ImportResult()
    for where, entry in read_entries(source):
        try:
            record = Record.from_dict(entry["record"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{where}: the record in it cannot be read ({exc})") from exc
        if not admit(store, record, result.present, result.clashes, where=f"{where}: "):
            continue
        _add(store, record, entry)
        result.added.append(record.label)
    return result


class RunIndex(Protocol):
    """Where ``admit`` looks runs and labels up: a store, or an index of one read in bulk."""

    @property
    def location(self) -> str: ...

    def label_of_run(self, run_id: str) -> str | None: ...

    def exists(self, label: str) -> bool: ...


def admit(
    store: RunIndex, record: Record, present: list[str], clashes: list[str], *, where: str = ""
) -> bool:
    """Whether ``record`` is new to ``store``, keyed on its ``run_id``: one already there goes to
    ``present`` (under the label it has there), one whose label another run holds to ``clashes`` (a
    message starting with ``where``); neither is imported."""
    return admit_run(store, record.run_id, record.label, present, clashes, where=where)


def admit_run(
    store: RunIndex,
    run_id: str,
    label: str,
    present: list[str],
    clashes: list[str],
    *,
    where: str = "",
) -> bool:
    """:func:`admit` for a run known by its ``run_id`` and ``label`` alone."""
    held = store.label_of_run(run_id)
    if held is not None:
        present.append(held)
        return False
    if store.exists(label):
        clashes.append(
            f"{where}the label '{label}' is taken by another run in {store.location}; not imported"
        )
        return False
    return True


def _add(store: RecordStore, record: Record, entry: dict[str, Any]) -> None:
    for sha256, data in entry.get("blobs", {}).items():
        store.put_blob(base64.b64decode(data), sha256)
    if isinstance(entry.get("environment"), dict):
        environment = Environment.from_dict(entry["environment"])
        if environment.digest() != record.environment_digest:
            raise StoreError(
                f"record '{record.label}': its environment is {environment.digest()} but the record "
                f"names {record.environment_digest}",
                hint="the export was changed after it was written; export it again from its store",
            )
        store.put_environment(environment)
    publication = record.publication
    record.publication = None  # an annotation, as the store keeps it, so it can still change
    store.add_record(record)
    annotations = dict(entry.get("annotations", {}))
    if publication is not None and "publication" not in annotations:
        annotations["publication"] = asdict(publication)
    for name, data in sorted(annotations.items()):
        store.set_annotation(record.label, name, data)
    for name, parts in entry.get("streams", {}).items():
        if name in _STREAMS:
            store.put_stream(
                record.label, name, {part: base64.b64decode(data) for part, data in parts.items()}
            )


def open_or_create(location: StoreLocation) -> RecordStore:
    """The store at ``location``, made when it does not exist yet (an import into a fresh clone, a copy
    into an empty database)."""
    if is_server_url(location) or Path(location).exists():
        return RecordStore(location, _create=is_server_url(location))
    try:
        return RecordStore.create(location)
    except OSError as exc:
        raise PaperlinkError(f"cannot create the record store {location}: {exc}") from exc
