"""Whether a new secret obtains a token yet. Entra ID refuses a new secret (and a
new application) for seconds to minutes; the wait is bounded and opt-in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import retry as _retry
from ...clock import Clock
from ...errors import DynSecretsError
from .config import cloud_of, make_credential
from .errors import azure_errors


def token_works(config: Mapping[str, Any], client_id: str, secret: str) -> bool:
    # A fresh credential per try: MSAL caches some refusals (HTTP 400, such as an
    # application it does not know yet) for 60 s, which would hide the moment it works.
    credential = make_credential(config, client_id=client_id, secret=secret)
    try:
        with azure_errors("GetToken"):
            credential.get_token(cloud_of(config).graph_scope)
        return True
    except DynSecretsError:
        return False
    finally:
        credential.close()


def wait_until_usable(
    config: Mapping[str, Any], client_id: str, secret: str, clock: Clock, budget: float
) -> bool:
    left = _retry.remaining()
    if left is not None:
        # Stop while the operation's deadline still leaves time to clean up (rotate-root
        # removes an unusable password; a failed issue rolls back).
        budget = min(budget, max(0.0, left - min(15.0, left / 4)))
    deadline = clock.now() + budget
    delay = 1.0
    while True:
        if token_works(config, client_id, secret):
            return True
        if clock.now() + delay > deadline:
            return False
        clock.sleep(delay)
        delay = min(delay * 1.5, 10.0)
