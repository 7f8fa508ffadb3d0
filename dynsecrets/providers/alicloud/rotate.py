"""config/rotate-root: replace the mount's own access key without ever storing one
Alibaba has not accepted.

Order: GetCallerIdentity (who the root key belongs to) -> ListAccessKeys (refuse at
two: RAM's limit) -> CreateAccessKey (reconciled, never blindly retried) ->
GetCallerIdentity with the new key (proven usable, polled while it propagates:
:mod:`.proof`) -> persist -> DeleteAccessKey(old).
A new key that does not work is deleted again and the old one stays configured; a
crash between persist and the last step leaves two working keys, never none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...errors import PermanentProviderError, ProviderError
from ...retry import RetryPolicy
from .api import Api, Clients
from .proof import prove_key
from .ram_user import create_access_key

_OP = "rotate_root"


def rotate_root(
    clients: Clients,
    retry: RetryPolicy,
    config: Mapping[str, Any],
    persist: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    if not config.get("access_key"):
        raise PermanentProviderError(
            "rotate-root needs access_key and secret_key in config; credentials from the "
            "default chain are not dynsecrets' to rotate",
            operation=_OP,
        )
    api = Api(clients, retry, config)
    who = api.call("GetCallerIdentity")
    arn = str(who.get("Arn") or "")
    if who.get("IdentityType") != "RAMUser" or ":user/" not in arn:
        raise PermanentProviderError(
            f"the root credential is not a RAM user's access key ({who.get('IdentityType')}); "
            "dynsecrets rotates RAM user keys only (never use the account's own keys)",
            operation=_OP,
        )
    user = arn.rsplit(":user/", 1)[1]
    old_id = str(config["access_key"])
    listed = api.call("ListAccessKeys", {"UserName": user})
    ids = [k["AccessKeyId"] for k in listed.get("AccessKeys", {}).get("AccessKey", [])]
    if len(ids) >= 2:
        raise PermanentProviderError(
            f"RAM user {user} already has two access keys ({', '.join(ids)}); RAM allows two, "
            "so delete the one not in use, then rotate again",
            operation=_OP,
            code="LimitExceeded.User.AccessKey",
        )
    key = create_access_key(api, user, keep=frozenset(ids))
    new_id, new_secret = key["AccessKeyId"], key["AccessKeySecret"]
    try:
        prove_key(clients, retry, config, new_id, new_secret, user=user, operation=_OP)
    except ProviderError as exc:
        _discard(api, user, new_id, exc)
    new = {**config, "access_key": new_id, "secret_key": new_secret}
    persist(new)
    try:
        # With the old key: it is known to hold the RAM permissions.
        api.call("DeleteAccessKey", {"UserName": user, "UserAccessKeyId": old_id})
    except ProviderError as exc:
        raise PermanentProviderError(
            f"rotated: the new key {new_id} is stored and in use, but deleting the old key "
            f"{old_id} of RAM user {user} failed ({exc}); delete it by hand",
            operation=_OP,
            code=exc.code,
        ) from exc
    return new


def _discard(api: Api, user: str, new_id: str, why: ProviderError) -> None:
    """Delete a new key that did not work, then raise: the old key stays configured."""
    try:
        api.call("DeleteAccessKey", {"UserName": user, "UserAccessKeyId": new_id})
    except ProviderError as exc:
        raise PermanentProviderError(
            f"the new access key {new_id} did not work ({why}), and deleting it failed "
            f"({exc}); the old key stays configured. Delete {new_id} of RAM user {user} "
            "by hand before rotating again",
            operation=_OP,
            code="KeyNotUsable",
        ) from exc
    raise PermanentProviderError(
        f"the new access key {new_id} did not work ({why}); it was deleted and the old key "
        "stays configured",
        operation=_OP,
        code="KeyNotUsable",
    ) from why
