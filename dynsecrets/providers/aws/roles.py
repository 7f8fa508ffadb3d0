"""Role fields (``<mount>/roles/<name>``) and Vault's rules for them, plus the real
AWS limits that moto does not enforce."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from ...errors import ValidationError
from ...schema import Field, Schema

IAM_USER = "iam_user"
ASSUMED_ROLE = "assumed_role"
FEDERATION_TOKEN = "federation_token"  # noqa: S105 (a type name)
SESSION_TOKEN = "session_token"  # noqa: S105 (a type name)
STS_TYPES = (ASSUMED_ROLE, FEDERATION_TOKEN, SESSION_TOKEN)
CREDENTIAL_TYPES = (IAM_USER, *STS_TYPES)

# AWS's API patterns use Java's \w, which is ASCII: Python's is Unicode, hence re.ASCII.
PARTITIONS = "aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b"
POLICY_ARN = re.compile(
    rf"arn:({PARTITIONS}):iam::(\d{{12}}|aws):policy/([\x21-\x7e]{{1,512}}/)?[\w+=,.@-]{{1,128}}",
    re.ASCII,
)
ROLE_ARN = re.compile(
    rf"arn:({PARTITIONS}):iam::\d{{12}}:role/([\x21-\x7e]{{1,512}}/)?[\w+=,.@-]{{1,64}}",
    re.ASCII,
)
MFA_SERIAL = re.compile(r"[\w+=/:,.@-]{9,256}", re.ASCII)
# IAM's pathType: "/" alone, or "/", one or more of ! (0x21) to ~ (0x7E), "/". The SDK
# docs say "through DEL (0x7F)" but the API's own pattern stops at 0x7E.
USER_PATH = re.compile(r"/|/[\x21-\x7e]+/")
#: IAM group names and STS role session names: ASCII letters, digits and _+=,.@-
NAME_CHARS = re.compile(r"[\w+=,.@-]+", re.ASCII)
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
MFA_CODE = r"[0-9]{6}"  # not \d: that matches every script's digits

#: AWS limits (IAM and STS quotas) that moto does not enforce.
INLINE_POLICY_MAX = 2048  # aggregate inline policy size per IAM user
SESSION_POLICY_MAX = 2048  # STS Policy parameter
MANAGED_POLICIES_PER_USER = 20  # default 10, raisable to 20
STS_POLICY_ARNS_MAX = 10
GROUPS_PER_USER = 10
TAGS_MAX = 50
#: The tags dynsecrets puts on every IAM user (iam_user.py); user tags must leave room
#: for them and may not use their keys. The whole ``dynsecrets:`` prefix is refused, so
#: a tag added in a later version cannot collide with a role written today.
RESERVED_TAG_KEYS = frozenset(
    {
        "dynsecrets",
        "dynsecrets:mount",
        "dynsecrets:role",
        "dynsecrets:lease-id",
        "dynsecrets:store-id",
        "dynsecrets:actor",
    }
)
#: Tags dynsecrets always sets; ``dynsecrets:actor`` (who asked) is the sixth, added
#: only while AWS's 50 leave room for it, so roles written with 45 tags keep working.
RESERVED_TAGS = len(RESERVED_TAG_KEYS) - 1
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
# AWS's tag pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]: letters, separators (space, not tab or
# newline: those are control characters) and numbers of any script, plus these.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_TAG_RULE = "letters, digits, spaces and _ . : / = + - @"
_SHOW = 40  # echo at most this much of a value in an error


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
            "must be / or start and end with / around printable ASCII with no spaces "
            "(such as /dynsecrets/; // is not a path), at most 512 characters"
        )


def _check_policy_document(text: str) -> None:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("must be a JSON object with a Statement")
    if "Statement" not in doc:
        raise ValueError("has no Statement; an IAM policy needs one")


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOW else text[:_SHOW] + "...")


def _bad_tag_char(text: str) -> str | None:
    for c in text:
        if c not in _TAG_PUNCTUATION and unicodedata.category(c)[0] not in "LZN":
            return f"U+{ord(c):04X}" if not c.isprintable() or c.isspace() else repr(c)
    return None


def _check_tags(tags: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for k, v in tags.items():
        if not 1 <= len(k) <= TAG_KEY_MAX:
            raise ValueError(f"tag key {_show(k)} must have 1-{TAG_KEY_MAX} characters")
        bad = _bad_tag_char(k)
        if bad:
            raise ValueError(f"tag key {_show(k)} has {bad}; AWS allows only {_TAG_RULE}")
        low = k.lower()
        if low.startswith("aws:"):
            raise ValueError(f"tag key {_show(k)} starts with aws:, which AWS reserves")
        if low == "dynsecrets" or low.startswith("dynsecrets:"):
            raise ValueError(
                f"tag key {_show(k)} is reserved: dynsecrets sets "
                f"{', '.join(sorted(RESERVED_TAG_KEYS))} itself; choose another key"
            )
        if low in seen:
            raise ValueError(
                f"tag keys {_show(seen[low])} and {_show(k)} differ only in case; "
                "AWS treats them as one key, so keep one"
            )
        seen[low] = k
        if isinstance(v, bool):
            v = str(v).lower()
        if not isinstance(v, (str, int, float)) or len(str(v)) > TAG_VALUE_MAX:
            raise ValueError(
                f"tag {_show(k)} needs a string value of at most {TAG_VALUE_MAX} characters"
            )
        bad = _bad_tag_char(str(v))
        if bad:
            raise ValueError(f"tag {_show(k)} has {bad} in its value; AWS allows only {_TAG_RULE}")
        out[k] = str(v)
    return out


def _check_names(what: str, low: int, high: int) -> Any:
    def check(value: str | list[str]) -> None:
        for v in [value] if isinstance(value, str) else value:
            if not low <= len(v) <= high or not NAME_CHARS.fullmatch(v):
                raise ValueError(
                    f"{what} {_show(v)} must be {low}-{high} ASCII letters, digits or _+=,.@- "
                    "(AWS refuses other letters)"
                )

    return check


def _check_mfa(value: str) -> None:
    if not MFA_SERIAL.fullmatch(value):
        raise ValueError("is not an MFA device serial number or ARN")


def check_external_id(value: str) -> None:
    if not EXTERNAL_ID.fullmatch(value):
        raise ValueError("must be 2-1224 characters of letters, digits and +=,.@:/-")


def check_role_arn(value: str) -> None:
    _check_role_arns([value])


#: STS role session names (AssumeRole's RoleSessionName).
check_session_name = _check_names("role session name", 2, 64)


def _boundary(value: str) -> None:
    _policy_arn(value)


ROLE_SCHEMA = Schema(
    {
        "credential_type": Field("str", required=True, choices=CREDENTIAL_TYPES),
        "policy_document": Field("json", check=_check_policy_document),
        "policy_arns": Field("list", default=[], check=_check_policy_arns),
        "iam_groups": Field("list", default=[], check=_check_names("group name", 1, 128)),
        "iam_tags": Field("map", default={}, check=_check_tags),
        "role_arns": Field("list", default=[], check=_check_role_arns),
        "session_tags": Field("map", default={}, check=_check_tags),
        "external_id": Field("str", check=check_external_id),
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
            check=_check_names("role_session_name", 2, 64),
            doc="assumed_role: session name instead of a generated one",
        ),
        "mfa_code": Field(
            "str", pattern=MFA_CODE, secret=True, doc="session_token: the 6-digit MFA code"
        ),
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


def validate_role(name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Schema, then cross-field rules. An empty ``policy_document`` ("" or blanks, as a
    shell gives for ``policy_document=``) counts as unset, but a role that then has no
    policy is told it was empty rather than missing."""
    doc = fields.get("policy_document")
    empty = isinstance(doc, str) and not doc.strip()
    if empty:
        fields = {**fields, "policy_document": None}
    return check_role(name, ROLE_SCHEMA.validate(fields), empty_policy=empty)


def _no_policy(kind: str, empty: bool, needs: str) -> ValidationError:
    article = "an" if kind[0] in "aeiou" else "a"
    if empty:
        return ValidationError(
            "policy_document",
            f"is empty; {article} {kind} role needs {needs}: give a JSON policy with a Statement",
        )
    return ValidationError("policy_document", f"{article} {kind} role needs {needs}")


def check_role(name: str, role: dict[str, Any], *, empty_policy: bool = False) -> dict[str, Any]:
    kind = role["credential_type"]
    for field, kinds in _ONLY.items():
        if kind not in kinds and role.get(field) not in (None, [], {}, ""):
            raise ValidationError(
                field, f"does not apply to credential_type={kind}; it fits {', '.join(kinds)}"
            )
    has_policy = bool(role["policy_document"] or role["policy_arns"] or role["iam_groups"])
    if kind == IAM_USER:
        if not has_policy:
            raise _no_policy(kind, empty_policy, "policy_document, policy_arns or iam_groups")
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
    if kind == FEDERATION_TOKEN and not has_policy:
        raise _no_policy(
            kind,
            empty_policy,
            "policy_document, policy_arns or iam_groups (without one the token has no permissions)",
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
