"""Role fields (``<mount>/roles/<name>``) and Vault's rules for them, plus the real
AWS limits that moto does not enforce."""

from __future__ import annotations

import json
import re
from typing import Any

from ...errors import ValidationError
from ...schema import Field, Schema

IAM_USER = "iam_user"
ASSUMED_ROLE = "assumed_role"
FEDERATION_TOKEN = "federation_token"  # noqa: S105 (a type name)
SESSION_TOKEN = "session_token"  # noqa: S105 (a type name)
STS_TYPES = (ASSUMED_ROLE, FEDERATION_TOKEN, SESSION_TOKEN)
CREDENTIAL_TYPES = (IAM_USER, *STS_TYPES)

PARTITIONS = "aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b"
POLICY_ARN = re.compile(
    rf"arn:({PARTITIONS}):iam::(\d{{12}}|aws):policy/([\x21-\x7e]{{1,512}}/)?[\w+=,.@-]{{1,128}}"
)
ROLE_ARN = re.compile(
    rf"arn:({PARTITIONS}):iam::\d{{12}}:role/([\x21-\x7e]{{1,512}}/)?[\w+=,.@-]{{1,64}}"
)
MFA_SERIAL = re.compile(r"[\w+=/:,.@-]{9,256}")
USER_PATH = re.compile(r"/([\x21-\x7f]{0,510}/)?")
GROUP_NAME = r"[\w+=,.@-]{1,128}"
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")

#: AWS limits (IAM and STS quotas) that moto does not enforce.
INLINE_POLICY_MAX = 2048  # aggregate inline policy size per IAM user
SESSION_POLICY_MAX = 2048  # STS Policy parameter
MANAGED_POLICIES_PER_USER = 20  # default 10, raisable to 20
STS_POLICY_ARNS_MAX = 10
GROUPS_PER_USER = 10
TAGS_MAX = 50
RESERVED_TAGS = 4  # the tags dynsecrets always adds
TAG_KEY = re.compile(r"[\w\s.:/=+@-]{1,128}")
TAG_VALUE_MAX = 256


def _policy_arn(value: str) -> None:
    if not POLICY_ARN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an IAM policy ARN such as arn:aws:iam::aws:policy/ReadOnlyAccess"
        )


def _check_policy_arns(values: list[str]) -> None:
    for v in values:
        _policy_arn(v)
    if len(set(values)) != len(values):
        raise ValueError("lists the same ARN twice")


def _check_role_arns(values: list[str]) -> None:
    for v in values:
        if not ROLE_ARN.fullmatch(v):
            raise ValueError(
                f"{v!r} is not an IAM role ARN such as arn:aws:iam::123456789012:role/name"
            )


def _check_user_path(value: str) -> None:
    if len(value) > 512 or not USER_PATH.fullmatch(value):
        raise ValueError(
            "must start and end with '/', such as /dynsecrets/, at most 512 characters"
        )


def _check_policy_document(text: str) -> None:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("must be a JSON object with a Statement")
    if "Statement" not in doc:
        raise ValueError("has no Statement; an IAM policy needs one")


