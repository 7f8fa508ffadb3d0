"""Existing application (``application_object_id``) or a role's persisted one
(``persist_app``): a lease is one password on it.

Issue: read the app's client id (a persisted app's is in its role) -> addPassword
(display name carries the lease id, end date from the plan). Revoke:
removePassword(keyId); when issue never finished, the app's passwords named for
this lease are found by listing them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...errors import PermanentProviderError, ProviderError
from ...providers.base import Issued
from ...retry import RetryPolicy
from .apps import add_password, env_for
from .steps import Steps, not_found


def issue(graph: Any, retry: RetryPolicy, plan: Mapping[str, Any]) -> Issued:
    object_id = plan["app_object_id"]
    # A persisted application's client id is stored in its role: addPassword only.
    app_id = plan.get("app_id")
    if not app_id:
        try:
            app_id = retry.call(lambda: graph.get_application(object_id, "id,appId"))["appId"]
        except ProviderError as exc:
            exc.nothing_created = True  # a read: nothing was made
            raise
    try:
        password = add_password(graph, retry, object_id, plan)
    except ProviderError as exc:
        # Refused outright (no permission on this app), or never sent (no token): no
        # password was added. Anything else may have added one; revoke looks.
        exc.nothing_created = exc.operation == "AddPassword" and (
            isinstance(exc, PermanentProviderError) or getattr(exc, "before_request", False)
        )
        raise
    return Issued(
        data={
            "client_id": app_id,
            "client_secret": password["secretText"],
            "tenant_id": plan["tenant_id"],
            "subscription_id": plan["subscription_id"],
            # The role's metadata, returned beside the credentials (keys checked at write).
            **{k: str(v) for k, v in (plan.get("metadata") or {}).items()},
        },
        secret_keys=frozenset({"client_secret"}),
        revocation={
            "app_object_id": object_id,
            "app_id": app_id,
            "key_id": password["keyId"],
        },
        env=env_for(plan, app_id, password["secretText"]),
    )


def remove(graph: Any, retry: RetryPolicy, object_id: str, key_id: str) -> None:
    """removePassword; "not found" is success. Graph's reference documents no reply
    for an unknown keyId (only 204 for success), so any other refusal is checked
    against the app's passwords: gone from there is success too."""
    try:
        retry.call(lambda: graph.remove_password(object_id, key_id))
    except PermanentProviderError as exc:
        if not_found(exc):
            return
        try:
            held = retry.call(lambda: graph.passwords(object_id))
        except ProviderError as listing:
            if not_found(listing):  # the app itself is gone
                return
            raise exc from listing
        if any(c.get("keyId") == key_id for c in held):
            raise


def revoke(
    graph: Any, retry: RetryPolicy, plan: Mapping[str, Any], revocation: Mapping[str, Any] | None
) -> None:
    object_id = plan["app_object_id"]
    steps = Steps(retry)
    if revocation and revocation.get("key_id"):
        steps.run(lambda: remove(graph, retry, object_id, revocation["key_id"]))
    else:
        held = steps.run(lambda: graph.passwords(object_id)) or []
        for cred in held:
            if cred.get("displayName") == plan["password_name"]:
                steps.run(functools.partial(remove, graph, retry, object_id, cred["keyId"]))
    steps.raise_any()
