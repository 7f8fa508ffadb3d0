"""rotate-root: a new password on the configured application, proven to obtain a
token, persisted, then the old password removed.

Never persist an unproven secret (a new one that never works is removed again and
the old one stays), and never remove the only working one (the old password goes
only after the new one is stored). The old password is told apart by Graph's
``hint`` (the first three characters of a secret): if that does not single it out,
nothing is removed and the error says which key ids to remove by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError, ProviderError
from ...retry import RetryPolicy
from .graph import odata_quote
from .passwords import remove
from .usable import wait_until_usable

_OP = "rotate_root"
#: Graph's own default lifetime for a password (startDateTime + 2 years).
ROOT_PASSWORD_LIFETIME = 2 * 365 * 86400


def rotate_root(
    graph: Any,
    retry: RetryPolicy,
    clock: Clock,
    config: Mapping[str, Any],
    persist: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    if not config.get("client_secret"):
        raise PermanentProviderError(
            "rotate-root needs client_id and client_secret in config; credentials from the "
            "default chain are not dynsecrets' to rotate",
            operation=_OP,
        )
    client_id = config["client_id"]
    apps = retry.call(
        lambda: graph.find_applications(f"appId eq {odata_quote(client_id)}", "id,appId")
    )
    if len(apps) != 1:
        raise PermanentProviderError(
            f"no application with client id {client_id} is visible to it; rotate-root "
            "needs Application.ReadWrite.OwnedBy with the app as its own owner, or "
            "Application.ReadWrite.All",
            operation=_OP,
            code="ApplicationNotFound",
        )
    object_id = apps[0]["id"]
    now = clock.now()
    end = dt.datetime.fromtimestamp(now + ROOT_PASSWORD_LIFETIME, tz=dt.timezone.utc)
    name = f"dynsecrets rotate-root {int(now)}"
    # Not retried blindly: a lost reply could leave an unknown working password.
    new = retry.call(
        lambda: graph.add_password(object_id, name, end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    )
    budget = float(config.get("usable_timeout") or 120)
    if not wait_until_usable(config, client_id, new["secretText"], clock, budget):
        try:
            remove(graph, retry, object_id, new["keyId"])
        except ProviderError as exc:
            raise PermanentProviderError(
                f"the new password {new['keyId']} obtained no token in the time allowed and "
                f"removing it failed ({exc}); the old secret stays configured. Remove "
                f"{new['keyId']} from application {client_id} by hand",
                operation=_OP,
                code="SecretNotUsable",
            ) from exc
        raise PermanentProviderError(
            "the new password obtained no token in the time allowed; it was removed and "
            "the old secret stays configured. Rotate again later, or raise usable_timeout",
            operation=_OP,
            code="SecretNotUsable",
        )
    updated = {**config, "client_secret": new["secretText"]}
    persist(updated)
    old_hint = str(config["client_secret"])[:3]
    try:
        held = retry.call(lambda: graph.passwords(object_id))
        old = [c for c in held if c.get("keyId") != new["keyId"] and c.get("hint") == old_hint]
        if len(old) != 1:
            raise PermanentProviderError(
                f"{len(old)} passwords of application {client_id} look like the old secret "
                f"({', '.join(c['keyId'] for c in old) or 'none'}); none was removed",
                operation=_OP,
                code="OldSecretAmbiguous",
            )
        remove(graph, retry, object_id, old[0]["keyId"])
    except ProviderError as exc:
        raise PermanentProviderError(
            f"rotated: the new secret ({new['keyId']}) is stored and in use, but the old one "
            f"was not removed ({exc}); remove it from application {client_id} by hand",
            operation=_OP,
            code=exc.code,
        ) from exc
    return updated
