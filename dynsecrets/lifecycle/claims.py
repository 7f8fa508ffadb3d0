"""Claims with a heartbeat.

A worker revoking a lease, and an issuer creating one, each hold a claim on the
lease row: an owner token and a deadline ``claim_ttl`` seconds ahead. While the
holder lives, a heartbeat keeps moving the deadline; when it dies, the deadline
passes and another process takes the lease over within one ``claim_ttl``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..clock import Clock
    from ..store import Store

__all__ = ["Heartbeat", "new_owner"]

log = logging.getLogger("dynsecrets.claims")


def new_owner(kind: str) -> str:
    """A claim owner token that says who holds the claim, for operators reading the store."""
    return f"{kind}:{_host()[:40]}:{os.getpid()}:{os.urandom(6).hex()}"


def _host() -> str:
    # os.uname rather than the socket module: importing socket costs a few ms at open.
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # pragma: no cover (Windows)

    return socket.gethostname()  # pragma: no cover


class Heartbeat:
    """Extends the claims of every owner that :meth:`hold` registers, every third of
    ``claim_ttl``, on one daemon thread started on first use."""

    def __init__(self, store: Store, clock: Clock, claim_ttl: float) -> None:
        self.store = store
        self.clock = clock
        self.claim_ttl = claim_ttl
        self._owners: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def deadline(self) -> float:
        return self.clock.now() + self.claim_ttl

    def hold(self, owner: str) -> _Hold:
        """``with heartbeat.hold(owner):`` keep ``owner``'s claims alive for the
        duration of the block."""
        return _Hold(self, owner)

    def _add(self, owner: str) -> None:
        with self._lock:
            self._owners[owner] += 1
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._loop, name="dynsecrets-heartbeat", daemon=True
                )
                self._thread.start()

    def _drop(self, owner: str) -> None:
        with self._lock:
            self._owners[owner] -= 1
            if self._owners[owner] <= 0:
                del self._owners[owner]

    def beat(self) -> int:
        """Extend every held claim now; returns how many rows moved. The thread calls
        this on its own; tests call it to step time deterministically."""
        with self._lock:
            owners = list(self._owners)
        moved = 0
        for owner in owners:
            try:
                moved += self.store.extend_claims(owner, self.deadline())
            except Exception as exc:  # the next beat retries; the claim TTL is the margin
                log.warning("heartbeat for %s failed: %s", owner, exc)
        return moved

    def _loop(self) -> None:
        while not self._wake.wait(max(0.05, self.claim_ttl / 3)):
            self.beat()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)


class _Hold:
    """A class, not a generator: it is on every issue's path."""

    __slots__ = ("heartbeat", "owner")

    def __init__(self, heartbeat: Heartbeat, owner: str) -> None:
        self.heartbeat = heartbeat
        self.owner = owner

    def __enter__(self) -> None:
        self.heartbeat._add(self.owner)

    def __exit__(self, *exc: object) -> None:
        self.heartbeat._drop(self.owner)
