"""Retry of transient cloud errors: exponential backoff with jitter, inside a time budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .clock import Clock, SystemClock
from .errors import TransientProviderError

if TYPE_CHECKING:
    import random

__all__ = ["RetryPolicy"]

T = TypeVar("T")


def _new_rng() -> Any:
    import random

    return random.Random()  # noqa: S311 (jitter, not secrets)


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class RetryPolicy:
    """Retry :class:`TransientProviderError` until ``budget`` seconds have passed.

    Waits ``initial * 2**attempt`` seconds (capped at ``maximum``), +-50 % jitter.
    The clock is injected, so with a :class:`~dynsecrets.clock.ManualClock`
    retries take no wall time.
    """

    budget: float = 30.0
    initial: float = 0.2
    maximum: float = 5.0
    clock: Clock = attrs.field(factory=SystemClock)
    rng: random.Random = attrs.field(
        factory=lambda: _new_rng(), eq=False, repr=False
    )  # jitter only

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * (2**attempt))
        return float(base * (0.5 + self.rng.random()))

    def call(self, fn: Callable[[], T], *, budget: float | None = None) -> T:
        deadline = self.clock.now() + (self.budget if budget is None else budget)
        attempt = 0
        while True:
            try:
                return fn()
            except TransientProviderError:
                wait = self.delay(attempt)
                if self.clock.now() + wait > deadline:
                    raise
                self.clock.sleep(wait)
                attempt += 1

    def with_clock(self, clock: Clock) -> RetryPolicy:
        return attrs.evolve(self, clock=clock)
