"""Proving a new access key usable before anything relies on it: STS
GetCallerIdentity signed with the new key, polled within the operation's deadline.

RAM answers for a key at once, but a new key may be refused for a moment where it
is used (``InvalidAccessKeyId.NotFound`` while it propagates). That code is waited
out with backoff on the provider's clock, so tests take no wall time; every other
refusal, and a key that belongs to another user, fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import PermanentProviderError
from ...retry import RetryPolicy, remaining
from .api import Api, Clients

#: What Alibaba answers for a key it does not know (yet).
NOT_YET = frozenset({"InvalidAccessKeyId.NotFound"})


def prove_key(
    clients: Clients,
    retry: RetryPolicy,
    config: Mapping[str, Any],
    access_key: str,
    secret_key: str,
    *,
    user: str | None = None,
    operation: str = "check_key",
) -> dict[str, Any]:
    """Return GetCallerIdentity's answer for the new key once it works; raise
    :class:`PermanentProviderError` (code ``KeyNotUsable``) when it never does
    within the deadline, or when it is not ``user``'s key."""
    probe = Api(clients, retry, config, access_key=access_key, secret_key=secret_key)
    clock = retry.clock
    deadline = clock.now() + min(retry.budget, remaining(retry.budget) or 0.0)
    attempt = 0
    try:
        while True:
            try:
                who = probe.call("GetCallerIdentity")
                break
            except PermanentProviderError as exc:
                wait = retry.delay(attempt)
                if exc.code not in NOT_YET or clock.now() + wait > deadline:
                    raise PermanentProviderError(
                        f"the new access key {access_key} does not work ({exc.code or exc})",
                        operation=operation,
                        code="KeyNotUsable",
                    ) from exc
                clock.sleep(wait)
                attempt += 1
    finally:
        probe.close()  # its connections are this key's alone
    if user is not None:
        arn = str(who.get("Arn") or "")
        owner = arn.rsplit(":user/", 1)[1] if ":user/" in arn else arn
        # RAM user names are case-insensitive.
        if owner.lower() != user.lower():
            raise PermanentProviderError(
                f"the new access key {access_key} signs as {arn or 'nobody'}, not as RAM "
                f"user {user}",
                operation=operation,
                code="KeyNotUsable",
            )
    return who
