"""Lease events for subscribers, and the audit trail that records the same things."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ValidationError

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..clock import Clock

__all__ = ["Event", "Events", "error_text"]

log = logging.getLogger("dynsecrets")
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dynsecrets_actor", default=None
)


def error_text(exc: BaseException) -> str:
    """An error as stored and reported: its type and message, cut short."""
    return f"{type(exc).__name__}: {exc}"[:2000]


@attrs.frozen
class Event:
    """Something that happened to a lease, for metrics and alerting.

    ``kind`` is one of ``issue``, ``renew``, ``revoke`` (on request), ``expire``
    (by the worker), ``recover`` (interrupted issuance cleaned up), ``rollback``
    (failed issuance undone), ``failure`` (a failed issue, revocation or rotation,
    with ``error``), ``irrevocable``, and ``rotate`` (a scheduled rotation ran; its
    ``lease_id`` is the task's, ``@rotation/<mount>/...``).
    """

    kind: str
    lease_id: str
    mount: str
    role: str
    time: float
    error: str | None = None


class Events:
    """Delivers events to subscribers and writes the audit log."""

    def __init__(self, clock: Clock, audit: AuditLog | None, actor: str | None) -> None:
        self.clock = clock
        self.audit = audit
        self.actor = actor
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def emit(
        self,
        kind: str,
        lease_id: str,
        mount: str,
        role: str,
        error: str | None = None,
        **audit: Any,
    ) -> None:
        self.record(
            f"lease.{kind}", f"{mount}/creds/{role}", lease_id=lease_id, error=error, **audit
        )
        if not self._subscribers:
            return
        event = Event(kind, lease_id, mount, role, self.clock.now(), error)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed", callback)

    def current_actor(self) -> str:
        """Who the operation in progress is for: ``acting_as``, else the engine's actor."""
        return _actor.get() or self.actor or ""

    @contextlib.contextmanager
    def acting_as(self, actor: str) -> Iterator[None]:
        token = _actor.set(actor)
        try:
            yield
        finally:
            _actor.reset(token)

    def record(
        self, operation: str, path: str, *, lease_id: str | None = None, **fields: Any
    ) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(
                operation, path, actor=_actor.get() or self.actor, lease_id=lease_id, **fields
            )
        except Exception:  # the audit sink failing must be loud, but not lose a lease
            log.exception("audit sink failed for %s %s", operation, path)

    def hashed(self, data: Any, secret_keys: Any) -> dict[str, Any] | None:
        return None if self.audit is None else self.audit.hashed(data, secret_keys)

    def audit_hash(self, value: Any) -> str:
        if self.audit is None:
            raise ValidationError("audit", "this engine has no audit log; open it with audit=...")
        return self.audit.hash(value)
