"""Static roles: the access keys of an existing IAM user, which the engine rotates.

The provider only makes the cloud calls (see :mod:`dynsecrets.providers.static` for
the rotation the engine drives): ListAccessKeys, CreateAccessKey, GetCallerIdentity
with the new key until AWS accepts it, DeleteAccessKey. With ``assume_role_arn``
(a user in another account) these IAM calls are signed with credentials of that
role, assumed with the root credential.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...errors import PermanentProviderError, ValidationError
from ...providers.static import SecretInfo, StaticSecret
from ...retry import RetryPolicy
from ...schema import Field, Schema
from .clients import Assume
from .errors import aws_errors
from .iam_user import call
from .roles import NAME_CHARS, check_external_id, check_role_arn, check_session_name

#: What CreateUser accepts as a user name: 1-64 of ASCII letters, digits and _+=,.@-
USER_NAME_MAX = 64


def _check_username(value: str) -> None:
    if not 1 <= len(value) <= USER_NAME_MAX or not NAME_CHARS.fullmatch(value):
        raise ValueError(
            f"must be 1-{USER_NAME_MAX} ASCII letters, digits or _+=,.@- (an IAM user name)"
        )


class StaticRoleSchema(Schema):
    """The fields, plus: the session name and external id only go with a role to assume."""

    def validate(self, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
        out = super().validate(data, partial=partial)
        if not partial and not out.get("assume_role_arn"):
            for field in ("assume_role_session_name", "external_id"):
                if out.get(field):
                    raise ValidationError(
                        field,
                        "only applies with assume_role_arn (the role to assume for a user in "
                        "another account); set assume_role_arn or drop it",
                    )
        return out


STATIC_ROLE_SCHEMA = StaticRoleSchema(
    {
        "username": Field("str", required=True, check=_check_username, doc="the existing IAM user"),
        "assume_role_arn": Field(
            "str", check=check_role_arn, doc="a role to assume for the user's account"
        ),
        "assume_role_session_name": Field(
            "str", check=check_session_name, doc="session name for assume_role_arn"
        ),
        "external_id": Field("str", check=check_external_id, doc="external id for it"),
    },
    what="static role",
)


def assume_for(role: Mapping[str, Any]) -> Assume | None:
    """The role to assume for this static role's IAM calls, if any."""
    if not role.get("assume_role_arn"):
        return None
    name = role.get("assume_role_session_name") or f"dynsecrets-static-{role['username']}"[:64]
    return Assume(
        role["assume_role_arn"], name, role.get("external_id") or None, field="assume_role_arn"
    )


def no_user(role: Mapping[str, Any]) -> ValidationError:
    where = f" in the account of {role['assume_role_arn']}" if role.get("assume_role_arn") else ""
    return ValidationError(
        "username",
        f"there is no IAM user {role['username']!r}{where}; create it first (a static role "
        "rotates the keys of an existing user), or fix username",
    )


def secrets(iam: Any, retry: RetryPolicy, role: Mapping[str, Any]) -> list[SecretInfo]:
    """ListAccessKeys, every page."""
    user = role["username"]
    items: list[dict[str, Any]] = []

    def collect() -> None:
        items.clear()
        for page in iam.get_paginator("list_access_keys").paginate(UserName=user):
            items.extend(page.get("AccessKeyMetadata", []))

    try:
        call(retry, "ListAccessKeys", collect)
    except PermanentProviderError as exc:
        if exc.code == "NoSuchEntity":
            raise no_user(role) from exc
        raise
    return [SecretInfo(id=k["AccessKeyId"], created_at=k["CreateDate"].timestamp()) for k in items]


def create(iam: Any, role: Mapping[str, Any], region: str) -> StaticSecret:
    """CreateAccessKey, once: a failure whose request reached AWS may have made a key,
    so the engine reconciles by listing before any retry (never a blind repeat)."""
    user = role["username"]
    try:
        with aws_errors("CreateAccessKey"):
            key = iam.create_access_key(UserName=user)["AccessKey"]
    except PermanentProviderError as exc:
        if exc.code == "NoSuchEntity":
            raise no_user(role) from exc
        if exc.code == "LimitExceeded":
            raise PermanentProviderError(
                f"IAM user {user} already has two access keys, AWS's limit; delete the one "
                "not in use (or wait for the grace period of the last rotation to end), "
                "then rotate again",
                operation="CreateAccessKey",
                code="LimitExceeded",
            ) from exc
        raise
    access_key, secret_key = key["AccessKeyId"], key["SecretAccessKey"]
    return StaticSecret(
        id=access_key,
        data={"access_key": access_key, "secret_key": secret_key},
        created_at=key["CreateDate"].timestamp(),
        secret_keys=frozenset({"secret_key"}),
        env={
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        },
    )


def not_usable(secret_id: str, budget: float) -> PermanentProviderError:
    return PermanentProviderError(
        f"the new access key {secret_id} was not accepted by AWS within {budget:.0f}s "
        "(IAM is eventually consistent); the old key stays in use. Rotate again later, or "
        "raise usable_timeout in config/root",
        operation="GetCallerIdentity",
        code="KeyNotUsable",
    )


def delete(iam: Any, retry: RetryPolicy, role: Mapping[str, Any], secret_id: str) -> None:
    """DeleteAccessKey; a key or user already gone is success."""
    try:
        call(
            retry,
            "DeleteAccessKey",
            functools.partial(
                iam.delete_access_key, UserName=role["username"], AccessKeyId=secret_id
            ),
        )
    except PermanentProviderError as exc:
        if exc.code != "NoSuchEntity":
            raise
