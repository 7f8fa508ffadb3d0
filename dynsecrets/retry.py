"""Retry of transient cloud errors: exponential backoff with jitter, inside one
deadline per operation.

An operation (issue, revoke, renew, rotate) sets its deadline once with
:func:`operation_deadline`; every cloud call it makes, and every retry of those
calls, shares what is left of it. So an unreachable endpoint costs one deadline
per operation, not one retry budget per call.

An operation may also run behind a :class:`CallGate` (its mount's adaptive limiter,
:mod:`dynsecrets.lifecycle.limiter`), bound like the deadline with :func:`gated`:
each cloud call first waits for the gate's pacing, then reports to it whether it
succeeded, was throttled or failed transiently. A throttled call is then retried
at the gate's pace rather than after an exponential backoff: the gate has already
slowed every caller of the mount, and backing off on top would leave the cloud's
allowance unused.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from .clock import Clock, SystemClock
from .errors import OperationTimeout, TransientProviderError

if TYPE_CHECKING:
    import random

__all__ = [
    "CallGate",
    "OperationTimeout",
    "RetryPolicy",
    "current_gate",
    "gated",
    "operation_deadline",
    "remaining",
]

T = TypeVar("T")

# (deadline, clock, operation) of the operation running on this thread or task.
_deadline: contextvars.ContextVar[tuple[float, Clock, str] | None] = contextvars.ContextVar(
    "dynsecrets_deadline", default=None
)


class CallGate(Protocol):
    """What paces an operation's cloud calls and learns from their outcomes."""

    def reserve(self) -> tuple[float, int]:
        """Seconds to wait before the next call, and the gate's epoch to report with."""
        ...

    def succeeded(self, epoch: int) -> None: ...

    def failed(self, epoch: int, *, throttled: bool) -> None: ...


class _Binding:
    """One operation's use of a gate (one thread or task): ``credit`` is a pacing
    turn already waited for by an outer :meth:`RetryPolicy.call` (the lifecycle's,
    around a whole provider operation) that the first call nested in it uses, so a
    provider retrying its own SDK calls is paced once per SDK call, not twice.
    ``calls`` counts attempts, so only the innermost success is reported."""

    __slots__ = ("calls", "credit", "gate")

    def __init__(self, gate: CallGate) -> None:
        self.gate = gate
        self.credit: int | None = None
        self.calls = 0


_gate: contextvars.ContextVar[_Binding | None] = contextvars.ContextVar(
    "dynsecrets_gate", default=None
)


class _Gated:
    """``with gated(gate) as binding``: a class, not a generator, since it is on
    every issue's and revoke's path."""

    __slots__ = ("binding", "token")

    def __init__(self, gate: CallGate) -> None:
        self.binding = _Binding(gate)

    def __enter__(self) -> _Binding:
        self.token = _gate.set(self.binding)
        return self.binding

    def __exit__(self, *exc: object) -> None:
        _gate.reset(self.token)


def gated(gate: CallGate) -> _Gated:
    """Pace the cloud calls made inside with ``gate`` and report their outcomes."""
    return _Gated(gate)


def current_gate() -> CallGate | None:
    binding = _gate.get()
    return None if binding is None else binding.gate


class _Deadline:
    __slots__ = ("clock", "operation", "seconds", "token")

    def __init__(self, seconds: float, clock: Clock, operation: str) -> None:
        self.seconds = seconds
        self.clock = clock
        self.operation = operation

    def __enter__(self) -> None:
        outer = _deadline.get()
        deadline = self.clock.now() + self.seconds
        if outer is not None and outer[0] < deadline:
            deadline = outer[0]
        self.token = _deadline.set((deadline, self.clock, self.operation))

    def __exit__(self, *exc: object) -> None:
        _deadline.reset(self.token)


def operation_deadline(seconds: float, clock: Clock, operation: str) -> _Deadline:
    """Give the calls made inside one shared deadline (``with``). A nested deadline
    can only shorten the one around it."""
    return _Deadline(seconds, clock, operation)


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
    #: Jitter only. Made on first use: importing ``random`` is a cost at open.
    rng: random.Random | None = attrs.field(default=None, eq=False, repr=False)

    def delay(self, attempt: int) -> float:
        rng = self.rng
        if rng is None:
            rng = _new_rng()
            object.__setattr__(self, "rng", rng)  # frozen; a cache, not a change
        base = min(self.maximum, self.initial * (2**attempt))
        return float(base * (0.5 + rng.random()))

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
        binding = _gate.get()
        if binding is None:
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
        return self._gated(fn, binding, deadline, current[2] if current else "call")

    def _gated(self, fn: Callable[[], T], binding: _Binding, deadline: float, operation: str) -> T:
        attempt = 0
        while True:
            if binding.credit is not None:  # the outer call waited for this turn
                epoch, binding.credit = binding.credit, None
            else:
                wait, epoch = binding.gate.reserve()
                if self.clock.now() + wait > deadline:
                    raise OperationTimeout(
                        "throttled: the mount's lowered call rate leaves no turn before the "
                        "deadline",
                        operation=operation,
                        code="DeadlineExceeded",
                    )
                self.clock.sleep(wait)
            binding.calls += 1
            mine = binding.calls
            binding.credit = epoch
            try:
                result = fn()
            except TransientProviderError as exc:
                binding.credit = None
                throttled = exc.throttled
                if not getattr(exc, "_gate_reported", False):
                    # Reported once, by the innermost call that saw it.
                    exc._gate_reported = True  # type: ignore[attr-defined]
                    binding.gate.failed(epoch, throttled=throttled)
                # Throttled: the gate paces the retry. Otherwise (a 5xx, an outage):
                # back off as without a gate.
                wait = 0.0 if throttled else self.delay(attempt)
                if self.clock.now() + wait > deadline:
                    raise
                self.clock.sleep(wait)
                attempt += 1
                continue
            except BaseException:
                binding.credit = None
                raise
            binding.credit = None
            if binding.calls == mine:  # no call nested in this one: it was a cloud call
                binding.gate.succeeded(epoch)
            return result

    def with_clock(self, clock: Clock) -> RetryPolicy:
        return attrs.evolve(self, clock=clock)