def _check_tags(tags: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in tags.items():
        if not TAG_KEY.fullmatch(k) or k.lower().startswith("aws:"):
            raise ValueError(f"tag key {k!r} is not allowed (1-128 characters, not starting aws:)")
        if not isinstance(v, (str, int, float, bool)) or len(str(v)) > TAG_VALUE_MAX:
            raise ValueError(
                f"tag {k!r} needs a string value of at most {TAG_VALUE_MAX} characters"
            )
        out[k] = str(v)
    return out


def _check_mfa(value: str) -> None:
    if not MFA_SERIAL.fullmatch(value):
        raise ValueError("is not an MFA device serial number or ARN")


def _check_external_id(value: str) -> None:
    if not EXTERNAL_ID.fullmatch(value):
        raise ValueError("must be 2-1224 characters of letters, digits and +=,.@:/-")


def _boundary(value: str) -> None:
    _policy_arn(value)


ROLE_SCHEMA = Schema(
    {
        "credential_type": Field("str", required=True, choices=CREDENTIAL_TYPES),
        "policy_document": Field("json", check=_check_policy_document),
        "policy_arns": Field("list", default=[], check=_check_policy_arns),
        "iam_groups": Field("list", default=[], pattern=GROUP_NAME),
        "iam_tags": Field("map", default={}, check=_check_tags),
        "role_arns": Field("list", default=[], check=_check_role_arns),
        "session_tags": Field("map", default={}, check=_check_tags),
        "external_id": Field("str", check=_check_external_id),
        "default_sts_ttl": Field("duration"),
        "max_sts_ttl": Field("duration"),
        "user_path": Field("str", check=_check_user_path),
        "permissions_boundary_arn": Field("str", check=_boundary),
        "mfa_serial_number": Field("str", check=_check_mfa),
    },
    what="role",
)

REQUEST_SCHEMA = Schema(
    {
        "role_arn": Field("str", doc="assumed_role: which of the role's role_arns"),
        "role_session_name": Field(
            "str",
            pattern=r"[\w+=,.@-]{2,64}",
            doc="assumed_role: session name instead of a generated one",
        ),
        "mfa_code": Field("str", pattern=r"\d{6}", doc="session_token: the MFA token code"),
        "wait_until_usable": Field("bool", doc="iam_user: return only once AWS accepts the key"),
    },
    what="request",
)

# Which credential types each field fits (fields not listed fit all).
_ONLY: dict[str, tuple[str, ...]] = {
    "role_arns": (ASSUMED_ROLE,),
    "session_tags": (ASSUMED_ROLE,),
    "external_id": (ASSUMED_ROLE,),
    "default_sts_ttl": STS_TYPES,
    "max_sts_ttl": STS_TYPES,
    "user_path": (IAM_USER,),
    "permissions_boundary_arn": (IAM_USER,),
    "iam_tags": (IAM_USER,),
    "mfa_serial_number": (SESSION_TOKEN,),
    "iam_groups": (IAM_USER, ASSUMED_ROLE, FEDERATION_TOKEN),
    "policy_document": (IAM_USER, ASSUMED_ROLE, FEDERATION_TOKEN),
    "policy_arns": (IAM_USER, ASSUMED_ROLE, FEDERATION_TOKEN),
}


def check_role(name: str, role: dict[str, Any]) -> dict[str, Any]:
    kind = role["credential_type"]
    for field, kinds in _ONLY.items():
        if kind not in kinds and role.get(field) not in (None, [], {}, ""):
            raise ValidationError(
                field, f"does not apply to credential_type={kind}; it fits {', '.join(kinds)}"
            )
    has_policy = bool(role["policy_document"] or role["policy_arns"] or role["iam_groups"])
    if kind == IAM_USER:
        if not has_policy:
            raise ValidationError(
                "policy_document",
                "an iam_user role needs policy_document, policy_arns or iam_groups",
            )
        role["user_path"] = role["user_path"] or "/"
        if role["policy_document"] and len(role["policy_document"]) > INLINE_POLICY_MAX:
            raise ValidationError(
                "policy_document",
                f"is {len(role['policy_document'])} characters compacted; AWS "
                f"allows {INLINE_POLICY_MAX} of inline policy per user: use policy_arns instead",
            )
        if len(role["policy_arns"]) > MANAGED_POLICIES_PER_USER:
            raise ValidationError(
                "policy_arns",
                f"AWS attaches at most {MANAGED_POLICIES_PER_USER} managed policies to a user",
            )
        if len(role["iam_groups"]) > GROUPS_PER_USER:
            raise ValidationError(
                "iam_groups", f"an IAM user can be in at most {GROUPS_PER_USER} groups"
            )
        if len(role["iam_tags"]) > TAGS_MAX - RESERVED_TAGS:
            raise ValidationError(
                "iam_tags",
                f"at most {TAGS_MAX - RESERVED_TAGS} tags (dynsecrets adds {RESERVED_TAGS} of AWS's {TAGS_MAX})",
            )
    else:
        if role["policy_document"] and len(role["policy_document"]) > SESSION_POLICY_MAX:
            raise ValidationError(
                "policy_document",
                f"STS session policies are limited to {SESSION_POLICY_MAX} characters",
            )
        if len(role["policy_arns"]) > STS_POLICY_ARNS_MAX:
            raise ValidationError(
                "policy_arns", f"STS accepts at most {STS_POLICY_ARNS_MAX} policy ARNs"
            )
        if len(role["session_tags"]) > TAGS_MAX:
            raise ValidationError("session_tags", f"STS accepts at most {TAGS_MAX} session tags")
    if kind == ASSUMED_ROLE and not role["role_arns"]:
        raise ValidationError("role_arns", "an assumed_role role needs at least one role ARN")
    if kind == FEDERATION_TOKEN and not (
        role["policy_document"] or role["policy_arns"] or role["iam_groups"]
    ):
        raise ValidationError(
            "policy_document",
            "a federation_token role needs policy_document or policy_arns: "
            "without one the token has no permissions",
        )
    default, maximum = role.get("default_sts_ttl"), role.get("max_sts_ttl")
    if default and maximum and default > maximum:
        raise ValidationError("default_sts_ttl", "is longer than max_sts_ttl")
    arns = [*role["policy_arns"], *role["role_arns"]]
    if role.get("permissions_boundary_arn"):
        arns.append(role["permissions_boundary_arn"])
    partitions = {a.split(":")[1] for a in arns}
    if len(partitions) > 1:
        raise ValidationError(
            "policy_arns", f"mixes AWS partitions ({', '.join(sorted(partitions))}); use one"
        )
    return role


def role_partition(role: dict[str, Any]) -> str | None:
    arns = [*role.get("policy_arns", []), *role.get("role_arns", [])]
    if role.get("permissions_boundary_arn"):
        arns.append(role["permissions_boundary_arn"])
    return arns[0].split(":")[1] if arns else None
