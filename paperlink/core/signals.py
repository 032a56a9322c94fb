"""Catching SIGINT, SIGTERM and SIGHUP while a run's command works, so that paperlink records how it ended
(and removes its container) instead of dying first. Subclasses say what a signal does."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class SignalTrap:
    """A context manager: while inside, the signals call :meth:`handle` and are listed in ``received``.

    Handlers can only be set from the main thread; elsewhere (an API call from a worker thread) the trap
    does nothing and the signals keep their usual effect.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, received: list[int]) -> None:
        self.received = received
        self._previous: dict[int, Any] = {}

    def handle(self, number: int) -> None:
        """What a caught signal does besides being recorded (nothing by default)."""

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self.received.append(number)
        self.handle(number)

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._on_signal)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
