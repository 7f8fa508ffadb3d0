"""Static roles: the access keys of an existing RAM user, rotated by the engine.

The provider only makes the calls: ListAccessKeys (what the user holds),
CreateAccessKey (one attempt: a lost reply is reconciled by the engine from the
list, never by creating again), GetCallerIdentity with the new key (proven
usable), DeleteAccessKey (gone already is success). RAM allows two keys per user,
so a rotation needs the user to hold at most one key the engine does not keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import PermanentProviderError, ValidationError
from ...providers.static import SecretInfo, StaticSecret
from ...schema import Field, Schema
from .api import Api
from .names import USER_NAME
from .ram_user import timestamp

#: RAM's limit on access keys per user.
KEY_LIMIT = 2


def _check_username(value: str) -> None:
    if not USER_NAME.fullmatch(value):
        raise ValueError(
            "is not a RAM user name: 1-64 letters, digits and . _ @ - (the name, not the "
            "user's ID or ARN)"
        )


STATIC_ROLE_SCHEMA = Schema(
    {
        "username": Field(
            "str",
            required=True,
            max_length=64,
            check=_check_username,
            doc="the existing RAM user whose access keys are rotated",
        ),
    },
    what="static role",
)


def _no_user(user: str, exc: PermanentProviderError) -> ValidationError:
    err = ValidationError(
        "username", f"RAM user {user!r} does not exist in this account; create it first"
    )
    err.__cause__ = exc
    return err


def secrets(api: Api, role: Mapping[str, Any]) -> list[SecretInfo]:
    user = str(role["username"])
    try:
        listed = api.call("ListAccessKeys", {"UserName": user})
    except PermanentProviderError as exc:
        if exc.code == "EntityNotExist.User":
            raise _no_user(user, exc) from exc
        raise
    keys = listed.get("AccessKeys", {}).get("AccessKey", [])
    if api.config.get("access_key") in {k["AccessKeyId"] for k in keys}:
        # Its rotation would delete the key this mount signs with after the grace period.
        raise ValidationError(
            "username",
            f"RAM user {user!r} holds this mount's own root key; rotate that with "
            "config/rotate-root, not a static role",
        )
    return [
        SecretInfo(id=k["AccessKeyId"], created_at=timestamp(k.get("CreateDate"))) for k in keys
    ]


def create(api: Api, role: Mapping[str, Any]) -> StaticSecret:
    user = str(role["username"])
    try:
        out = api.attempt("CreateAccessKey", {"UserName": user})
    except PermanentProviderError as exc:
        if exc.code == "EntityNotExist.User":
            raise _no_user(user, exc) from exc
        if exc.code == "LimitExceeded.User.AccessKey":
            raise PermanentProviderError(
                f"RAM user {user} already has {KEY_LIMIT} access keys (RAM's limit): delete "
                "the one not in use, then rotate again",
                operation="CreateAccessKey",
                code=exc.code,
            ) from exc
        raise
    key = out["AccessKey"]
    access_key, secret_key = str(key["AccessKeyId"]), str(key["AccessKeySecret"])
    return StaticSecret(
        id=access_key,
        data={"access_key": access_key, "secret_key": secret_key},
        created_at=timestamp(key.get("CreateDate")),
        secret_keys=frozenset({"secret_key"}),
        env={
            "ALIBABA_CLOUD_ACCESS_KEY_ID": access_key,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret_key,
        },
    )


def delete(api: Api, role: Mapping[str, Any], secret_id: str) -> None:
    try:
        api.call("DeleteAccessKey", {"UserName": role["username"], "UserAccessKeyId": secret_id})
    except PermanentProviderError as exc:
        # The key is gone, or the user and every key with it: either way, done.
        if exc.code not in ("EntityNotExist.User.AccessKey", "EntityNotExist.User"):
            raise
