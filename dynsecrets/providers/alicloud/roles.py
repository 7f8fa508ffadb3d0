"""Role fields (``<mount>/role/<name>``): a RAM user role (``inline_policies`` and/or
``remote_policies``) or an STS role (``role_arn``, no policies). A field that does
not fit the role's kind is an error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidTTL, ValidationError
from ...schema import Field, Schema
from .policies import check_inline, check_remote, structured_remote

RAM_USER = "ram_user"
STS = "sts"
#: acs:ram::<account id>:role/<role name>; role names are 1-64 of letters, digits, . _ -
ROLE_ARN = re.compile(r"acs:ram::\d{1,32}:role/[A-Za-z0-9._-]{1,64}")
#: STS AssumeRole's DurationSeconds bounds.
STS_MIN_TTL = 900
STS_MAX_TTL = 43200
STS_DEFAULT_TTL = 3600


def _check_role_arn(value: str) -> None:
    if not ROLE_ARN.fullmatch(value):
        raise ValueError(
            f"{value[:60]!r} is not a RAM role ARN such as acs:ram::1234567890123456:role/my-role"
        )


ROLE_SCHEMA = Schema(
    {
        "inline_policies": Field(
            "json",
            check=check_inline,
            doc="policy documents (one, or a JSON list) created as Custom policies per user",
        ),
        "remote_policies": Field(
            "list",
            default=[],
            check=check_remote,
            doc="existing policies to attach: name:X,type:System|Custom (repeatable)",
        ),
        "role_arn": Field(
            "str", max_length=200, check=_check_role_arn, doc="STS: the RAM role to assume"
        ),
    },
    what="role",
)


def kind(role: Mapping[str, Any]) -> str:
    return STS if role.get("role_arn") else RAM_USER


def validate_role(name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    if "remote_policies" in fields:
        try:
            fields["remote_policies"] = structured_remote(fields["remote_policies"])
        except ValueError as exc:
            raise ValidationError("remote_policies", str(exc)) from exc
    if isinstance(fields.get("inline_policies"), list):
        # A Python list of documents: the json kind stores it as JSON text.
        fields["inline_policies"] = json.dumps(fields["inline_policies"])
    role = ROLE_SCHEMA.validate(fields)
    if role["role_arn"]:
        for field in ("inline_policies", "remote_policies"):
            if role.get(field):
                raise ValidationError(
                    field,
                    "does not apply to a role with role_arn (STS credentials carry the "
                    "RAM role's own policies); remove it, or remove role_arn",
                )
    elif not role["inline_policies"] and not role["remote_policies"]:
        raise ValidationError(
            "inline_policies",
            "a role needs inline_policies or remote_policies (a RAM user), or role_arn (STS)",
        )
    return role


def check_ttls(role: Mapping[str, Any]) -> None:
    """STS tokens live 900 s to 12 h; a role whose TTLs cannot fit is refused when written."""
    if kind(role) != STS:
        return
    for field in ("ttl", "max_ttl"):
        value = role.get(field)
        if value and value < STS_MIN_TTL:
            raise InvalidTTL(
                field,
                f"is {value}s, but Alibaba STS issues tokens of at least {STS_MIN_TTL}s; "
                f"use {STS_MIN_TTL}s or more",
            )
        if value and value > STS_MAX_TTL:
            raise InvalidTTL(
                field, f"is {value}s, but Alibaba STS issues tokens of at most {STS_MAX_TTL}s"
            )


def default_ttl(role: Mapping[str, Any]) -> int | None:
    if kind(role) != STS:
        return None
    return int(min(STS_DEFAULT_TTL, role.get("max_ttl") or STS_DEFAULT_TTL))
