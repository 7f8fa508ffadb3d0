"""``config/rotate-root``: a new key for the configured account, proven usable
(a token fetched with it), persisted, then the old key deleted. An unproven key
is deleted, never persisted; the old key goes only after the new one is stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import DynSecretsError, PermanentProviderError, TransientProviderError
from ...retry import RetryPolicy
from .clients import Clients, call_timeout
from .config import credentials_info
from .errors import google_errors
from .keys import list_user_keys
from .usable import wait_until_usable

__all__ = ["rotate_root"]

log = logging.getLogger("dynsecrets")


def _delete_quietly(clients: Any, key_name: str) -> None:
    clients.ensure_token("DeleteServiceAccountKey")
    try:
        with google_errors("DeleteServiceAccountKey"):
            clients.iam.delete_service_account_key(
                name=key_name, retry=None, timeout=call_timeout()
            )
    except DynSecretsError as exc:
        if getattr(exc, "code", None) != "NOT_FOUND":
            raise


def rotate_root(
    clients: Clients,
    retry: RetryPolicy,
    config: Mapping[str, Any],
    persist: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    info = credentials_info(config)
    if info is None:
        raise PermanentProviderError(
            "rotate-root needs a service account key in config credentials; Application "
            "Default Credentials are not ours to rotate",
            operation="rotate_root",
        )
    old = clients.get(config)
    email, old_id = info["client_email"], info["private_key_id"]
    name = f"projects/-/serviceAccounts/{email}"

    # The keys the account has before the create: a create whose reply was lost is
    # reconciled against them before it is tried again, never repeated blindly (an
    # extra root key would count against Google's 10 and never be deleted).
    known = {k.name for k in retry.call(lambda: list_user_keys(old, email))}

    def create() -> Any:
        old.ensure_token("CreateServiceAccountKey")
        try:
            with google_errors("CreateServiceAccountKey"):
                return old.iam.create_service_account_key(
                    request={"name": name, "private_key_type": 2, "key_algorithm": 2},
                    retry=None,
                    timeout=call_timeout(),
                )
        except TransientProviderError:
            for k in list_user_keys(old, email):
                if k.name not in known:
                    _delete_quietly(old, k.name)
            raise
        except PermanentProviderError as exc:
            if exc.code != "FAILED_PRECONDITION":
                raise
            raise PermanentProviderError(
                f"{email} holds Google's maximum of 10 user-managed keys, so rotate-root "
                "cannot add its new key: delete keys nobody uses (gcloud iam "
                f"service-accounts keys list --iam-account {email} --managed-by user)",
                operation="rotate_root",
                code="KEY_LIMIT",
            ) from exc

    key = retry.call(create)
    new_text = key.private_key_data.decode()
    new_info = json.loads(new_text)

    def prove() -> None:
        # Google may refuse a brand-new key for a few seconds (eventual consistency):
        # poll the token endpoint within the operation's deadline.
        if not wait_until_usable(new_info, config.get("ca_bundle"), retry.clock):
            raise PermanentProviderError(
                "the new root key was not accepted by the token endpoint within the "
                "operation's deadline; it was deleted and the old key kept",
                operation="rotate_root",
                code="NOT_USABLE",
            )

    try:
        prove()
    except BaseException:
        # Never persist an unproven key; and do not leave it behind.
        try:
            _delete_quietly(old, key.name)
        except DynSecretsError as exc:
            log.warning("could not delete the unproven key %s: %s", key.name, exc)
        raise
    new_config = {**config, "credentials": new_text}
    persist(new_config)
    fresh = clients.get(new_config)

    if old_id != new_info["private_key_id"]:
        retry.call(lambda: _delete_quietly(fresh, f"{name}/keys/{old_id}"))
    return new_config
