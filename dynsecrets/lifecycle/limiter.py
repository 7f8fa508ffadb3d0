"""Adaptive concurrency and call rate per mount: AIMD, as TCP does it.

Clouds throttle (AWS IAM, Azure Graph and ARM, GCP IAM all do), so a bulk
revocation or an expiry storm is bounded by the rate the cloud allows. Each mount
has one :class:`Limiter`, shared by the expiry worker, ``revoke_prefix`` and
issuance (they hold a *slot* per operation), and each of its cloud calls goes
through it (:func:`dynsecrets.retry.gated`):

- slots: at most ``limit`` operations at once. Each successful call adds
  ``1/limit`` (about one slot per ``limit`` successes: additive increase); a
  throttled or transiently failed call multiplies it by ``decrease``, down to
  ``minimum``.
- pace: unpaced until the cloud first throttles. Then calls start at most
  ``rate`` per second, ``rate`` being ``rate_decrease`` times the success rate
  measured over the last ``window`` seconds (what the cloud let through); each
  success adds ``rate_step + 1/rate`` calls/s (so the pace grows by about
  ``rate_step`` of itself plus one call/s every second), each later throttle
  cuts it again. The cloud's allowance is probed, not guessed: the
  pace runs between ``rate_decrease`` times it and just above it, and a throttled
  call is retried at the pace instead of backing off on its own.

Calls granted before a decrease carry an older *epoch*; their throttles were
already answered by that decrease and are ignored, so one burst of rejections
cuts once, not once per call in flight. Waiting uses the engine's clock, so tests
with a :class:`~dynsecrets.clock.ManualClock` are deterministic.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from ..retry import current_gate, gated

if TYPE_CHECKING:
    from ..clock import Clock

__all__ = ["Limiter"]


class Limiter:
    """One mount's adaptive limits. Thread-safe; see the module docstring."""

    def __init__(
        self,
        clock: Clock,
        *,
        initial: float = 8,
        minimum: float = 1,
        maximum: float = 64,
        decrease: float = 0.5,
        rate_decrease: float = 0.9,
        rate_step: float = 0.05,
        min_rate: float = 1.0,
        window: float = 1.0,
    ) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError("need 1 <= minimum <= initial <= maximum")
        self.clock = clock
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.decrease = decrease
        self.rate_decrease = rate_decrease
        self.rate_step = rate_step
        self.min_rate = min_rate
        self.window = window
        #: Operations allowed at once (a float: it grows by fractions).
        self.limit = float(initial)
        #: Calls per second once the cloud has throttled; None: unpaced.
        self.rate: float | None = None
        self.in_flight = 0
        self.throttles = 0
        self._epoch = 0
        self._next = 0.0  # when the next paced call may start
        self._ok: deque[float] = deque()  # times of recent successes
        self._first_ok: float | None = None
        self._cond = threading.Condition(threading.Lock())

    # -- slots: one per operation ----------------------------------------------------
    def slot(self) -> _Slot:
        """``with limiter.slot():`` hold a slot for one operation and pace its cloud
        calls. Re-entrant: an operation nested in one of the same mount (a
        rollback) uses the outer slot."""
        return _Slot(self)

    def _acquire(self) -> None:
        with self._cond:
            while self.in_flight >= max(1, int(self.limit)):
                self._cond.wait()
            self.in_flight += 1

    def _release(self, ok: bool, calls: int) -> None:
        with self._cond:
            self.in_flight -= 1
            if ok and calls == 0:
                # An operation with no paced call (a provider that does not go
                # through the retry policy) still shows the mount copes: grow.
                self.limit = min(self.maximum, self.limit + 1.0 / self.limit)
            self._cond.notify()

    # -- the CallGate the retry loop reports to -------------------------------------
    def reserve(self) -> tuple[float, int]:
        with self._cond:
            if self.rate is None:
                return 0.0, self._epoch
            now = self.clock.now()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            return start - now, self._epoch

    def succeeded(self, epoch: int) -> None:
        with self._cond:
            now = self.clock.now()
            if self._first_ok is None:
                self._first_ok = now
            self._ok.append(now)
            self._trim(now)
            grew = int(self.limit)
            self.limit = min(self.maximum, self.limit + 1.0 / self.limit)
            if self.rate is not None:
                self.rate += self.rate_step + 1.0 / self.rate
            if int(self.limit) > grew:
                self._cond.notify()

    def failed(self, epoch: int, *, throttled: bool) -> None:
        with self._cond:
            if epoch != self._epoch:
                return  # sent before the last decrease, which already answered it
            self._epoch += 1
            self.limit = max(self.minimum, self.limit * self.decrease)
            if not throttled:
                return  # a fault, not a rate limit: fewer at once, no pace
            self.throttles += 1
            now = self.clock.now()
            self._trim(now)
            measured = self._measured(now)
            # Never below half the pace at once, nor above what got through.
            base = measured if self.rate is None else min(self.rate, max(measured, self.rate / 2))
            self.rate = max(self.min_rate, self.rate_decrease * base)
            # The cloud just said no: leave it one interval before the next call.
            self._next = max(self._next, now + 1.0 / self.rate)

    def _trim(self, now: float) -> None:
        while self._ok and self._ok[0] <= now - self.window:
            self._ok.popleft()

    def _measured(self, now: float) -> float:
        """Successes per second over the window (or since the first, if sooner)."""
        if self._first_ok is None:
            return 0.0
        span = min(self.window, max(now - self._first_ok, 0.1))
        return len(self._ok) / span

    def __repr__(self) -> str:
        rate = "unpaced" if self.rate is None else f"{self.rate:.1f}/s"
        return f"Limiter(limit={self.limit:.1f}, in_flight={self.in_flight}, rate={rate})"


class _Slot:
    """One operation's slot (a class, not a generator: it is on every issue's and
    revoke's path)."""

    __slots__ = ("gated", "limiter", "nested")

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def __enter__(self) -> None:
        self.nested = current_gate() is self.limiter
        if self.nested:
            return
        self.limiter._acquire()
        self.gated = gated(self.limiter)
        self.gated.__enter__()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.nested:
            return
        self.gated.__exit__()
        self.limiter._release(exc_type is None, self.gated.binding.calls)
