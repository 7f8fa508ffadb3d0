"""A latest expiry for the leases issued or renewed in a block of code.

A front end that ties leases to a session (the HTTP server ties them to the token
that asked, as Vault does) sets it around its engine call: the lease's max TTL is
cut so the lease never outlives the session. It is a context variable, so it holds
for one thread or task and never leaks into another caller's leases.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["expiring_by", "latest_expiry"]

_until: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "dynsecrets_latest_expiry", default=None
)


@contextlib.contextmanager
def expiring_by(until: float) -> Iterator[None]:
    token = _until.set(until)
    try:
        yield
    finally:
        _until.reset(token)


def latest_expiry() -> float | None:
    return _until.get()
