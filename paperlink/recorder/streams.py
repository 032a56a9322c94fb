"""Copy a child's stdout/stderr to the terminal as it comes, while keeping its head and tail for the record.

Bytes pass through untouched (no decoding, so non-UTF-8 output is fine); memory stays bounded by the
configured limit however much the command prints, and the full stream's size and sha256 are recorded.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from typing import IO, BinaryIO

from paperlink.core.records import StreamInfo

READ_SIZE = 64 * 1024


class StreamKeeper:
    """Keeps the first ``limit/2`` and the last ``limit/2`` bytes of a stream, and digests all of it."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.size = 0
        self._sha256 = hashlib.sha256()

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self._sha256.update(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self._tail.append(data)
            self._tail_size += len(data)
            while self._tail_size - len(self._tail[0]) >= self.half:
                self._tail_size -= len(self._tail.popleft())

    @property
    def tail(self) -> bytes:
        joined = b"".join(self._tail)
        return joined[-self.half :] if len(joined) > self.half else joined

    @property
    def truncated(self) -> bool:
        return self.size > len(self.head) + len(self.tail)

    def parts(self, budget: int | None = None) -> dict[str, bytes]:
        """What the store keeps: ``head``, plus ``tail`` when the stream did not fit in ``head``; with a
        ``budget`` (a full disk), at most that many bytes, half from each end of the stream."""
        head = bytes(self.head)
        tail = self.tail if self._tail else b""
        if budget is None or len(head) + len(tail) <= budget:
            return {"head": head, "tail": tail} if self._tail else {"head": head}
        first = budget // 2
        last = budget - first
        end = tail or head
        return {"head": head[:first], "tail": end[len(end) - last :] if last else b""}

    def info(self, budget: int | None = None) -> StreamInfo:
        stored = sum(len(part) for part in self.parts(budget).values())
        return StreamInfo(
            size=self.size,
            sha256=self._sha256.hexdigest(),
            stored_bytes=stored,
            truncated=self.size > stored,
        )


class Pump(threading.Thread):
    """A thread copying a pipe to a sink and into a :class:`StreamKeeper` until end of file or
    :meth:`stop`; after :meth:`stop` returns the keeper is no longer fed, so it can be stored."""

    def __init__(self, pipe: IO[bytes], sink: BinaryIO | None, keeper: StreamKeeper) -> None:
        super().__init__(name="paperlink-tee", daemon=True)
        self.pipe, self.sink, self.keeper = pipe, sink, keeper
        self._lock = threading.Lock()
        self._stopped = False

    def run(self) -> None:
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                break
            with self._lock:
                if not chunk or self._stopped:
                    break
                self.keeper.feed(chunk)
            if self.sink is not None:
                try:
                    self.sink.write(chunk)
                    self.sink.flush()
                except (OSError, ValueError):
                    self.sink = None  # the terminal went away; keep recording
        self.pipe.close()

    def stop(self) -> None:
        """Stop feeding the keeper (the pipe stays open while another process holds it)."""
        with self._lock:
            self._stopped = True


def tee(pipe: IO[bytes], sink: BinaryIO | None, keeper: StreamKeeper) -> Pump:
    """Start a thread copying ``pipe`` to ``sink`` (when given) and into ``keeper`` until end of file."""
    pump = Pump(pipe, sink, keeper)
    pump.start()
    return pump


def drain(pumps: list[Pump], seconds: float) -> bool:
    """Wait up to ``seconds`` in all for every pump to reach end of file; stop those that did not (a
    process the command left running still holds the pipe) and return False, True when all finished."""
    deadline = time.monotonic() + seconds
    for pump in pumps:
        pump.join(max(deadline - time.monotonic(), 0))
    if all(not pump.is_alive() for pump in pumps):
        return True
    for pump in pumps:
        pump.stop()
    return False
