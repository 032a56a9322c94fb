"""What a record store keeps beside the records: stored contents (blobs), streams, and the caches.

A mixin of :class:`~paperlink.core.store.recordstore.RecordStore`, in SQL both back ends read.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from paperlink.core.envpackages import Environment, digest_of
from paperlink.core.store.backend import Backend, Writer
from paperlink.errors import RecordNotFound, StoreError, StoreFull, StoreReadOnly

DigestRow = tuple[int, int, int, int, int, str, str, str]


class StoredContents:
    _backend: Backend
    location: str

    def transaction(self) -> contextlib.AbstractContextManager[Writer]:
        raise NotImplementedError

    def put_blob(self, data: bytes, sha256: str) -> None:
        """Keep ``data`` (a diff, a parameter file) under its sha256, compressed; idempotent."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (sha256, len(data), zlib.compress(data, 6)),
            )

    def get_blob(self, sha256: str) -> bytes:
        rows = self._backend.read("SELECT data FROM blobs WHERE sha256=?", (sha256,))
        if not rows:
            raise RecordNotFound(f"no stored content with sha256:{sha256} in {self.location}")
        return zlib.decompress(rows[0][0])

    def has_blobs(self, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` the store holds (one query per 500)."""
        return {
            row[0]
            for row in self._in_chunks("SELECT sha256 FROM blobs WHERE sha256 IN ({})", digests)
        }

    def put_stream(self, label: str, stream: str, parts: dict[str, bytes]) -> None:
        with self.transaction() as db:
            put_stream(db, label, stream, parts)

    def get_stream(self, label: str, stream: str) -> dict[str, bytes]:
        """``{"head": …, "tail": …}`` (``tail`` only when the stream was too long to keep whole)."""
        rows = self._backend.read(
            "SELECT part, data FROM streams WHERE label=? AND stream=?", (label, stream)
        )
        return {part: zlib.decompress(data) for part, data in rows}

    def put_environment(self, environment: Environment) -> str:
        """Keep ``environment`` once under its digest (idempotent); returns the digest."""
        canonical = environment.to_json()
        digest, text = digest_of(canonical), canonical.encode()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO environments (digest, size, data) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (digest, len(text), zlib.compress(text, 6)),
            )
        return digest

    def get_environment(self, digest: str) -> Environment:
        """The environment stored under ``digest``; raises :class:`RecordNotFound`, or
        :class:`StoreError` when the stored content cannot be read back."""
        return self.parse_environment(self.get_environment_bytes(digest), digest)

    def parse_environment(self, data: bytes, digest: str) -> Environment:
        """The environment in ``data`` (as :meth:`get_environment_bytes` gave it for ``digest``); raises
        :class:`StoreError` when it cannot be read back."""
        try:
            return Environment.from_json(data.decode())
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"the environment {digest} in {self.location} is damaged ({exc})",
                hint="restore the store from a backup, or re-run the records that name it",
            ) from exc

    def get_environment_bytes(self, digest: str) -> bytes:
        """The canonical JSON stored under ``digest``, as stored: its sha256 is ``digest`` unless the row
        was changed. Raises :class:`RecordNotFound`, or :class:`StoreError` when it does not decompress."""
        rows = self._backend.read("SELECT data FROM environments WHERE digest=?", (digest,))
        if not rows:
            raise RecordNotFound(
                f"no environment {digest} in {self.location}",
                hint="the record came from another store: import it with 'paperlink store import'",
            )
        try:
            return zlib.decompress(rows[0][0])
        except zlib.error as exc:
            raise StoreError(
                f"the environment {digest} in {self.location} does not decompress ({exc})",
                hint="restore the store from a backup, or re-run the records that name it",
            ) from exc

    def cached_digests(self, paths: Iterable[str]) -> dict[str, DigestRow]:
        """Cached ``(size, mtime_ns, ctime_ns, inode, device, sha256, md5, sha1)`` by absolute path."""
        return {
            row[0]: tuple(row[1:])
            for row in self._in_chunks(
                "SELECT path, size, mtime_ns, ctime_ns, inode, device, sha256, md5, sha1 "
                "FROM digest_cache WHERE path IN ({})",
                paths,
            )
        }

    def _in_chunks(self, sql: str, values: Iterable[str]) -> Iterator[Any]:
        wanted = list(values)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            yield from self._backend.read(sql.format(",".join("?" * len(chunk))), chunk)

    def remember_digests(
        self, rows: list[tuple[str, int, int, int, int, int, str, str, str]]
    ) -> None:
        """Cache ``(path, size, mtime_ns, ctime_ns, inode, device, sha256, md5, sha1)`` rows."""
        if rows:
            self._cache_write(
                "INSERT INTO digest_cache (path, size, mtime_ns, ctime_ns, inode, device, sha256, md5, "
                "sha1) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (path) DO UPDATE SET size=excluded.size, "
                "mtime_ns=excluded.mtime_ns, ctime_ns=excluded.ctime_ns, inode=excluded.inode, "
                "device=excluded.device, sha256=excluded.sha256, md5=excluded.md5, sha1=excluded.sha1",
                rows,
            )

    def cache_get(self, key: str) -> str | None:
        rows = self._backend.read("SELECT value FROM tool_cache WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def cache_get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Cached values by key, for many keys in a few queries."""
        wanted = list(keys)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._backend.read(
                f"SELECT key, value FROM tool_cache WHERE key IN ({marks})",  # noqa: S608
                chunk,
            ):
                found[key] = value
        return found

    def cache_put(self, key: str, value: str) -> None:
        self._cache_write(
            "INSERT INTO tool_cache (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            [(key, value)],
        )

    def _cache_write(self, sql: str, rows: list[Any]) -> None:
        # A cache only saves work: on a read-only or full store `verify` and `serve` go on without it,
        # and a run keeps the room it reserved for its record.
        if self._backend.in_transaction:
            # Inside a caller's transaction a failure is the caller's: a full disk may have rolled it
            # all back, and going on as if the cache row were merely missing would hide that.
            with self.transaction() as db:
                db.executemany(sql, sorted(rows))
        elif self._backend.read_only is None:
            # Rows in key order: two runs caching the same files at once then lock them in the same
            # order, so one waits for the other; in any order PostgreSQL finds them deadlocked.
            with contextlib.suppress(StoreFull, StoreReadOnly), self.transaction() as db:
                db.executemany(sql, sorted(rows))


def put_stream(db: Writer, label: str, stream: str, parts: dict[str, bytes]) -> None:
    db.execute("DELETE FROM streams WHERE label=? AND stream=?", (label, stream))
    db.executemany(
        "INSERT INTO streams (label, stream, part, data) VALUES (?, ?, ?, ?)",
        [(label, stream, part, zlib.compress(data, 1)) for part, data in parts.items()],
    )
