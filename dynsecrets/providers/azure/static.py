"""Static roles: an existing application's password, rotated by the engine.

``static-roles/<name>`` names the application by its object id. The engine drives
rotation (see :mod:`dynsecrets.providers.static`); here are its four calls:

- secrets: GET ``/applications/{id}`` -> its ``passwordCredentials`` (keyId and
  startDateTime). Passwords that dynsecrets leases put on the same application are
  left out: they belong to those leases, and a rotation must never take one for an
  unknown secret of its own and delete it.
- create: POST ``/applications/{id}/addPassword``, display name
  ``dynsecrets static-role store=<store id>``, end date ``secret_expiry`` from now.
  Sent once: a lost reply may have added a password nobody saw, which the engine
  finds by listing and deletes; only a call that never left (no token) is retried.
- check: the new secret obtains a token from the identity platform, polled within the
  operation's deadline (Entra ID takes seconds to minutes to accept a new secret).
- delete: POST ``/applications/{id}/removePassword``; an unknown keyId or a deleted
  application is success.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError, ProviderError, TransientProviderError, ValidationError
from ...providers.static import SecretInfo, StaticSecret
from ...retry import RetryPolicy
from ...schema import Field, Schema
from .config import GUID
from .passwords import remove
from .steps import call_once, not_found
from .usable import wait_until_usable

__all__ = ["STATIC_ROLE_SCHEMA", "check", "create", "delete", "secrets_of"]

#: Graph's own default lifetime for a password (startDateTime + 2 years).
DEFAULT_EXPIRY = 2 * 365 * 86400
STATIC_PREFIX = "dynsecrets static-role"
#: A lease's password: "dynsecrets <mount>/creds/<role>/<id> store=<store id>".
_LEASE_PASSWORD = re.compile(r"dynsecrets \S*/\S* store=")


def _check_object_id(value: str) -> str:
    if not GUID.fullmatch(value):
        raise ValueError(
            "must be the application's object id, a GUID (Entra admin center: App "
            "registrations > the app > Object ID)"
        )
    return value.lower()


STATIC_ROLE_SCHEMA = Schema(
    {
        "application_object_id": Field(
            "str",
            required=True,
            max_length=36,
            check=_check_object_id,
            doc="the existing application whose password is rotated (its object id)",
        ),
        "secret_expiry": Field(
            "duration",
            default=DEFAULT_EXPIRY,
            minimum=3600,
            doc="each password's lifetime (its end date in Entra ID); longer than "
            "rotation_period plus rotation_grace_period, so a password never expires "
            "before it is rotated. Default 2 years, as Graph's",
        ),
    },
    what="static role",
)


def parse_time(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_expiry(role: Mapping[str, Any]) -> int:
    """The password lifetime, checked against the schedule before any call."""
    expiry = int(role.get("secret_expiry") or DEFAULT_EXPIRY)
    needed = int(role.get("rotation_period") or 0) + int(role.get("rotation_grace_period") or 0)
    if needed and expiry <= needed:
        raise ValidationError(
            "secret_expiry",
            f"must be longer than rotation_period plus rotation_grace_period ({needed}s), "
            "or each password would expire before it is rotated",
        )
    return expiry


def application(graph: Any, retry: RetryPolicy, role: Mapping[str, Any]) -> dict[str, Any]:
    object_id = role["application_object_id"]
    try:
        app = retry.call(lambda: graph.get_application(object_id, "id,appId,passwordCredentials"))
    except ProviderError as exc:
        if not_found(exc):
            raise ValidationError(
                "application_object_id",
                f"no application with object id {object_id} in the tenant (give the "
                "application's Object ID, not its client id), or the root cannot see it "
                "(with Application.ReadWrite.OwnedBy, make the root an owner of it)",
            ) from exc
        raise
    return dict(app)


def secrets_of(
    graph: Any, retry: RetryPolicy, config: Mapping[str, Any], role: Mapping[str, Any]
) -> list[SecretInfo]:
    check_expiry(role)
    app = application(graph, retry, role)
    root = str(config.get("client_id") or "").lower()
    if root and str(app.get("appId") or "").lower() == root:
        # Its rotation would retire the password this mount signs in with.
        raise ValidationError(
            "application_object_id",
            f"application {role['application_object_id']} is this mount's own root "
            "(client_id); rotate its secret with config/rotate-root, not a static role",
        )
    return [
        SecretInfo(id=str(c["keyId"]).lower(), created_at=parse_time(c.get("startDateTime")))
        for c in app.get("passwordCredentials") or []
        if not _LEASE_PASSWORD.match(c.get("displayName") or "")
    ]


def create(
    graph: Any,
    retry: RetryPolicy,
    clock: Clock,
    config: Mapping[str, Any],
    role: Mapping[str, Any],
    store_id: str,
) -> StaticSecret:
    expiry = check_expiry(role)
    app = application(graph, retry, role)
    object_id, app_id = app["id"], app["appId"]
    end = _iso(clock.now() + expiry)
    name = f"{STATIC_PREFIX} store={store_id}"

    try:
        # A lost reply or a 5xx may hide a new password: not retried here; the engine
        # lists the passwords and deletes the one it does not know.
        password = call_once(retry, lambda: dict(graph.add_password(object_id, name, end)))
    except PermanentProviderError as exc:
        exc.nothing_created = exc.operation == "AddPassword"
        raise
    secret = password["secretText"]
    env = {
        "AZURE_CLIENT_ID": app_id,
        "AZURE_CLIENT_SECRET": secret,
        "AZURE_TENANT_ID": config["tenant_id"],
    }
    if config.get("authority"):
        env["AZURE_AUTHORITY_HOST"] = config["authority"]
    return StaticSecret(
        id=str(password["keyId"]).lower(),
        data={"client_id": app_id, "client_secret": secret, "tenant_id": config["tenant_id"]},
        created_at=parse_time(password.get("startDateTime")),
        secret_keys=frozenset({"client_secret"}),
        env=env,
    )


def check(config: Mapping[str, Any], secret: StaticSecret, clock: Clock) -> None:
    budget = float(config.get("usable_timeout") or 120)
    if not wait_until_usable(
        config, secret.data["client_id"], secret.data["client_secret"], clock, budget
    ):
        raise TransientProviderError(
            f"the new password {secret.id} obtained no token in the time allowed (Entra ID "
            "can take minutes to accept a new secret); raise usable_timeout if it keeps "
            "happening",
            operation="static_check",
            code="SecretNotUsable",
        )


def delete(graph: Any, retry: RetryPolicy, role: Mapping[str, Any], secret_id: str) -> None:
    remove(graph, retry, role["application_object_id"], secret_id)
