"""What the record store asks of a database: the few things SQLite and PostgreSQL do differently.

:class:`~paperlink.core.store.recordstore.RecordStore` writes its queries once, with ``?`` placeholders and
``INSERT … ON CONFLICT`` upserts that both dialects read; a :class:`Backend` runs them, opens and checks
the schema, takes the locks, and turns the driver's errors into :mod:`paperlink.errors`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from paperlink.core.store.migrations import SchemaWriter


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...


class Writer(Protocol):
    """The connection inside a transaction: ``execute`` one statement, ``executemany`` for many rows."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class Backend(abc.ABC):
    """One open database. ``location`` names it in messages (never with a password)."""

    dialect: str
    location: str
    # The store's file, for a file store (its files are never a run's outputs); None on a server.
    path: Path | None = None
    # Why the store cannot be written (None: it can). Reading works all the same.
    read_only: str | None = None
    integrity_errors: tuple[type[Exception], ...] = ()

    @abc.abstractmethod
    def open_schema(self, *, create: bool) -> list[str]:
        """The names of the migrations applied (none for a new store when ``create``); raises
        :class:`StoreError` when the database is not a paperlink store or cannot be read."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Writer]:
        """One write transaction (a savepoint when one is open already): all of it or nothing."""

    @property
    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection."""

    @abc.abstractmethod
    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query; raises :class:`StoreError`."""

    @abc.abstractmethod
    def schema_writer(self, db: Writer) -> SchemaWriter:
        """What a migration writes through, inside the migrating transaction."""

    @abc.abstractmethod
    def begin_migration(self, db: Writer) -> None:
        """Inside the migrating transaction: hold other migrators off and make the migrations table."""

    @abc.abstractmethod
    def after_open(self) -> None:
        """Session settings once the schema is current."""

    @abc.abstractmethod
    def reserve_space(self, size: int) -> None:
        """Make sure writes of about ``size`` bytes will succeed (where the store owns its disk)."""

    @abc.abstractmethod
    def hold_writers(self, db: Writer) -> None:
        """Inside a write transaction: keep every other writer waiting until it ends. SQLite's
        ``BEGIN IMMEDIATE`` does that already; a server back end takes a lock."""

    def indexed_by(self, index: str) -> str:
        """An index hint, where the dialect takes one."""
        return ""

    def json_array(self, column: str, key: str) -> tuple[str, str]:
        """A table expression over the array ``column.key`` and the SQL of one element's ``field``
        (with ``{field}``) for it."""
        return f"json_each({column}, '$.{key}') o", "json_extract(o.value, '$.{field}')"

    @abc.abstractmethod
    def close(self) -> None: ...
