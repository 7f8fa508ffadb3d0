"""Retry of transient cloud errors: exponential backoff with jitter, inside one
deadline per operation.

An operation (issue, revoke, renew, rotate) sets its deadline once with
:func:`operation_deadline`; every cloud call it makes, and every retry of those
calls, shares what is left of it. So an unreachable endpoint costs one deadline
per operation, not one retry budget per call.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .clock import Clock, SystemClock
from .errors import OperationTimeout, TransientProviderError

if TYPE_CHECKING:
    import random

__all__ = ["OperationTimeout", "RetryPolicy", "operation_deadline", "remaining"]

T = TypeVar("T")

# (deadline, clock, operation) of the operation running on this thread or task.
_deadline: contextvars.ContextVar[tuple[float, Clock, str] | None] = contextvars.ContextVar(
    "dynsecrets_deadline", default=None
)


@contextmanager
def operation_deadline(seconds: float, clock: Clock, operation: str) -> Iterator[None]:
    """Give the calls made inside one shared deadline. A nested deadline can only
    shorten the one around it."""
    outer = _deadline.get()
    deadline = clock.now() + seconds
    if outer is not None and outer[0] < deadline:
        deadline = outer[0]
    token = _deadline.set((deadline, clock, operation))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(default: float | None = None) -> float | None:
    """Seconds left of the current operation's deadline (``default`` outside one).
    Providers use it to bound an SDK call's own timeouts."""
    current = _deadline.get()
    if current is None:
        return default
    return max(0.0, current[0] - current[1].now())


def _new_rng() -> Any:
    import random

    return random.Random()  # noqa: S311 (jitter, not secrets)


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class RetryPolicy:
    """Retry :class:`TransientProviderError` until ``budget`` seconds have passed,
    or the current operation's deadline, whichever comes first.

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
        current = _deadline.get()
        if current is not None:
            deadline = min(deadline, current[0])
            if self.clock.now() >= current[0]:
                raise OperationTimeout(
                    f"the {current[2]} deadline passed before this call; raise "
                    "operation_timeout if the cloud is slow",
                    operation=current[2],
                    code="DeadlineExceeded",
                )
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
