"""Time as an injected dependency, so tests never sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "ServerClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Seconds since the epoch, and a way to wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to. ``sleep`` advances it at once."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        """Move forward (or, to simulate a clock jump, backward) by ``seconds``."""
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"


class ServerClock:
    """The clock of a shared store's server, read through the local clock.

    Nodes whose clocks disagree must still agree on when a lease is due and when
    a claim lapses, so on PostgreSQL the engine tells time by the database. It
    reads the server's time every ``resync`` seconds (correcting for the round
    trip) and counts the time between reads on the local monotonic clock, so a
    node's wall-clock skew, or a jump, has no effect.
    """

    def __init__(
        self, server_time: Callable[[], float], *, local: Clock | None = None, resync: float = 10.0
    ) -> None:
        self._server_time = server_time
        self._local = local or SystemClock()
        self._resync = resync
        self._lock = threading.Lock()
        self._offset = 0.0
        self._synced_at: float | None = None  # monotonic

    def _sync(self) -> None:
        before = self._local.now()
        server = self._server_time()
        after = self._local.now()
        self._offset = server - (before + after) / 2
        self._synced_at = time.monotonic()

    def now(self) -> float:
        with self._lock:
            if self._synced_at is None or time.monotonic() - self._synced_at > self._resync:
                self._sync()
            return self._local.now() + self._offset

    def sleep(self, seconds: float) -> None:
        self._local.sleep(seconds)

    def __repr__(self) -> str:
        return f"ServerClock(offset={self._offset:+.3f}s)"
