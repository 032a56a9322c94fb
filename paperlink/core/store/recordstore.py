"""The record store: records, their annotations and stored contents, behind one API on either back end.

``RecordStore(".paperlink/records.sqlite")`` opens a SQLite file, ``RecordStore("postgresql://u@host/db")``
a PostgreSQL database (see :mod:`paperlink.core.store.sqlite` and :mod:`paperlink.core.store.postgres`); both hold the
same schema (:mod:`paperlink.core.store.migrations`). A run's row is written when it starts (status
``running``), so a run whose paperlink process is killed stays visible as ``incomplete``. Finished records
are immutable but for their tags, reason and annotations (a trigger enforces it).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from paperlink.core.files import FileDigest
from paperlink.core.jobfilter import job_filter
from paperlink.core.records import STATUS_RUNNING, Ambiguity, Publication, Record
from paperlink.core.serialize import canonical_json, from_dict
from paperlink.core.store.backend import Backend, Writer
from paperlink.core.store.bulk import BulkAccess, insert_tags, record_data
from paperlink.core.store.contents import put_stream
from paperlink.core.store.migrations import MIGRATIONS, POSTGRESQL, SCHEMA_VERSION
from paperlink.core.store.processes import (
    current_process_identity,
    effective_status,
)
from paperlink.core.store.running import RunningRuns
from paperlink.core.store.urls import display_url, is_server_url
from paperlink.errors import RecordImmutable, RecordNotFound, StoreError, StoreReadOnly, UsageError

# Room a run keeps in the write-ahead log from its start (see reserve_space): a finished record and its
# streams cut short fit in it even when the command fills the disk.
RESERVE_BYTES = 1 << 20
# Up to this many summaries, their tags are looked up by label (500 a query); beyond, all are read.
_FEW_ROWS = 5000
StoreLocation = str | os.PathLike[str]


class RecordSummary(NamedTuple):
    """The columns ``paperlink list`` shows, read without parsing the record's JSON."""

    label: str
    status: str
    start_time: str
    duration: float | None
    command: str
    exit_status: int | None
    tags: tuple[str, ...]
    reason: str | None


def display_location(location: StoreLocation) -> str:
    """How a store is named in messages and output: a path, or its URL without the password."""
    text = str(location)
    return display_url(text) if "://" in text else text


def open_backend(location: StoreLocation, *, create: bool) -> Backend:
    if is_server_url(location):
        from paperlink.core.store.postgres import PostgresBackend

        return PostgresBackend(str(location), create=create)
    from paperlink.core.store.sqlite import SqliteBackend

    return SqliteBackend(Path(location), create=create)


