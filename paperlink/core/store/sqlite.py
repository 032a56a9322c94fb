"""The embedded back end: one SQLite file, in WAL mode, written in short ``BEGIN IMMEDIATE`` transactions.

Several ``paperlink run`` processes may write at once: every write waits for the lock instead of failing.
A store on a read-only mount, a full disk or under a file size limit is still read (without the -wal and
-shm files SQLite would make beside it, when it must) and refuses writes with a message that says why.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from paperlink.core.store.backend import Backend, Writer
from paperlink.core.store.migrations import SQLITE, SchemaWriter
from paperlink.errors import StoreError, StoreFull, StoreReadOnly

BUSY_TIMEOUT_SECONDS = 120.0
# With this many times the asked-for room free, reserve_space writes nothing (see there).
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
FULL = "its file system is full"
FILE_SIZE_LIMIT = "a file size limit (ulimit -f) stops SQLite from making its -wal and -shm files"


class _SchemaWriter:
    dialect = SQLITE

    def __init__(self, db: Writer) -> None:
        self._db = db

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._db.execute(sql, params)


class SqliteBackend(Backend):
    """The store file at ``path``; raises :class:`StoreError` when it is missing (unless ``create``)."""

    dialect = SQLITE
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.location = str(path)
        if not create and not path.is_file():
            raise StoreError(
                f"no record store at {path}",
                hint="run 'paperlink init' in the project's top folder, or check the 'store' setting",
            )
        if path.exists() and not os.access(path, os.W_OK):
            self.read_only = why_read_only(path)
        self._db = self._connect("ro" if self.read_only else None)
        self._depth = 0

    def _connect(self, mode: str | None) -> sqlite3.Connection:
        """A connection; ``mode`` ``ro`` reads only, ``immutable`` also does without the -shm file."""
        path = self._file
        target: str | Path = path
        if mode is not None:
            target = f"{path.resolve().as_uri()}?{'mode=ro' if mode == 'ro' else 'immutable=1'}"
        try:
            return sqlite3.connect(
                target,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
                uri=mode is not None,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the record store {path}: {exc}") from exc

    @property
    def _file(self) -> Path:
        assert self.path is not None
        return self.path

    def _reopen_read_only(self, exc: sqlite3.Error) -> None:
        """Reading failed because SQLite cannot make the files beside the store: read without them."""
        path = self._file
        if self.read_only is None:
            self.read_only = why_read_only(path)
        self._db.close()
        self._db = self._connect("ro")
        try:
            self._db.execute("SELECT 1 FROM sqlite_master").fetchall()
            return
        except sqlite3.OperationalError as again:
            if not _side_files_failed(again):
                raise
        self._db.close()
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            # Without the -shm file the log's newest records cannot be read; immutable=1 would silently
            # show the store without them.
            raise StoreReadOnly(
                f"the record store {path} cannot be read: {self.read_only}, and its write-ahead "
                f"log {wal.name} holds changes that SQLite can only read with a {path.name}-shm "
                "file beside it",
                hint="copy the store's folder somewhere writable and point --store at the copy",
            ) from exc
        # No log: the store file is complete, and nobody can change it while SQLite cannot either.
        self._db = self._connect("immutable")

    def close(self) -> None:
        self._db.close()

    def open_schema(self, *, create: bool) -> list[str]:
        path = self._file
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
                        f"{path} is not a paperlink record store",
                        hint="point --store (or 'store' in paperlink.toml) at the project's store",
                    )
                self._db.execute("PRAGMA journal_mode=WAL")
                return []
            return self._applied()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the record store {path} is corrupted or not a SQLite file ({exc})",
                hint=f"restore it from a backup, or try 'sqlite3 {path} .recover'; "
                "paperlink has not written to it",
            ) from exc

    def _tables(self) -> set[str]:
        return {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }

    def _applied(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY rowid")]

    def after_open(self) -> None:
        self._db.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL is safe against crashes of paperlink (kill -9); it saves an fsync per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")

    def schema_writer(self, db: Writer) -> SchemaWriter:
        return _SchemaWriter(db)

    def hold_writers(self, db: Writer) -> None:
        """Nothing to take: ``BEGIN IMMEDIATE`` holds the other writers off already."""

    def begin_migration(self, db: Writer) -> None:
        # BEGIN IMMEDIATE holds other writers off already.
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL "
            "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )

    def indexed_by(self, index: str) -> str:
        return f" INDEXED BY {index}"

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the record store {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Writer]:
        """``BEGIN IMMEDIATE`` takes the write lock now, waiting for it if need be; inside one, a savepoint.

        Raises :class:`StoreReadOnly` on a store that cannot be written, :class:`StoreFull` when its file
        system is full, :class:`StoreError` for other SQLite failures; nothing of the transaction stays.
        """
        if self.read_only in (FULL, FILE_SIZE_LIMIT):
            raise self.full(self.read_only)
        if self.read_only is not None:
            raise StoreReadOnly(
                f"cannot write to the record store {self.path}: {self.read_only}",
                hint="make it writable (remount it read-write, 'chattr -i', chmod u+w) or copy it and "
                "point --store at the copy; list, show, diff, verify, serve and site work read-only",
            )
        if self._depth:
            yield from self._savepoint()
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc) from exc
        self._depth = 1
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
        finally:
            self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _savepoint(self) -> Iterator[Writer]:
        name = f"paperlink_{self._depth}"
        try:
            self._db.execute(f"SAVEPOINT {name}")
        except sqlite3.Error as exc:
            raise self._write_error(exc) from exc
        self._depth += 1
        try:
            yield self._db
            self._db.execute(f"RELEASE {name}")
        except BaseException as exc:
            # A full disk can make SQLite roll back the whole transaction, savepoint and all: then there is
            # nothing to roll back to, and the error must reach the outer transaction as what it is.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute(f"ROLLBACK TO {name}")
                    self._db.execute(f"RELEASE {name}")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise self._write_error(exc) from exc
            raise
        finally:
            self._depth -= 1

    def _write_error(self, exc: sqlite3.Error) -> StoreError:
        path = self._file
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            why = FULL
        elif code == _SQLITE_IOERR_WRITE:
            # Over a quota or a file size limit SQLite sees a failed write, not a full disk.
            why = (
                f"writing failed ({exc}): its file system may be full, over quota or failing, or a "
                "file size limit (ulimit -f) was reached"
            )
        elif code is not None and code & 0xFF == _SQLITE_READONLY:
            return StoreReadOnly(
                f"cannot write to the record store {path}: {why_read_only(path)}",
                hint="make it writable, or copy it and point --store at the copy",
            )
        else:
            return StoreError(f"cannot write to the record store {path}: {exc}")
        return self.full(why)

    def full(self, why: str) -> StoreFull:
        return StoreFull(
            f"cannot write to the record store {self.path}: {why}",
            hint=f"nothing was changed; free some space there (df {self._file.parent}) or raise the "
            "quota or file size limit (ulimit -f), and try again",
        )

    def _roomy(self, size: int) -> bool:
        import resource

        if self.path is None:
            return False
        try:
            fs = os.statvfs(self.path.parent)
        except OSError:
            return False
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return limit == resource.RLIM_INFINITY and fs.f_bavail * fs.f_frsize >= ROOMY_FACTOR * size

    def reserve_space(self, size: int) -> None:
        """SQLite writes a transaction's pages to the write-ahead log when its page cache overflows, keeps
        them there when the transaction rolls back, and overwrites them in place later: a big insert in a
        small cache, rolled back, leaves ``size`` bytes of log that later commits need no new disk space
        for. Raises :class:`StoreFull` when there is not that much room now.

        With far more room than that and no file size limit it writes nothing: a megabyte through the
        log on every run is a good part of the capture overhead, and the command would have to fill
        :data:`ROOMY_FACTOR` times as much first. (A user quota is not seen here; over one, the record
        is kept with its streams cut short, see recorder.run.)"""
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
            raise self.full(
                f"its file system has less than {size >> 10} KiB free, too little to be sure "
                "a record fits"
            ) from exc


class _RollBack(Exception):
    """Ends :meth:`SqliteBackend.reserve_space`'s transaction without committing it."""


def _side_files_failed(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None) or 0
    return code in _SIDE_FILE_IO_ERRORS or code & 0xFF in _SIDE_FILE_ERRORS


def why_read_only(path: Path) -> str:
    """Why ``path`` cannot be written, as the end of a sentence."""
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        return "it cannot be written"
    if fs.f_flag & os.ST_RDONLY:
        return "its file system is mounted read-only"
    if fs.f_bavail == 0:
        return FULL
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only (immutable, or not writable for this user)"
    import resource

    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return FILE_SIZE_LIMIT
    return (
        f"its folder {path.parent} is not writable, so SQLite cannot make its -wal and -shm files"
    )
