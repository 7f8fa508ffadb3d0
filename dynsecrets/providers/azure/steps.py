"""Helpers shared by issue and revoke: retried calls, "not found is success", and
collecting every step's error so one failure never stops the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ...errors import (
    DynSecretsError,
    PermanentProviderError,
    ProviderError,
    RevokeErrors,
    TransientProviderError,
)
from ...retry import RetryPolicy
from .errors import NOT_FOUND

T = TypeVar("T")

#: Our tags on every application we create; tidy and recovery find apps by them.
TAG = "dynsecrets"
TAG_MOUNT = "dynsecrets:mount="
TAG_LEASE = "dynsecrets:lease="
TAG_STORE = "dynsecrets:store="
#: On a role's persisted application (persist_app): it belongs to the role, not a lease.
TAG_ROLE = "dynsecrets:role="
#: Who the lease was issued for (``IssueRequest.actor``), on the lease's application.
TAG_ACTOR = "dynsecrets:actor="
#: Graph refuses a tag over 256 characters.
TAG_MAX = 256


def actor_tag(actor: str) -> list[str]:
    """``[dynsecrets:actor=<actor>]`` within Graph's rules for a tag (a string of at
    most 256 characters), control and other unprintable characters dropped; ``[]``
    when nobody is named."""
    clean = " ".join("".join(c if c.isprintable() else " " for c in actor).split())
    if not clean:
        return []
    return [f"{TAG_ACTOR}{clean}"[:TAG_MAX]]


def not_found(exc: ProviderError) -> bool:
    return isinstance(exc, PermanentProviderError) and (exc.code or "") in NOT_FOUND


def tag_value(tags: list[str], prefix: str) -> str | None:
    return next((t[len(prefix) :] for t in tags if t.startswith(prefix)), None)


class Steps:
    """Run every step; "not found" is success; collect the rest."""

    def __init__(self, retry: RetryPolicy) -> None:
        self.retry = retry
        self.errors: list[DynSecretsError] = []

    def run(self, fn: Callable[[], T]) -> T | None:
        try:
            return self.retry.call(fn)
        except ProviderError as exc:
            if not not_found(exc):
                self.errors.append(exc)
        return None

    def raise_any(self) -> None:
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else RevokeErrors(self.errors)


def once_then(first: Callable[[], T], again: Callable[[], T | None]) -> Callable[[], T]:
    """A create for ``retry.call``: the first attempt creates; each later one first
    runs ``again`` (look for what a lost reply may have made) and returns what it
    found, or creates again when it found nothing."""
    tried = False

    def attempt() -> T:
        nonlocal tried
        if tried:
            found = again()
            if found is not None:
                return found
        tried = True
        return first()

    return attempt


class _Unclear(Exception):
    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


def call_once(retry: RetryPolicy, fn: Callable[[], T]) -> T:
    """A create that is retried only when its request never left (no token, so
    nothing was made). A lost reply or a 5xx may hide a created object: that error
    is raised as it came, for the caller to reconcile by listing."""

    def attempt() -> T:
        try:
            return fn()
        except TransientProviderError as exc:
            if getattr(exc, "before_request", False):
                raise
            raise _Unclear(exc) from exc

    try:
        return retry.call(attempt)
    except _Unclear as unclear:
        raise unclear.error from unclear.error.__cause__
