"""Role fields for the three kinds (Vault's paths): ``roleset``, ``static-account``,
``impersonated-account``; and the per-request options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...errors import ValidationError
from ...schema import Field, Schema
from . import bindings as bindings_mod
from .config import PROJECT_ID
from .keys import KEY_ALGORITHMS, KEY_TYPES

__all__ = [
    "ACCESS_TOKEN",
    "IMPERSONATED",
    "KINDS",
    "REQUEST_SCHEMA",
    "ROLESET",
    "ROLE_SCHEMA",
    "SERVICE_ACCOUNT_KEY",
    "STATIC",
    "check_role",
    "prepare",
]

ROLESET, STATIC, IMPERSONATED = "roleset", "static-account", "impersonated-account"
KINDS = (ROLESET, STATIC, IMPERSONATED)
SERVICE_ACCOUNT_KEY, ACCESS_TOKEN = "service_account_key", "access_token"
#: Google's own limit is 10 user-managed keys per account; a pool of this many
#: accounts gives a roleset up to 200 live keys.
MAX_ACCOUNTS = 20
_SCOPE = re.compile(r"https://www\.googleapis\.com/auth/[a-z0-9._/-]+|openid|email|profile")
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}@[a-z0-9][a-z0-9.-]{1,250}\.[a-z]{2,}")


def _check_scopes(value: list[Any]) -> None:
    if len(value) > 50:
        raise ValueError("has more than 50 scopes")
    for scope in value:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise ValueError(
                f"{str(scope)[:80]!r} is not an OAuth scope; give full URLs such as "
                "https://www.googleapis.com/auth/cloud-platform"
            )


ROLE_SCHEMA = Schema(
    {
        "kind": Field("str", default=ROLESET, choices=KINDS, doc="set by the path"),
        "project": Field(
            "str", pattern=PROJECT_ID.pattern, doc="roleset: project of its service account"
        ),
        "bindings": Field(
            "str",
            max_length=65536,
            doc='resource -> roles: HCL (resource "NAME" { roles = [...] }) or JSON',
        ),
        "secret_type": Field(
            "str",
            default=ACCESS_TOKEN,
            choices=(SERVICE_ACCOUNT_KEY, ACCESS_TOKEN),
            doc="what the role issues",
        ),
        "token_scopes": Field(
            "list", default=[], check=_check_scopes, doc="OAuth scopes of access tokens"
        ),
        "service_account_email": Field(
            "str", pattern=_EMAIL.pattern, doc="static and impersonated accounts: the account"
        ),
        "max_accounts": Field(
            "int",
            default=1,
            minimum=1,
            doc="roleset: spread keys over this many accounts (10 keys each)",
        ),
    },
    what="role",
)

REQUEST_SCHEMA = Schema(
    {
        "secret_type": Field("str", choices=(SERVICE_ACCOUNT_KEY, ACCESS_TOKEN)),
        "key_algorithm": Field("str", default="KEY_ALG_RSA_2048", choices=tuple(KEY_ALGORITHMS)),
        "key_type": Field("str", default="TYPE_GOOGLE_CREDENTIALS_FILE", choices=tuple(KEY_TYPES)),
        "wait_until_usable": Field(
            "bool", doc="keys: return only once Google's token endpoint accepts the key"
        ),
    },
    what="request",
)


def prepare(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Front ends pass bindings as text; the Python API may pass a dict."""
    out = dict(fields)
    if isinstance(out.get("bindings"), Mapping):
        out["bindings"] = bindings_mod.to_text(out["bindings"])
    return out


def check_role(name: str, role: dict[str, Any]) -> dict[str, Any]:
    kind = role["kind"]
    if role["max_accounts"] > MAX_ACCOUNTS:
        raise ValidationError("max_accounts", f"must be at most {MAX_ACCOUNTS}")
    if role.get("bindings"):
        role["bindings"] = bindings_mod.canonical(role["bindings"])
    if kind == ROLESET:
        if not role.get("project"):
            raise ValidationError("project", "a roleset needs the project of its service account")
        if not role.get("bindings"):
            raise ValidationError("bindings", "a roleset needs bindings (resource -> roles)")
        if role.get("service_account_email"):
            raise ValidationError(
                "service_account_email",
                "a roleset creates its own account; use a static-account for an existing one",
            )
    else:
        if not role.get("service_account_email"):
            raise ValidationError(
                "service_account_email", f"a {kind} needs the email of an existing account"
            )
        if role["max_accounts"] != 1:
            raise ValidationError("max_accounts", "applies to rolesets only")
        if role.get("project"):
            raise ValidationError("project", "applies to rolesets only")
    if kind == IMPERSONATED:
        if role.get("bindings"):
            raise ValidationError("bindings", "an impersonated account keeps its own bindings")
        if role["secret_type"] != ACCESS_TOKEN:
            raise ValidationError(
                "secret_type", "an impersonated account issues access tokens only"
            )
    if role["secret_type"] == ACCESS_TOKEN and not role["token_scopes"]:
        raise ValidationError(
            "token_scopes",
            "access tokens need scopes, e.g. https://www.googleapis.com/auth/cloud-platform",
        )
    if role["secret_type"] == SERVICE_ACCOUNT_KEY and role["token_scopes"]:
        raise ValidationError("token_scopes", "apply to secret_type=access_token only")
    return role
