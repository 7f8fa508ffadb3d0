"""rotate-root: a new password on the configured application, proven to obtain a
token, persisted, then the old password removed.

Never persist an unproven secret (a new one that never works is removed again and
the old one stays), and never remove the only working one (the old password goes
only after the new one is stored).

The configured secret's password is found before anything is made: by
``client_secret_key_id`` (stored by the previous rotation, trusted while Graph's
``hint``, the secret's first three characters, still agrees), else by the hint
alone. If that does not single it out, nothing is created and the error lists the
candidates' key ids.

Crash safety: the new password's display name says which one it replaces
(``dynsecrets rotate-root store=<store> replaces=<keyId>``). A rotation that died
between creating it and storing it left a password that replaces the *current*
one: the next rotation removes it before it starts. A rotation that died after
storing it, before removing the old one, left the password the current one replaces:
the next rotation removes that too.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError, ProviderError
from ...retry import RetryPolicy
from .graph import odata_quote
from .passwords import remove
from .steps import call_once
from .usable import wait_until_usable

_OP = "rotate_root"
#: Graph's own default lifetime for a password (startDateTime + 2 years).
ROOT_PASSWORD_LIFETIME = 2 * 365 * 86400
ROTATE_PREFIX = "dynsecrets rotate-root"


def _replaces(cred: Mapping[str, Any]) -> str | None:
    name = str(cred.get("displayName") or "")
    if not name.startswith(ROTATE_PREFIX):
        return None
    _, found, key = name.rpartition(" replaces=")
    return key.strip().lower() if found else None


def current_password(
    config: Mapping[str, Any], held: list[dict[str, Any]], client_id: str
) -> dict[str, Any]:
    """The password whose secret is configured: by stored key id, else by hint."""
    hint = str(config["client_secret"])[:3]
    key_id = str(config.get("client_secret_key_id") or "").lower()
    if key_id:
        mine = [c for c in held if str(c.get("keyId")).lower() == key_id]
        # The hint guards against a key id left from before the secret was rewritten.
        if len(mine) == 1 and mine[0].get("hint") in (None, hint):
            return mine[0]
    candidates = [c for c in held if c.get("hint") == hint]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(str(c.get("keyId")) for c in candidates) or "none"
    raise PermanentProviderError(
        f"{len(candidates)} passwords of application {client_id} look like the configured "
        f"secret (Graph's hint {hint!r}: {listed}); nothing was changed. Set "
        "client_secret_key_id in config to the one in use, or remove the others",
        operation=_OP,
        code="OldSecretAmbiguous",
    )


def _find_app(graph: Any, retry: RetryPolicy, client_id: str) -> str:
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
    return str(apps[0]["id"])


def rotate_root(
    graph: Any,
    retry: RetryPolicy,
    clock: Clock,
    config: Mapping[str, Any],
    persist: Callable[[dict[str, Any]], None],
    store_id: str = "",
) -> dict[str, Any]:
    if not config.get("client_secret"):
        raise PermanentProviderError(
            "rotate-root needs client_id and client_secret in config; credentials from the "
            "default chain are not dynsecrets' to rotate",
            operation=_OP,
        )
    client_id = config["client_id"]
    object_id = _find_app(graph, retry, client_id)
    held = retry.call(lambda: graph.passwords(object_id))
    old = current_password(config, held, client_id)
    old_key = str(old["keyId"]).lower()
    # Left by an interrupted rotation: a successor that was never stored, or the
    # predecessor of the current one that was never removed.
    for cred in held:
        key = str(cred.get("keyId")).lower()
        if key != old_key and (_replaces(cred) == old_key or key == _replaces(old)):
            remove(graph, retry, object_id, key)
    now = clock.now()
    end = dt.datetime.fromtimestamp(now + ROOT_PASSWORD_LIFETIME, tz=dt.timezone.utc)
    name = f"{ROTATE_PREFIX} store={store_id or '-'} replaces={old_key}"
    # Not retried blindly: a lost reply leaves a password that replaces the current
    # one, which the next rotation removes.
    new = call_once(retry, functools.partial(graph.add_password, object_id, name, _iso(end)))
    budget = float(config.get("usable_timeout") or 120)
    if not wait_until_usable(config, client_id, new["secretText"], clock, budget):
        try:
            remove(graph, retry, object_id, new["keyId"])
        except ProviderError as exc:
            raise PermanentProviderError(
                f"the new password {new['keyId']} obtained no token in the time allowed and "
                f"removing it failed ({exc}); the old secret stays configured and the next "
                "rotate-root removes it",
                operation=_OP,
                code="SecretNotUsable",
            ) from exc
        raise PermanentProviderError(
            "the new password obtained no token in the time allowed; it was removed and "
            "the old secret stays configured. Rotate again later, or raise usable_timeout",
            operation=_OP,
            code="SecretNotUsable",
        )
    updated = {
        **config,
        "client_secret": new["secretText"],
        "client_secret_key_id": str(new["keyId"]).lower(),
    }
    # Whatever happens inside (a crash, a lost commit), the new password is never
    # removed here: the store may hold it. Its name lets the next rotation tidy up.
    persist(updated)
    try:
        remove(graph, retry, object_id, old_key)
    except ProviderError as exc:
        raise PermanentProviderError(
            f"rotated: the new secret ({new['keyId']}) is stored and in use, but the old "
            f"password {old_key} was not removed ({exc}); the next rotate-root removes it, "
            f"or remove it from application {client_id} by hand",
            operation=_OP,
            code=exc.code,
        ) from exc
    return updated


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
