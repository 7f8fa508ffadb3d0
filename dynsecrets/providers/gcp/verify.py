"""``verify=true``: does the root credential work, and may it make every call
the provider will make? Answered by Google itself: a token exchange (the
credential works at all), then ``testIamPermissions`` on each resource the calls
touch (it returns the subset of the asked permissions the caller holds, and needs
no permission of its own).

What is asked, per target:
- config (no role): the tidy calls on the root project (list, get and delete
  service accounts) and, for a key credential, the rotate-root calls on the root
  account (create and delete its keys);
- roleset: on its project, create/get/delete service accounts and, by secret type,
  the key calls or ``getAccessToken``; on every binding resource, its
  ``getIamPolicy``/``setIamPolicy``;
- static-account: on the account, the key calls or ``getAccessToken``, and the
  binding resources as for a roleset; impersonated-account: ``getAccessToken``;
- static role (rotation): on the account, create/list/delete its keys.

A missing permission is returned by name; one on a binding resource reads
``<permission> on <full resource name>``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...errors import DynSecretsError, ValidationError
from ...retry import RetryPolicy
from .clients import GoogleClients, call_timeout
from .config import credentials_info, root_project
from .errors import check_response, google_errors
from .resources import Resource, resolve

__all__ = ["PERMISSION_PREFIX", "needed", "verify"]

KEYS = (
    "iam.serviceAccountKeys.create",
    "iam.serviceAccountKeys.list",
    "iam.serviceAccountKeys.delete",
)
TOKEN = ("iam.serviceAccounts.getAccessToken",)
ACCOUNTS = ("iam.serviceAccounts.create", "iam.serviceAccounts.get", "iam.serviceAccounts.delete")
TIDY = ("iam.serviceAccounts.list", "iam.serviceAccounts.get", "iam.serviceAccounts.delete")
ROTATE_ROOT = (
    "iam.serviceAccountKeys.list",
    "iam.serviceAccountKeys.create",
    "iam.serviceAccountKeys.delete",
)

#: The IAM permission prefix of each resource type's getIamPolicy/setIamPolicy
#: (Google's permissions reference); every type in ``resources.TYPES`` has one.
PERMISSION_PREFIX = {
    "project": "resourcemanager.projects",
    "folder": "resourcemanager.folders",
    "organization": "resourcemanager.organizations",
    "service account": "iam.serviceAccounts",
    "storage bucket": "storage.buckets",
    "pubsub topic": "pubsub.topics",
    "pubsub subscription": "pubsub.subscriptions",
    "pubsub snapshot": "pubsub.snapshots",
    "bigquery dataset": "bigquery.datasets",
    "bigquery table": "bigquery.tables",
    "secret manager secret": "secretmanager.secrets",
    "kms key ring": "cloudkms.keyRings",
    "kms crypto key": "cloudkms.cryptoKeys",
    "cloud run service": "run.services",
    "cloud run job": "run.jobs",
    "cloud function": "cloudfunctions.functions",
    "artifact registry repository": "artifactregistry.repositories",
    "spanner instance": "spanner.instances",
    "spanner database": "spanner.databases",
    "bigtable instance": "bigtable.instances",
    "bigtable table": "bigtable.tables",
    "compute instance": "compute.instances",
    "compute subnetwork": "compute.subnetworks",
    "cloud tasks queue": "cloudtasks.queues",
    "dataproc cluster": "dataproc.clusters",
    "healthcare dataset": "healthcare.datasets",
    "source repository": "source.repos",
}


def _account(email: str) -> Resource:
    return resolve(f"//iam.googleapis.com/projects/-/serviceAccounts/{email}")


def _project(project: str) -> Resource:
    return resolve(f"//cloudresourcemanager.googleapis.com/projects/{project}")


def needed(
    config: Mapping[str, Any],
    role: Mapping[str, Any] | None,
    bindings: Mapping[str, Any],
) -> list[tuple[Resource, tuple[str, ...], str]]:
    """(resource, permissions, the field to blame when it does not exist) for each
    resource to test; the field is "bindings" for a binding resource."""
    out: list[tuple[Resource, tuple[str, ...], str]] = []
    if role is None:
        project = root_project(config)
        if project:
            out.append((_project(project), TIDY, "project"))
        info = credentials_info(config)
        if info is not None:
            out.append((_account(str(info["client_email"])), ROTATE_ROOT, "credentials"))
        return out
    kind = role.get("kind")
    email = str(role.get("service_account_email") or "")
    if kind is None or "rotation_period" in role:  # a static role: its keys are rotated
        return [(_account(email), KEYS, "service_account_email")]
    secret = KEYS if role.get("secret_type") == "service_account_key" else TOKEN
    if kind == "roleset":
        out.append((_project(str(role["project"])), ACCOUNTS + secret, "project"))
    else:
        out.append((_account(email), secret, "service_account_email"))
    for name in bindings:
        res = resolve(name)
        prefix = PERMISSION_PREFIX[res.type.name]
        out.append((res, (f"{prefix}.getIamPolicy", f"{prefix}.setIamPolicy"), "bindings"))
    return out


def _test(clients: GoogleClients, res: Resource, permissions: list[str]) -> list[str]:
    """The permissions of ``permissions`` the caller holds on ``res``."""
    t = res.type
    op = f"{t.name} testIamPermissions"
    if t.style == "grpc":
        clients.ensure_token(op)
        with google_errors(op):
            reply = clients.iam.test_iam_permissions(
                request={"resource": res.path, "permissions": permissions},
                retry=None,
                timeout=call_timeout(),
            )
        return list(reply.permissions)
    base = f"{t.prefix}/{res.path}"
    with google_errors(op):
        if t.style == "storage":
            r = clients.rest.get(
                clients.url(t.service, f"{base}/iam/testPermissions"),
                params={"permissions": permissions},
                timeout=call_timeout(),
            )
        else:
            sep = "/" if t.style == "compute" else ":"
            r = clients.rest.post(
                clients.url(t.service, f"{base}{sep}testIamPermissions"),
                json={"permissions": permissions},
                timeout=call_timeout(),
            )
    return list(check_response(r, op).get("permissions") or [])


def verify(
    clients: GoogleClients,
    retry: RetryPolicy,
    config: Mapping[str, Any],
    role: Mapping[str, Any] | None,
    bindings: Mapping[str, Any],
) -> list[str]:
    # The credential works at all: a token exchange (raises UNAUTHENTICATED when the
    # key is deleted or disabled, TLS/ConnectionRefused for a wrong endpoint).
    retry.call(lambda: clients.ensure_token("verify (token exchange)"))
    missing: list[str] = []
    for res, permissions, field in needed(config, role, bindings):
        binding = field == "bindings"
        try:
            held = set(retry.call(functools.partial(_test, clients, res, list(permissions))))
        except DynSecretsError as exc:
            if getattr(exc, "code", None) != "NOT_FOUND":
                raise
            raise ValidationError(
                field,
                f"{res.full_name} does not exist (or the root account cannot see it)",
            ) from exc
        for p in permissions:
            if p not in held:
                entry = f"{p} on {res.full_name}" if binding else p
                if entry not in missing:
                    missing.append(entry)
    return missing
