"""rotate-root: replace the mount's own access key without ever storing one that
AWS has not accepted.

Order: GetUser -> ListAccessKeys -> CreateAccessKey -> GetCallerIdentity with the new
key until AWS accepts it -> persist -> DeleteAccessKey(old). A new key that is never
accepted is deleted again and the old one stays configured; a crash between persist
and the last step leaves two working keys (the next rotation says so), never none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError, ProviderError
from ...retry import RetryPolicy
from . import iam_user
from .clients import Clients, require_keys

_OP = "rotate_root"


def rotate_root(
    clients: Clients,
    retry: RetryPolicy,
    clock: Clock,
    config: Mapping[str, Any],
    persist: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    require_keys(config, _OP)
    call = iam_user.call
    # The base keys are what is rotated, so their own user makes the calls (with
    # role_arn, the assumed role would be GetUser's subject instead).
    iam = clients.get("iam", config, base=True)
    user = call(retry, "GetUser", iam.get_user)["User"]["UserName"]
    keys = call(retry, "ListAccessKeys", lambda: iam.list_access_keys(UserName=user))
    ids = [k["AccessKeyId"] for k in keys.get("AccessKeyMetadata", [])]
    if len(ids) >= 2:
        raise PermanentProviderError(
            f"IAM user {user} already has two access keys ({', '.join(ids)}); AWS allows two, "
            "so delete the one not in use, then rotate again",
            operation=_OP,
            code="LimitExceeded",
        )
    key = call(retry, "CreateAccessKey", lambda: iam.create_access_key(UserName=user))["AccessKey"]
    new_id = key["AccessKeyId"]
    budget = float(config.get("usable_timeout") or 60)
    probe = clients.get("sts", config, access_key=new_id, secret_key=key["SecretAccessKey"])
    if not iam_user.wait_until_usable(probe, clock, budget):
        _discard(retry, iam, user, new_id, budget)
    new = {**config, "access_key": new_id, "secret_key": key["SecretAccessKey"]}
    persist(new)
    old_id = config["access_key"]
    try:
        # With the old key: it is known to work with IAM, while the new one has so far
        # only been shown to work with STS.
        call(
            retry,
            "DeleteAccessKey",
            lambda: iam.delete_access_key(UserName=user, AccessKeyId=old_id),
        )
    except ProviderError as exc:
        raise PermanentProviderError(
            f"rotated: the new key {new_id} is stored and in use, but deleting the old key "
            f"{old_id} of IAM user {user} failed ({exc}); delete it by hand",
            operation=_OP,
            code=exc.code,
        ) from exc
    return new


def _discard(retry: RetryPolicy, iam: Any, user: str, new_id: str, budget: float) -> None:
    """Delete a new key AWS never accepted, then raise: the old key stays configured."""
    try:
        iam_user.call(
            retry,
            "DeleteAccessKey",
            lambda: iam.delete_access_key(UserName=user, AccessKeyId=new_id),
        )
    except ProviderError as exc:
        raise PermanentProviderError(
            f"the new access key {new_id} was not accepted by AWS within {budget:.0f}s, and "
            f"deleting it failed ({exc}); the old key stays configured. Delete {new_id} of "
            f"IAM user {user} by hand before rotating again",
            operation=_OP,
            code="KeyNotUsable",
        ) from exc
    raise PermanentProviderError(
        f"the new access key {new_id} was not accepted by AWS within {budget:.0f}s; it was "
        "deleted and the old key stays configured. Rotate again later, or raise "
        "usable_timeout",
        operation=_OP,
        code="KeyNotUsable",
    )
