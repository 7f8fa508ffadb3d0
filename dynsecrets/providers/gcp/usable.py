"""Whether a new service-account key obtains a token yet.

Google may refuse a brand-new key for a few seconds (``invalid_grant: Invalid JWT
Signature`` from the token endpoint: IAM is eventually consistent). A key is
usable once the token endpoint in its own ``token_uri`` exchanges a JWT signed
by it for an access token, which is exactly what every Google client does first.
Polls at most 0.5 s apart on the injected clock, and stops early enough in the
operation's deadline to leave time for the cleanup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError, TransientProviderError
from ...retry import remaining
from .clients import credentials_from_info
from .errors import google_errors

__all__ = ["NOT_YET", "token_works", "wait_until_usable"]

#: Refusals that a new key outgrows: the token endpoint does not know it yet
#: (invalid_grant, mapped to UNAUTHENTICATED), or it is briefly unavailable.
NOT_YET = frozenset({"UNAUTHENTICATED"})


def token_works(info: Mapping[str, Any], ca_bundle: str | None) -> None:
    """Exchange the key for a token once; raises the mapped error when refused."""
    creds, request = credentials_from_info(info, ca_bundle)
    try:
        with google_errors("prove key (token exchange)"):
            creds.refresh(request)
    finally:
        request.session.close()


def wait_until_usable(
    info: Mapping[str, Any], ca_bundle: str | None, clock: Clock, budget: float = 60.0
) -> bool:
    """True once the key works; False when it is still refused at the deadline.
    Other permanent errors (TLS, a refused connection) are raised at once."""
    left = remaining()
    if left is not None:
        # Stop while the operation's deadline still leaves time to clean up (the
        # caller deletes a key that never worked; a failed issue rolls back).
        budget = min(budget, max(0.0, left - min(15.0, left / 4)))
    deadline = clock.now() + budget
    delay = 0.1
    while True:
        try:
            token_works(info, ca_bundle)
            return True
        except TransientProviderError:
            pass
        except PermanentProviderError as exc:
            if exc.code not in NOT_YET:
                raise
        if clock.now() + delay > deadline:
            return False
        clock.sleep(delay)
        delay = min(delay * 2, 0.5)
