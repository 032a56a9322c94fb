"""The record store's schema: named migrations, applied in order, the same list for every back end.

A migration is one function of a :class:`SchemaWriter`. It writes SQLite's SQL; the PostgreSQL back end
translates the column types and defaults (:func:`paperlink.core.store.postgres.translate_ddl`), so most
migrations need no dialect branch at all. Where the dialects truly differ (triggers) a migration asks
``db.dialect``. Each migration runs in one transaction with the row that records it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class SchemaWriter(Protocol):
    """What a migration gets: the dialect's name and a way to run one statement."""

    dialect: str

    def execute(self, sql: str, params: Any = ...) -> Any: ...


_INITIAL_TABLES = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE records (
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
        )""",
    "CREATE INDEX records_by_start ON records (start_time)",
    """CREATE TABLE tags (
            label TEXT NOT NULL REFERENCES records (label),
            tag TEXT NOT NULL,
            PRIMARY KEY (label, tag)
        )""",
    "CREATE INDEX tags_by_tag ON tags (tag)",
    """CREATE TABLE annotations (
            label TEXT NOT NULL REFERENCES records (label),
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (label, name)
        )""",
    "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL)",
    """CREATE TABLE streams (
            label TEXT NOT NULL REFERENCES records (label),
            stream TEXT NOT NULL,
            part TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (label, stream, part)
        )""",
    """CREATE TABLE digest_cache (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            md5 TEXT NOT NULL,
            sha1 TEXT NOT NULL
        )""",
    "CREATE TABLE tool_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER records_finished_are_immutable
        BEFORE UPDATE OF label, run_id, status, start_time, command, data ON records
        WHEN OLD.status != 'running'
        BEGIN SELECT RAISE(ABORT, 'paperlink: a finished record is immutable'); END""",
    """CREATE TRIGGER records_are_append_only BEFORE DELETE ON records
        BEGIN SELECT RAISE(ABORT, 'paperlink: records are append-only'); END""",
]

# The same guarantees in PL/pgSQL; ERRCODE 23000 makes them integrity errors, as SQLite's RAISE(ABORT) is.
_POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION paperlink_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'paperlink: records are append-only' USING ERRCODE = '23000';
            END IF;
            IF OLD.status <> 'running' AND (NEW.label, NEW.run_id, NEW.status, NEW.start_time,
                    NEW.command, NEW.data) IS DISTINCT FROM (OLD.label, OLD.run_id, OLD.status,
                    OLD.start_time, OLD.command, OLD.data) THEN
                RAISE EXCEPTION 'paperlink: a finished record is immutable' USING ERRCODE = '23000';
            END IF;
            RETURN NEW;
        END $$""",
    """CREATE TRIGGER records_finished_are_immutable BEFORE UPDATE ON records
        FOR EACH ROW EXECUTE FUNCTION paperlink_records_guard()""",
    """CREATE TRIGGER records_are_append_only BEFORE DELETE ON records
        FOR EACH ROW EXECUTE FUNCTION paperlink_records_guard()""",
]


def _migration_initial(db: SchemaWriter) -> None:
    for statement in _INITIAL_TABLES:
        db.execute(statement)
    if db.dialect == POSTGRESQL:
        # SQLite's implicit rowid keeps insertion order for 'labels()'; PostgreSQL needs it spelt out.
        db.execute("ALTER TABLE records ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY")
    for statement in _SQLITE_TRIGGERS if db.dialect == SQLITE else _POSTGRESQL_TRIGGERS:
        db.execute(statement)


def _migration_list_index(db: SchemaWriter) -> None:
    # `paperlink list` reads only these columns: a covering index spares it the records' JSON pages.
    db.execute(
        "CREATE INDEX records_for_list ON records (start_time, label, status, duration, command, "
        "exit_status, reason, host, pid, boot_id, proc_start)"
    )


def _migration_digest_cache_ctime(db: SchemaWriter) -> None:
    # Size, mtime and inode can all be put back after a rewrite in place (touch -d, cp -p, os.utime); the
    # change time and the device cannot, so they join the key. Old rows lack them and are dropped.
    db.execute("DROP TABLE digest_cache")
    db.execute(
        "CREATE TABLE digest_cache (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, "
        "device INTEGER NOT NULL, sha256 TEXT NOT NULL, md5 TEXT NOT NULL, sha1 TEXT NOT NULL)"
    )


def _migration_running_index(db: SchemaWriter) -> None:
    # Every run asks which runs are going on (recorder.overlap): a partial index holds just those rows,
    # so the question costs the same with a hundred records or a hundred thousand.
    db.execute("CREATE INDEX records_running ON records (status) WHERE status = 'running'")


def _migration_environments(db: SchemaWriter) -> None:
    # One row per environment, named by the sha256 of its canonical JSON: runs refer to it by digest.
    db.execute(
        "CREATE TABLE IF NOT EXISTS environments (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "data BLOB NOT NULL, created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )


def _migration_end_index(db: SchemaWriter) -> None:
    # Every run's finish asks which runs ended since it began (recorder.overlap): by index, not a scan.
    db.execute("CREATE INDEX records_by_end ON records (end_time)")


# Named migrations, applied in order, each in one transaction with the row that records it. A new one is
# one function here, for both back ends.
MIGRATIONS: list[tuple[str, Callable[[SchemaWriter], None]]] = [
    ("0001_initial", _migration_initial),
    ("0002_list_index", _migration_list_index),
    ("0003_digest_cache_ctime", _migration_digest_cache_ctime),
    ("0004_running_index", _migration_running_index),
    ("0005_environments", _migration_environments),
    ("0006_end_index", _migration_end_index),
]
SCHEMA_VERSION = len(MIGRATIONS)
