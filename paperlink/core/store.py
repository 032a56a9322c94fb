"""The embedded record store: one SQLite file with a versioned schema, migrations and transactions.

Several ``paperlink run`` processes may write at once: the store runs in WAL mode, every write is one short
``BEGIN IMMEDIATE`` transaction and waits for the lock instead of failing. A run's row is written when it
starts (status ``running``), so a run whose paperlink process is killed stays visible as ``incomplete``.
Finished records are immutable but for their tags, reason and annotations (a trigger enforces it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from paperlink.core.jobfilter import job_filter
from paperlink.core.records import (
    STATUS_INCOMPLETE,
    STATUS_RUNNING,
    Ambiguity,
    FileDigest,
    Publication,
    Record,
    canonical_json,
    from_dict,
)
from paperlink.errors import (
    RecordImmutable,
    RecordNotFound,
    StoreError,
    StoreFull,
    StoreReadOnly,
    UsageError,
)

BUSY_TIMEOUT_SECONDS = 120.0
# Room a run keeps in the write-ahead log from its start (see reserve_space): a finished record and its
# streams cut short fit in it even when the command fills the disk.
RESERVE_BYTES = 1 << 20
# With this many times RESERVE_BYTES free, a run does not reserve (see RecordStore.reserve_space).
ROOMY_FACTOR = 256
# Result codes from sqlite3.h (the sqlite3 module names them only from Python 3.11 on).
_SQLITE_READONLY = 8
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_IOERR_WRITE = 778
_SQLITE_IOERR_SHMOPEN = 4618
_SQLITE_IOERR_SHMSIZE = 4874
# A first read that fails with these means the -wal and -shm files beside the store cannot be made (a
# read-only mount or folder, a full disk), not that the store is damaged: it is opened read-only instead.
_SIDE_FILE_ERRORS = (_SQLITE_CANTOPEN, _SQLITE_READONLY, _SQLITE_FULL)
_SIDE_FILE_IO_ERRORS = (_SQLITE_IOERR_SHMOPEN, _SQLITE_IOERR_SHMSIZE)
_MUTABLE_FIELDS = ("tags", "reason", "publication")


_INITIAL_SQL = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE records (
            label TEXT PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            start_time TEXT NOT NULL,
            end_time TEXT,
            duration REAL,
            command TEXT NOT NULL,
            exit_status INTEGER,
            reason TEXT,
            host TEXT,
            pid INTEGER,
            boot_id TEXT,
            proc_start INTEGER,
            data TEXT NOT NULL,
            digest TEXT
        );
        CREATE INDEX records_by_start ON records (start_time);
        CREATE TABLE tags (
            label TEXT NOT NULL REFERENCES records (label),
            tag TEXT NOT NULL,
            PRIMARY KEY (label, tag)
        );
        CREATE INDEX tags_by_tag ON tags (tag);
        CREATE TABLE annotations (
            label TEXT NOT NULL REFERENCES records (label),
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (label, name)
        );
        CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL);
        CREATE TABLE streams (
            label TEXT NOT NULL REFERENCES records (label),
            stream TEXT NOT NULL,
            part TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (label, stream, part)
        );
        CREATE TABLE digest_cache (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            md5 TEXT NOT NULL,
            sha1 TEXT NOT NULL
        );
        CREATE TABLE tool_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TRIGGER records_finished_are_immutable
        BEFORE UPDATE OF label, run_id, status, start_time, command, data ON records
        WHEN OLD.status != 'running'
        BEGIN SELECT RAISE(ABORT, 'paperlink: a finished record is immutable'); END;
        CREATE TRIGGER records_are_append_only BEFORE DELETE ON records
        BEGIN SELECT RAISE(ABORT, 'paperlink: records are append-only'); END;
"""


def _migration_initial(db: sqlite3.Connection) -> None:
    _execute_script(db, _INITIAL_SQL)