class RecordStore(BulkAccess, RunningRuns):
    """Records in one store. Use :meth:`create` for a new store and the constructor for an existing one.

    Raises :class:`StoreError` when it is missing, corrupted or written by a newer paperlink.
    """

    def __init__(self, location: StoreLocation, *, _create: bool = False) -> None:
        self._backend = open_backend(location, create=_create)
        self.location = self._backend.location
        try:
            self._check_and_migrate(create=_create)
        except BaseException:
            self._backend.close()
            raise

    @property
    def path(self) -> Path | None:
        """The store's file (None for a store on a server)."""
        return self._backend.path

    @property
    def url(self) -> str:
        """What ``--store`` takes to open this store again: an absolute path, or the URL without password."""
        return str(self.path.resolve()) if self.path is not None else self.location

    @property
    def read_only(self) -> str | None:
        """Why the store cannot be written (None: it can)."""
        return self._backend.read_only

    @property
    def dialect(self) -> str:
        return self._backend.dialect

    @classmethod
    def create(cls, location: StoreLocation) -> RecordStore:
        """Create the store (and a file store's folder) if it does not exist yet, then open it."""
        if not is_server_url(location):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        return cls(location, _create=True)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------------
    def _check_and_migrate(self, *, create: bool) -> None:
        applied = self._backend.open_schema(create=create)
        known = [name for name, _ in MIGRATIONS]
        unknown = [name for name in applied if name not in known]
        if unknown or len(applied) > len(known):
            raise StoreError(
                f"the record store {self.location} was written by a newer paperlink "
                f"(schema {len(applied)}, this paperlink knows {len(known)}; unknown: "
                f"{', '.join(unknown) or 'none'})",
                hint="upgrade paperlink (pip install -U paperlink); the store was not changed",
            )
        if len(applied) < len(known):
            if self.read_only is not None:
                raise StoreReadOnly(
                    f"the record store {self.location} has schema {len(applied)} and this paperlink "
                    f"needs {len(known)}, but it cannot be upgraded: {self.read_only}",
                    hint="run any paperlink command once where the store is writable, or copy it and "
                    "point --store at the copy",
                )
            self._migrate()
        self._backend.after_open()

    def _applied_migrations(self) -> list[str]:
        return [row[0] for row in self._backend.read("SELECT name FROM migrations ORDER BY rowid")]

    def _migrate(self) -> None:
        with self.transaction() as db:
            self._backend.begin_migration(db)
            # Another process may have migrated while we waited for the lock.
            done = set(self._applied_migrations())
            schema = self._backend.schema_writer(db)
            for name, migrate in MIGRATIONS:
                if name not in done:
                    migrate(schema)
                    db.execute("INSERT INTO migrations (name) VALUES (?)", (name,))
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (str(SCHEMA_VERSION),),
            )

    @property
    def schema_version(self) -> int:
        return len(self._applied_migrations())

    # -- transactions -------------------------------------------------------------------------------
    def transaction(self) -> contextlib.AbstractContextManager[Writer]:
        """One write transaction (a savepoint inside another): all of it is written, or nothing.

        Raises :class:`StoreReadOnly` on a store that cannot be written, :class:`StoreFull` when it is
        full, :class:`StoreError` for other database failures.
        """
        return self._backend.transaction()

    def hold_writers(self, db: Writer) -> None:
        """Inside ``with store.transaction() as db``: keep the store's other writers waiting until the
        transaction ends, for a decision that must see every other run's record as it is and be written
        before another run decides from it (SQLite's write lock does this already; PostgreSQL takes an
        advisory lock)."""
        self._backend.hold_writers(db)

    def reserve_space(self, size: int = RESERVE_BYTES) -> None:
        """Make sure the next writes of about ``size`` bytes succeed even if the disk fills up meanwhile
        (a file store; a server keeps its own disk). ``paperlink run`` calls it before the command starts,
        so the record can be finished after a command that filled the disk. Raises :class:`StoreFull`."""
        self._backend.reserve_space(size)

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return self._backend.read(sql, tuple(params))

    # -- records ------------------------------------------------------------------------------------
    def start_record(self, record: Record, *, label_is_default: bool) -> str:
        """Insert ``record`` as running and return its label, made unique with ``-2``, ``-3``… when it is a
        default timestamp label that another run took first. An explicit label that exists is an error."""
        host, pid, boot, proc_start = current_process_identity()
        base = record.label
        for attempt in range(1, 10_000):
            label = base if attempt == 1 else f"{base}-{attempt}"
            record.label = label
            try:
                with self.transaction() as db:
                    db.execute(
                        "INSERT INTO records (label, run_id, status, start_time, command, reason, host, "
                        "pid, boot_id, proc_start, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (label, record.run_id, STATUS_RUNNING, record.start_time, record.command,
                         record.reason, host, pid, boot, proc_start, record_data(record)),
                    )  # fmt: skip
                    insert_tags(db, [(label, tag) for tag in record.tags])
                return label
            except self._backend.integrity_errors as exc:
                if not label_is_default:
                    raise UsageError(
                        f"a record labelled '{label}' already exists",
                        hint="choose another --label, or leave it out for a timestamp label",
                    ) from exc
        raise StoreError(f"could not find a free label starting with '{base}'")

    def finish_record(
        self, record: Record, *, streams: dict[str, dict[str, bytes]] | None = None
    ) -> None:
        """Write the final state of a running record (once; it is immutable afterwards), with its
        ``streams`` (``{"stdout": {"head": …, "tail": …}, …}``) in the same transaction."""
        try:
            with self.transaction() as db:
                for stream, parts in (streams or {}).items():
                    put_stream(db, record.label, stream, parts)
                cursor = db.execute(
                    "UPDATE records SET status=?, end_time=?, duration=?, exit_status=?, data=?, digest=? "
                    "WHERE label=? AND status=?",
                    (record.outcome.status, record.end_time, record.duration_seconds,
                     record.outcome.exit_status, record_data(record), record.digest(), record.label,
                     STATUS_RUNNING),
                )  # fmt: skip
                if cursor.rowcount != 1:
                    raise RecordImmutable(
                        f"record '{record.label}' is not running; it cannot change"
                    )
        except self._backend.integrity_errors as exc:
            raise RecordImmutable(f"record '{record.label}' is finished and cannot change") from exc

    def add_record(self, record: Record) -> str:
        """Store a record that is already complete (imports, reruns built elsewhere)."""
        label = self.start_record(record, label_is_default=False)
        self.finish_record(record)
        return label

    def get(self, label: str) -> Record:
        """The record labelled ``label``; raises :class:`RecordNotFound`, suggesting near labels."""
        rows = self._read(
            "SELECT data, reason, status, host, pid, boot_id, proc_start FROM records WHERE label=?",
            (label,),
        )
        if not rows:
            raise self._not_found(label)
        data, reason, status, host, pid, boot, proc_start = rows[0]
        record = Record.from_json(data)
        record.reason = reason
        record.outcome.status = effective_status(status, host, pid, boot, proc_start)
        record.tags = [
            row[0]
            for row in self._read("SELECT tag FROM tags WHERE label=? ORDER BY tag", (label,))
        ]
        for name, payload in self._read(
            "SELECT name, data FROM annotations WHERE label=?", (label,)
        ):
            if name == "publication":
                record.publication = from_dict(Publication, _loads(payload))
            elif name == "image" and record.container is not None:
                # Learnt after the run (`paperlink image push|save`): every reader sees it, not just one.
                extra = _loads(payload)
                ref = record.container
                ref.repo_digests = sorted({*ref.repo_digests, *extra.get("repo_digests", [])})
                if extra.get("archive"):
                    ref.archive = from_dict(FileDigest, extra["archive"])
            elif name == "ambiguous":
                # Learnt when a later run that overlapped this one finished (recorder.overlap).
                for path, runs in sorted(_loads(payload).get("outputs", {}).items()):
                    known = record.ambiguity(path)
                    if known is None:
                        record.ambiguous.append(Ambiguity(path=path, runs=sorted(runs)))
                    else:
                        known.runs = sorted({*known.runs, *runs})
        return record

    def _not_found(self, label: str) -> RecordNotFound:
        labels = [
            row[0]
            for row in self._read("SELECT label FROM records ORDER BY start_time DESC LIMIT 5000")
        ]
        import difflib

        near = difflib.get_close_matches(label, labels, n=3)
        hint = (
            f"did you mean {', '.join(near)}?"
            if near
            else "'paperlink list' shows the labels there are"
        )
        return RecordNotFound(f"no record labelled '{label}' in {self.location}", hint=hint)

    def label_of_output(self, path: str, sha256: str) -> str | None:
        """The newest finished record whose output ``path`` has content ``sha256`` (None if none)."""
        table, element = self._backend.json_array("r.data", "outputs")
        rows = self._read(
            f"SELECT r.label FROM records r, {table} "  # noqa: S608 - no user input in the SQL
            f"WHERE {element.format(field='path')} = ? AND {element.format(field='sha256')} = ? "
            "ORDER BY r.start_time DESC LIMIT 1",
            (path, sha256),
        )
        return str(rows[0][0]) if rows else None

    def exists(self, label: str) -> bool:
        return bool(self._read("SELECT 1 FROM records WHERE label=?", (label,)))

    def labels(self) -> list[str]:
        return [
            row[0] for row in self._read("SELECT label FROM records ORDER BY start_time, rowid")
        ]

    def summaries(
        self, *, tag: str | None = None, limit: int | None = None, job: str | None = None
    ) -> list[RecordSummary]:
        """Summaries newest first, optionally only those tagged ``tag`` or made in Slurm job ``job``
        (see :func:`paperlink.core.jobfilter.job_filter`)."""
        hint = self._backend.indexed_by("records_for_list")
        sql = (
            "SELECT label, status, start_time, duration, command, exit_status, reason, host, pid, "  # noqa: S608
            f"boot_id, proc_start FROM records{hint}"
        )
        params: list[Any] = []
        where: list[str] = []
        if tag is not None:
            where.append("label IN (SELECT label FROM tags WHERE tag = ?)")
            params.append(tag)
        if job is not None:
            condition, values = job_filter(job)
            where.append(condition)
            # PostgreSQL compares the JSON's text; SQLite its typed values.
            params += [str(v) for v in values] if self.dialect == POSTGRESQL else values
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time DESC, label DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._read(sql, params)
        # A page or a filtered few of a big store read only their own tags; a whole listing, all at once.
        few = len(rows) <= _FEW_ROWS
        tags = self._tags_of([row[0] for row in rows]) if few else self.all_tags()
        return [
            RecordSummary(row[0], effective_status(row[1], row[7], row[8], row[9], row[10]), row[2],
                          row[3], row[4], row[5], tuple(sorted(tags.get(row[0], ()))), row[6])
            for row in rows
        ]  # fmt: skip

    def _tags_of(self, labels: list[str]) -> dict[str, list[str]]:
        # A page of a big store: only its own tags, not all of them.
        tags: dict[str, list[str]] = {}
        for label, name in self._in_chunks(
            "SELECT label, tag FROM tags WHERE label IN ({})", labels
        ):
            tags.setdefault(label, []).append(name)
        return tags

    # -- the mutable parts --------------------------------------------------------------------------
    def add_tags(self, label: str, tags: Iterable[str]) -> None:
        self._require(label)
        with self.transaction() as db:
            insert_tags(db, [(label, t) for t in tags])

    def remove_tags(self, label: str, tags: Iterable[str]) -> None:
        self._require(label)
        with self.transaction() as db:
            db.executemany("DELETE FROM tags WHERE label=? AND tag=?", [(label, t) for t in tags])

    def set_reason(self, label: str, reason: str | None) -> None:
        self._require(label)
        with self.transaction() as db:
            db.execute("UPDATE records SET reason=? WHERE label=?", (reason, label))

    def set_annotation(self, label: str, name: str, data: dict[str, Any]) -> None:
        """Attach a named, replaceable JSON document to a record (e.g. its ``publication``)."""
        self._require(label)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO annotations (label, name, data) VALUES (?, ?, ?) ON CONFLICT (label, name) "
                "DO UPDATE SET data=excluded.data, updated=excluded.updated",
                (label, name, canonical_json(data)),
            )

    def get_annotation(self, label: str, name: str) -> dict[str, Any] | None:
        rows = self._read("SELECT data FROM annotations WHERE label=? AND name=?", (label, name))
        return _loads(rows[0][0]) if rows else None

    def annotations(self, label: str) -> dict[str, dict[str, Any]]:
        """Every annotation of ``label`` by name (what an export carries along with the record)."""
        rows = self._read(
            "SELECT name, data FROM annotations WHERE label=? ORDER BY name", (label,)
        )
        return {name: _loads(data) for name, data in rows}

    def label_of_run(self, run_id: str) -> str | None:
        """The label of the record whose ``run_id`` is ``run_id`` (None when the store has none)."""
        rows = self._read("SELECT label FROM records WHERE run_id=?", (run_id,))
        return str(rows[0][0]) if rows else None

    def _require(self, label: str) -> None:
        if not self.exists(label):
            raise self._not_found(label)


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
