"""Static roles (``static-roles/<name>``): keys of an existing service account,
rotated by the engine. The engine owns the schedule, the grace period, the
write-ahead intent and the reconciliation of a lost create reply; these hooks
only make the calls.

A secret's id is the key id (the last segment of the key's resource name, and the
key file's ``private_key_id``), as ``gcloud iam service-accounts keys list`` shows
it. Google stamps ``valid_after_time`` (our ``created_at``) to the whole second,
on Google's clock.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from ...clock import Clock
from ...errors import (
    DynSecretsError,
    PermanentProviderError,
    TransientProviderError,
    ValidationError,
)
from ...providers.static import SecretInfo, StaticSecret
from ...retry import RetryPolicy
from ...schema import Field, Schema
from .clients import GoogleClients, call_timeout
from .errors import google_errors
from .keys import list_user_keys
from .usable import wait_until_usable

__all__ = [
    "STATIC_ROLE_SCHEMA",
    "check",
    "create",
    "delete",
    "key_id",
    "list_secrets",
]

FIELD = "service_account_email"
#: ``<account id>@<project id>.iam.gserviceaccount.com``. Both ids: 6-30 characters,
#: a lowercase letter first, then lowercase letters, digits and '-', not ending in '-'.
_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
EMAIL = re.compile(rf"({_ID})@({_ID})\.iam\.gserviceaccount\.com")
_RULE = "6-30 characters: a lowercase letter first, then a-z, 0-9 or '-', not ending in '-'"


def _check_email(value: str) -> None:
    if EMAIL.fullmatch(value):
        return
    shown = value[:120]
    if not value.endswith(".iam.gserviceaccount.com") or value.count("@") != 1:
        raise ValueError(
            f"{shown!r} is not a user-managed service account; give "
            "<account-id>@<project-id>.iam.gserviceaccount.com"
        )
    account, _, domain = value.partition("@")
    if not re.fullmatch(_ID, account):
        raise ValueError(f"{shown!r}: the account id {account[:40]!r} must be {_RULE}")
    project = domain.removesuffix(".iam.gserviceaccount.com")
    raise ValueError(f"{shown!r}: the project id {project[:40]!r} must be {_RULE}")


STATIC_ROLE_SCHEMA = Schema(
    {
        FIELD: Field(
            "str",
            required=True,
            max_length=100,
            check=_check_email,
            doc="the existing service account whose keys are rotated "
            "(<account-id>@<project-id>.iam.gserviceaccount.com)",
        ),
    },
    what="static role",
)

KEY_ALGORITHM = "KEY_ALG_RSA_2048"
KEY_TYPE = "TYPE_GOOGLE_CREDENTIALS_FILE"


def key_id(name: str) -> str:
    """``projects/p/serviceAccounts/e/keys/<id>`` -> ``<id>``."""
    return name.rsplit("/", 1)[-1]


_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _key_name(email: str, secret_id: str) -> str:
    if not _KEY_ID.fullmatch(secret_id):
        raise ValidationError("secret_id", "is not a Google key id (hex characters)")
    return f"projects/-/serviceAccounts/{email}/keys/{secret_id}"


def _created(key: Any) -> float | None:
    return key.valid_after_time.timestamp() if key.valid_after_time else None


def list_secrets(clients: GoogleClients, retry: RetryPolicy, email: str) -> list[SecretInfo]:
    try:
        keys = retry.call(lambda: list_user_keys(clients, email))
    except DynSecretsError as exc:
        if getattr(exc, "code", None) == "NOT_FOUND":
            raise ValidationError(
                FIELD,
                f"{email} does not exist in Google IAM; create it first or fix the email",
            ) from exc
        raise
    return [SecretInfo(id=key_id(k.name), created_at=_created(k)) for k in keys]


def create(clients: GoogleClients, email: str) -> StaticSecret:
    """One CreateServiceAccountKey call, never retried here: after an unclear
    failure the engine lists the keys and deletes the one it does not know."""
    clients.ensure_token("CreateServiceAccountKey")
    try:
        with google_errors("CreateServiceAccountKey"):
            key = clients.iam.create_service_account_key(
                request={
                    "name": f"projects/-/serviceAccounts/{email}",
                    "private_key_type": 2,  # TYPE_GOOGLE_CREDENTIALS_FILE
                    "key_algorithm": 2,  # KEY_ALG_RSA_2048
                },
                retry=None,
                timeout=call_timeout(),
            )
    except PermanentProviderError as exc:
        if exc.code == "NOT_FOUND":
            raise ValidationError(FIELD, f"{email} does not exist in Google IAM") from exc
        if exc.code == "FAILED_PRECONDITION":  # Google's 10-key limit (or a disabled account)
            full = PermanentProviderError(
                f"{email} holds Google's maximum of 10 user-managed keys (or is disabled): "
                "delete keys nobody uses (gcloud iam service-accounts keys list "
                f"--iam-account {email} --managed-by user), then rotate again",
                operation="CreateServiceAccountKey",
                code="KEY_LIMIT",
            )
            full.nothing_created = True
            raise full from exc
        exc.nothing_created = True  # refused outright: no key was made
        raise
    data = {
        "private_key_data": base64.b64encode(key.private_key_data).decode(),
        "key_algorithm": KEY_ALGORITHM,
        "key_type": KEY_TYPE,
        "service_account_email": email,
    }
    return StaticSecret(
        id=key_id(key.name),
        data=data,
        created_at=_created(key),
        secret_keys=frozenset({"private_key_data"}),
    )


def check(ca_bundle: str | None, clock: Clock, secret: StaticSecret) -> None:
    """Return once Google's token endpoint accepts the new key."""
    info = json.loads(base64.b64decode(secret.data["private_key_data"]))
    if not wait_until_usable(info, ca_bundle, clock):
        raise TransientProviderError(
            f"the new key {secret.id} of {info.get('client_email')} was not accepted by "
            "the token endpoint within the operation's deadline (IAM propagation); "
            "rotate again later",
            operation="static_check",
            code="NOT_USABLE",
        )


def delete(clients: GoogleClients, retry: RetryPolicy, email: str, secret_id: str) -> None:
    """DeleteServiceAccountKey; NOT_FOUND (the key or its account) is success."""
    name = _key_name(email, secret_id)

    def once() -> None:
        clients.ensure_token("DeleteServiceAccountKey")
        try:
            with google_errors("DeleteServiceAccountKey"):
                clients.iam.delete_service_account_key(
                    name=name, retry=None, timeout=call_timeout()
                )
        except DynSecretsError as exc:
            if getattr(exc, "code", None) != "NOT_FOUND":
                raise

    retry.call(once)