def _migration_list_index(db: sqlite3.Connection) -> None:
    # `paperlink list` reads only these columns: a covering index spares it the records' JSON pages.
    db.execute(
        "CREATE INDEX records_for_list ON records (start_time, label, status, duration, command, "
        "exit_status, reason, host, pid, boot_id, proc_start)"
    )


def _migration_digest_cache_ctime(db: sqlite3.Connection) -> None:
    # Size, mtime and inode can all be put back after a rewrite in place (touch -d, cp -p, os.utime); the
    # change time and the device cannot, so they join the key. Old rows lack them and are dropped.
    db.execute("DROP TABLE digest_cache")
    db.execute(
        "CREATE TABLE digest_cache (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, "
        "device INTEGER NOT NULL, sha256 TEXT NOT NULL, md5 TEXT NOT NULL, sha1 TEXT NOT NULL)"
    )


def _migration_running_index(db: sqlite3.Connection) -> None:
    # Every run asks which runs are going on (paperlink.recorder.overlap): a partial index holds just those rows,
    # so the question costs the same with a hundred records or a hundred thousand.
    db.execute("CREATE INDEX records_running ON records (status) WHERE status = 'running'")


# Named migrations, applied in order, each in one transaction with the row that records it.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("0001_initial", _migration_initial),
    ("0002_list_index", _migration_list_index),
    ("0003_digest_cache_ctime", _migration_digest_cache_ctime),
    ("0004_running_index", _migration_running_index),
]
SCHEMA_VERSION = len(MIGRATIONS)


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


class RunningProcess(NamedTuple):
    """The process that runs a record, as ``start_record`` saw it."""

    label: str
    host: str | None
    pid: int | None
    boot_id: str | None
    proc_start: int | None


class OverlapRow(NamedTuple):
    """What another run shows of itself to a run that overlapped it (:mod:`paperlink.recorder.overlap`)."""

    label: str
    stored_status: str  # as written: 'running' until it finishes
    status: str  # as it is: 'incomplete' when a running row's process is gone
    start_time: str
    started_since: bool
    project: str
    traced: bool
    declared: list[str]
    claimed: list[str]  # its outputs and ambiguous paths


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
    return socket.gethostname(), pid, _boot_id(), _process_start(pid)


class RecordStore:
    """Records in one SQLite file. Use :meth:`create` for a new store and the constructor for an existing one.

    Raises :class:`StoreError` when the file is missing, corrupted or written by a newer paperlink.
    """

    def __init__(self, path: str | os.PathLike[str], *, _create: bool = False) -> None:
        self.path = Path(path)
        if not _create and not self.path.is_file():
            raise StoreError(
                f"no record store at {self.path}",
                hint="run 'paperlink init' in the project's top folder, or check the 'store' setting",
            )
        # Why the store cannot be written (None: it can). Reading works all the same.
        self.read_only: str | None = None
        if self.path.exists() and not os.access(self.path, os.W_OK):
            self.read_only = _why_read_only(self.path)
        self._db = self._connect("ro" if self.read_only else None)
        try:
            self._check_and_migrate(create=_create)
        except BaseException:
            self._db.close()
            raise

    def _connect(self, mode: str | None) -> sqlite3.Connection:
        """A connection; ``mode`` ``ro`` reads only, ``immutable`` also does without the -shm file."""
        target: str | Path = self.path
        if mode is not None:
            target = (
                f"{self.path.resolve().as_uri()}?{'mode=ro' if mode == 'ro' else 'immutable=1'}"
            )
        try:
            return sqlite3.connect(
                target,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
                uri=mode is not None,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the record store {self.path}: {exc}") from exc

    def _reopen_read_only(self, exc: sqlite3.Error) -> None:
        """Reading failed because SQLite cannot make the files beside the store: read without them."""
        if self.read_only is None:
            self.read_only = _why_read_only(self.path)
        self._db.close()
        self._db = self._connect("ro")
        try:
            self._db.execute("SELECT 1 FROM sqlite_master").fetchall()
            return
        except sqlite3.OperationalError as again:
            if not _side_files_failed(again):
                raise
        self._db.close()
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            # Without the -shm file the log's newest records cannot be read; immutable=1 would silently
            # show the store without them.
            raise StoreReadOnly(
                f"the record store {self.path} cannot be read: {self.read_only}, and its write-ahead "
                f"log {wal.name} holds changes that SQLite can only read with a {self.path.name}-shm "
                "file beside it",
                hint="copy the store's folder somewhere writable and point --store at the copy",
            ) from exc
        # No log: the store file is complete, and nobody can change it while SQLite cannot either.
        self._db = self._connect("immutable")

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> RecordStore:
        """Create the store (and its folder) if it does not exist yet, then open it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return cls(target, _create=True)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------------
    def _check_and_migrate(self, *, create: bool) -> None:
        try:
            try:
                tables = self._tables()
            except sqlite3.OperationalError as exc:
                if create or not _side_files_failed(exc):
                    raise
                self._reopen_read_only(exc)
                tables = self._tables()
            if "migrations" not in tables:
                if tables or not create:
                    raise StoreError(
                        f"{self.path} is not a paperlink record store",
                        hint="point --store (or 'store' in paperlink.toml) at the project's store",
                    )
                self._db.execute("PRAGMA journal_mode=WAL")
            applied = self._applied_migrations() if "migrations" in tables else []
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the record store {self.path} is corrupted or not a SQLite file ({exc})",
                hint=f"restore it from a backup, or try 'sqlite3 {self.path} .recover'; "
                "paperlink has not written to it",
            ) from exc
        known = [name for name, _ in MIGRATIONS]
        unknown = [name for name in applied if name not in known]
        if unknown or len(applied) > len(known):
            raise StoreError(
                f"the record store {self.path} was written by a newer paperlink "
                f"(schema {len(applied)}, this paperlink knows {len(known)}; unknown: "
                f"{', '.join(unknown) or 'none'})",
                hint="upgrade paperlink (pip install -U paperlink); the store was not changed",
            )
        if len(applied) < len(known):
            if self.read_only is not None:
                raise StoreReadOnly(
                    f"the record store {self.path} has schema {len(applied)} and this paperlink needs "
                    f"{len(known)}, but it cannot be upgraded: {self.read_only}",
                    hint="run any paperlink command once where the store is writable, or copy it and "
                    "point --store at the copy",
                )
            self._migrate()
        self._db.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL is safe against crashes of paperlink (kill -9); it saves an fsync per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")

    def _tables(self) -> set[str]:
        return {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }

    def _applied_migrations(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY rowid")]

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL "
                "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
            )
            # Another process may have migrated while we waited for the lock.
            done = set(self._applied_migrations())
            for name, migrate in MIGRATIONS:
                if name not in done:
                    migrate(db)
                    db.execute("INSERT INTO migrations (name) VALUES (?)", (name,))
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @property
    def schema_version(self) -> int:
        return len(self._applied_migrations())

    # -- transactions -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock now, waiting for it if need be.

        Raises :class:`StoreReadOnly` on a store that cannot be written, :class:`StoreFull` when its file
        system is full, :class:`StoreError` for other SQLite failures; nothing of the transaction stays.
        Inside another transaction it is a savepoint: a run writes its record, streams and caches in one
        transaction, through the same methods that write them one at a time.
        """
        if self.read_only in (_FULL, _FILE_SIZE_LIMIT):
            raise self._full(self.read_only)
        if self.read_only is not None:
            raise StoreReadOnly(
                f"cannot write to the record store {self.path}: {self.read_only}",
                hint="make it writable (remount it read-write, 'chattr -i', chmod u+w) or copy it and "
                "point --store at the copy; list, show, diff, verify, serve and site work read-only",
            )
        if self._db.in_transaction:
            with self._savepoint():
                yield self._db
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc) from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            # After some failures (a full disk at COMMIT, an I/O error) SQLite has rolled back already; a
            # second ROLLBACK would fail and hide the error that matters.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise self._write_error(exc) from exc
            raise

    def _write_error(self, exc: sqlite3.Error) -> StoreError:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            why = _FULL
        elif code == _SQLITE_IOERR_WRITE:
            # Over a quota or a file size limit SQLite sees a failed write, not a full disk.
            why = (
                f"writing failed ({exc}): its file system may be full, over quota or failing, or a "
                "file size limit (ulimit -f) was reached"
            )
        elif code is not None and code & 0xFF == _SQLITE_READONLY:
            return StoreReadOnly(
                f"cannot write to the record store {self.path}: {_why_read_only(self.path)}",
                hint="make it writable, or copy it and point --store at the copy",
            )
        else:
            return StoreError(f"cannot write to the record store {self.path}: {exc}")
        return self._full(why)

    def _full(self, why: str) -> StoreFull:
        return StoreFull(
            f"cannot write to the record store {self.path}: {why}",
            hint=f"nothing was changed; free some space there (df {self.path.parent}) or raise the "
            "quota or file size limit (ulimit -f), and try again",
        )

    def reserve_space(self, size: int = RESERVE_BYTES) -> None:
        """Make sure the next writes of about ``size`` bytes succeed even if the disk fills up meanwhile.

        SQLite writes a transaction's pages to the write-ahead log when its page cache overflows, keeps
        them there when the transaction rolls back, and overwrites them in place later: a big insert in a
        small cache, rolled back, leaves ``size`` bytes of log that later commits need no new disk space
        for. ``paperlink run`` calls it before the command starts, so the record can be finished after a
        command that filled the disk. Raises :class:`StoreFull` when there is not that much room now.

        With far more room than that and no file size limit it writes nothing: a megabyte through the
        log on every run is a good part of the capture overhead, and the command would have to fill
        :data:`ROOMY_FACTOR` times as much first. (A user quota is not seen here; over one, the record
        is kept with its streams cut short, see paperlink.recorder.run.)
        """
        if self._roomy(size):
            return
        try:
            with contextlib.suppress(_RollBack), self.transaction() as db:
                (pages,) = db.execute("PRAGMA cache_size").fetchone()
                db.execute("PRAGMA cache_size=16")
                try:
                    db.execute(
                        "INSERT INTO blobs (sha256, size, data) "
                        "VALUES ('paperlink-reserve', 0, zeroblob(?))",
                        (size,),
                    )
                finally:
                    db.execute(f"PRAGMA cache_size={int(pages)}")
                raise _RollBack
        except StoreFull as exc:
            raise self._full(
                f"its file system has less than {size >> 10} KiB free, too little to be sure "
                "a record fits"
            ) from exc

    def _roomy(self, size: int) -> bool:
        import resource

        try:
            fs = os.statvfs(self.path.parent)
        except OSError:
            return False
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return limit == resource.RLIM_INFINITY and fs.f_bavail * fs.f_frsize >= ROOMY_FACTOR * size

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        try:
            self._db.execute("SAVEPOINT paperlink_nested")
        except sqlite3.Error as exc:
            raise self._write_error(exc) from exc
        try:
            yield
            self._db.execute("RELEASE paperlink_nested")
        except BaseException as exc:
            # A full disk can make SQLite roll back the whole transaction, savepoint and all.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK TO paperlink_nested")
                    self._db.execute("RELEASE paperlink_nested")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise self._write_error(exc) from exc
            raise

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the record store {self.path}: {exc}") from exc

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
                        (
                            label,
                            record.run_id,
                            STATUS_RUNNING,
                            record.start_time,
                            record.command,
                            record.reason,
                            host,
                            pid,
                            boot,
                            proc_start,
                            _record_data(record),
                        ),
                    )
                    db.executemany(
                        "INSERT OR IGNORE INTO tags (label, tag) VALUES (?, ?)",
                        [(label, tag) for tag in record.tags],
                    )
                return label
            except sqlite3.IntegrityError as exc:
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
        data = _record_data(record)  # what record.digest() hashes: serialised once for both
        digest = "sha256:" + hashlib.sha256(data.encode()).hexdigest()
        try:
            with self.transaction() as db:
                for stream, parts in (streams or {}).items():
                    self._put_stream(db, record.label, stream, parts)
                cursor = db.execute(
                    "UPDATE records SET status=?, end_time=?, duration=?, exit_status=?, data=?, digest=? "
                    "WHERE label=? AND status=?",
                    (
                        record.outcome.status,
                        record.end_time,
                        record.duration_seconds,
                        record.outcome.exit_status,
                        data,
                        digest,
                        record.label,
                        STATUS_RUNNING,
                    ),
                )
                if cursor.rowcount != 1:
                    raise RecordImmutable(
                        f"record '{record.label}' is not running; it cannot change"
                    )
        except sqlite3.IntegrityError as exc:
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
        record.outcome.status = _effective_status(status, host, pid, boot, proc_start)
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
                # Learnt when a later run that overlapped this one finished (paperlink.recorder.overlap).
                for path, runs in sorted(_loads(payload).get("outputs", {}).items()):
                    known = record.ambiguity(path)
                    if known is None:
                        record.ambiguous.append(Ambiguity(path=path, runs=sorted(runs)))
                    else:
                        known.runs = sorted({*known.runs, *runs})
        return record

    def _not_found(self, label: str) -> RecordNotFound:
        import difflib  # only for this message: not on every command's start-up path

        labels = [
            row[0]
            for row in self._read("SELECT label FROM records ORDER BY start_time DESC LIMIT 5000")
        ]
        near = difflib.get_close_matches(label, labels, n=3)
        hint = (
            f"did you mean {', '.join(near)}?"
            if near
            else "'paperlink list' shows the labels there are"
        )
        return RecordNotFound(f"no record labelled '{label}' in {self.path}", hint=hint)

    def label_of_output(self, path: str, sha256: str) -> str | None:
        """The newest finished record whose output ``path`` has content ``sha256`` (None if none)."""
        rows = self._read(
            "SELECT r.label FROM records r, json_each(r.data, '$.outputs') o "
            "WHERE json_extract(o.value, '$.path') = ? AND json_extract(o.value, '$.sha256') = ? "
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
        sql = (
            "SELECT label, status, start_time, duration, command, exit_status, reason, host, pid, "
            "boot_id, proc_start FROM records INDEXED BY records_for_list"
        )
        params: list[Any] = []
        where: list[str] = []
        if tag is not None:
            where.append("label IN (SELECT label FROM tags WHERE tag = ?)")
            params.append(tag)
        if job is not None:
            condition, values = job_filter(job)
            where.append(condition)
            params += values
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time DESC, label DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        tags: dict[str, list[str]] = {}
        for label, name in self._read("SELECT label, tag FROM tags ORDER BY tag"):
            tags.setdefault(label, []).append(name)
        return [
            RecordSummary(
                row[0],
                _effective_status(row[1], row[7], row[8], row[9], row[10]),
                row[2],
                row[3],
                row[4],
                row[5],
                tuple(tags.get(row[0], ())),
                row[6],
            )
            for row in self._read(sql, params)
        ]

    def running_labels(self) -> set[str]:
        """Labels of the records whose run is going on now (running, with its process there)."""
        return {
            p.label
            for p in self.running_processes()
            if _effective_status(STATUS_RUNNING, p.host, p.pid, p.boot_id, p.proc_start)
            == STATUS_RUNNING
        }

    def running_processes(self) -> list[RunningProcess]:
        """Where each record still marked running runs (host, pid, boot, process start)."""
        rows = self._read(
            "SELECT label, host, pid, boot_id, proc_start FROM records "
            "WHERE status='running'",  # a literal, matching the partial index records_running
        )
        return [RunningProcess(*row) for row in rows]

    def overlapping(self, since: str, labels: Iterable[str], exclude: str) -> list[OverlapRow]:
        """Records other than ``exclude`` that started at or after ``since`` or are among ``labels``
        (those running when a run started): the runs that may have overlapped it. One indexed query."""
        wanted = sorted(set(labels) - {exclude})
        marks = ",".join("?" * len(wanted))
        rows = self._read(
            "SELECT label, status, start_time, host, pid, boot_id, proc_start, "  # noqa: S608
            "json_extract(data, '$.project'), "
            "json_extract(data, '$.trace.tool') IS NOT NULL "
            "AND json_extract(data, '$.trace.error') IS NULL, "
            "json_extract(data, '$.declared_outputs'), "
            "(SELECT json_group_array(json_extract(o.value, '$.path')) "
            " FROM json_each(records.data, '$.outputs') o), "
            "(SELECT json_group_array(json_extract(a.value, '$.path')) "
            " FROM json_each(records.data, '$.ambiguous') a) "
            "FROM records WHERE label != ? AND (start_time >= ?"
            + (f" OR label IN ({marks})" if wanted else "")  # only placeholders
            + ")",
            (exclude, since, *wanted),
        )
        found = []
        for label, status, start, host, pid, boot, proc_start, project, traced, *lists in rows:
            declared, outputs, ambiguous = (json.loads(item) if item else [] for item in lists)
            found.append(
                OverlapRow(
                    label=label,
                    stored_status=status,
                    status=_effective_status(status, host, pid, boot, proc_start),
                    start_time=start,
                    started_since=start >= since,
                    project=project or "",
                    traced=bool(traced),
                    declared=[str(item) for item in declared],
                    claimed=[str(item) for item in [*outputs, *ambiguous] if item],
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

    # -- the mutable parts --------------------------------------------------------------------------
    def add_tags(self, label: str, tags: Iterable[str]) -> None:
        self._require(label)
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO tags (label, tag) VALUES (?, ?)", [(label, t) for t in tags]
            )

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
                "INSERT OR REPLACE INTO annotations (label, name, data) VALUES (?, ?, ?)",
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

    # -- blobs and streams --------------------------------------------------------------------------
    def put_blob(self, data: bytes, sha256: str) -> None:
        """Keep ``data`` (a diff, a parameter file) under its sha256, compressed; idempotent."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, ?)",
                (sha256, len(data), zlib.compress(data, 6)),
            )

    def get_blob(self, sha256: str) -> bytes:
        rows = self._read("SELECT data FROM blobs WHERE sha256=?", (sha256,))
        if not rows:
            raise RecordNotFound(f"no stored content with sha256:{sha256} in {self.path}")
        return zlib.decompress(rows[0][0])

    def put_stream(self, label: str, stream: str, parts: dict[str, bytes]) -> None:
        with self.transaction() as db:
            self._put_stream(db, label, stream, parts)

    @staticmethod
    def _put_stream(
        db: sqlite3.Connection, label: str, stream: str, parts: dict[str, bytes]
    ) -> None:
        db.execute("DELETE FROM streams WHERE label=? AND stream=?", (label, stream))
        db.executemany(
            "INSERT INTO streams (label, stream, part, data) VALUES (?, ?, ?, ?)",
            [(label, stream, part, zlib.compress(data, 1)) for part, data in parts.items()],
        )

    def get_stream(self, label: str, stream: str) -> dict[str, bytes]:
        """``{"head": …, "tail": …}`` (``tail`` only when the stream was too long to keep whole)."""
        rows = self._read(
            "SELECT part, data FROM streams WHERE label=? AND stream=?", (label, stream)
        )
        return {part: zlib.decompress(data) for part, data in rows}

    # -- caches -------------------------------------------------------------------------------------
    def cached_digests(
        self, paths: Iterable[str]
    ) -> dict[str, tuple[int, int, int, int, int, str, str, str]]:
        """Cached ``(size, mtime_ns, ctime_ns, inode, device, sha256, md5, sha1)`` by absolute path."""
        found: dict[str, tuple[int, int, int, int, int, str, str, str]] = {}
        wanted = list(paths)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._read(
                "SELECT path, size, mtime_ns, ctime_ns, inode, device, sha256, md5, sha1 "  # noqa: S608
                f"FROM digest_cache WHERE path IN ({marks})",
                chunk,
            ):
                found[row[0]] = tuple(row[1:])
        return found

    def remember_digests(
        self, rows: list[tuple[str, int, int, int, int, int, str, str, str]]
    ) -> None:
        """Cache ``(path, size, mtime_ns, ctime_ns, inode, device, sha256, md5, sha1)`` rows."""
        if rows:
            self._cache_write(
                "INSERT OR REPLACE INTO digest_cache (path, size, mtime_ns, ctime_ns, inode, device, "
                "sha256, md5, sha1) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def cache_get(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM tool_cache WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def cache_get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Cached values by key, for many keys in a few queries."""
        wanted = list(keys)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._read(
                f"SELECT key, value FROM tool_cache WHERE key IN ({marks})",  # noqa: S608
                chunk,
            ):
                found[key] = value
        return found

    def cache_put(self, key: str, value: str) -> None:
        self._cache_write(
            "INSERT OR REPLACE INTO tool_cache (key, value) VALUES (?, ?)", [(key, value)]
        )

    def _cache_write(self, sql: str, rows: list[Any]) -> None:
        # A cache only saves work: on a read-only or full store `verify` and `serve` go on without it,
        # and a run keeps the room it reserved for its record.
        # Inside a caller's transaction a failure is the caller's: a full disk may have rolled it all back.
        if self._db.in_transaction:
            with self.transaction() as db:
                db.executemany(sql, rows)
        elif self.read_only is None:
            with contextlib.suppress(StoreFull, StoreReadOnly), self.transaction() as db:
                db.executemany(sql, rows)


_FULL = "its file system is full"
_FILE_SIZE_LIMIT = "a file size limit (ulimit -f) stops SQLite from making its -wal and -shm files"


def _side_files_failed(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None) or 0
    return code in _SIDE_FILE_IO_ERRORS or code & 0xFF in _SIDE_FILE_ERRORS


class _RollBack(Exception):
    """Ends :meth:`RecordStore.reserve_space`'s transaction without committing it."""


def _why_read_only(path: Path) -> str:
    """Why ``path`` cannot be written, as the end of a sentence."""
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        return "it cannot be written"
    if fs.f_flag & os.ST_RDONLY:
        return "its file system is mounted read-only"
    if fs.f_bavail == 0:
        return _FULL
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only (immutable, or not writable for this user)"
    import resource

    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return _FILE_SIZE_LIMIT
    return (
        f"its folder {path.parent} is not writable, so SQLite cannot make its -wal and -shm files"
    )


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    """Run each statement of ``script`` inside the open transaction (``executescript`` would commit it)."""
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            db.execute(current)
            current = ""


def _record_data(record: Record) -> str:
    data = record.to_dict()
    for name in _MUTABLE_FIELDS:
        data.pop(name, None)
    return canonical_json(data)


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _effective_status(
    status: str, host: str | None, pid: int | None, boot: str | None, proc_start: int | None
) -> str:
    """A running row whose paperlink process is gone (on this machine) is an incomplete run."""
    if status != STATUS_RUNNING or pid is None or host != socket.gethostname():
        return status
    if boot and boot != _boot_id():
        return STATUS_INCOMPLETE
    started = _process_start(pid)
    if started is None or (proc_start is not None and started != proc_start):
        return STATUS_INCOMPLETE
    return status
