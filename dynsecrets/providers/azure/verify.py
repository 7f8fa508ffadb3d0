"""``verify``: the closest Azure offers to AWS's policy simulation.

Azure has no call that answers "may this principal make that call" for Graph, so
three checks stand in for it:

1. The credential obtains a Microsoft Graph token and an Azure Resource Manager
   token (a refusal is a :class:`PermanentProviderError` naming the cause).
2. Graph: the root's application permissions, read from its service principal's
   ``appRoleAssignments`` (addressed by appId) and matched by the app role ids the
   Graph permissions reference documents, cover what the role needs:
   ``Application.ReadWrite.OwnedBy`` (or ``Application.ReadWrite.All``) always; with
   ``azure_groups``, ``GroupMember.ReadWrite.All`` and ``Application.ReadWrite.All``.
   An ``application_object_id`` must be an application the root can read.
3. ARM: ``GET {scope}/providers/Microsoft.Authorization/permissions`` at every scope
   the role assigns at; the actions dynsecrets calls there
   (``roleAssignments/write``, ``/delete``, ``/read``, and ``roleDefinitions/read``
   for a ``role_name``) must match an ``actions`` pattern and no ``notActions``
   pattern of one entry (ARM's wildcards, case-insensitive).

What it cannot see: deny assignments and ABAC conditions on role assignments (the
permissions reply ignores both), and whether the root owns an application when it
holds only ``Application.ReadWrite.OwnedBy``.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from ...errors import PermanentProviderError, ProviderError, ValidationError
from ...retry import RetryPolicy
from .config import Clients, cloud_of, make_credential
from .errors import azure_errors
from .roles import groups_of, roles_of
from .steps import not_found

__all__ = ["allowed", "verify"]

_OP = "verify"
#: Graph application permissions (app roles) by the ids the permissions reference
#: documents; they are the same in every tenant and national cloud.
GRAPH_APP_ROLES = {
    "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30": "Application.Read.All",
    "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9": "Application.ReadWrite.All",
    "18a4783c-866b-4cc7-a460-3d5e5662c884": "Application.ReadWrite.OwnedBy",
    "7ab1d382-f21e-4acd-a863-ba3e13f7da61": "Directory.Read.All",
    "19dbc75e-c2e2-444c-a770-ec69d8559fc7": "Directory.ReadWrite.All",
    "5b567255-7703-4780-807c-7be8301ae99b": "Group.Read.All",
    "62a82d76-70ea-41e2-9197-370581804d09": "Group.ReadWrite.All",
    "98830695-27a2-44f7-8c18-0c3ebc9698f6": "GroupMember.Read.All",
    "dbaae8cf-10b5-4b86-a4a1-f871c94c6695": "GroupMember.ReadWrite.All",
}
#: A needed permission (the least privileged, reported when missing) and the ones
#: that grant it too.
SATISFIED_BY = {
    "Application.ReadWrite.OwnedBy": {"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"},
    "Application.ReadWrite.All": {"Application.ReadWrite.All"},
    "GroupMember.ReadWrite.All": {
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.ReadWrite.All",
    },
}
ASSIGN_ACTIONS = (
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/delete",
    "Microsoft.Authorization/roleAssignments/read",
)
DEFINITION_READ = "Microsoft.Authorization/roleDefinitions/read"


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in text.split("*")), re.IGNORECASE)


def allowed(action: str, permissions: list[dict[str, Any]]) -> bool:
    """ARM's rule: some entry's ``actions`` match and none of *its* ``notActions``
    do (``*`` matches anything, ``/`` included; case-insensitive)."""
    for entry in permissions:
        grants = any(_pattern(a).fullmatch(action) for a in entry.get("actions") or [])
        if grants and not any(_pattern(n).fullmatch(action) for n in entry.get("notActions") or []):
            return True
    return False


def _claims(token: str) -> dict[str, Any]:
    """The payload of an access token (a JWT), read without checking its signature:
    it is our own token, and only says which application we are."""
    try:
        payload = token.split(".")[1]
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _tokens(config: Mapping[str, Any], retry: RetryPolicy) -> str:
    """Graph and ARM tokens from a fresh credential (a cached token would hide a
    secret revoked since); returns the Graph token."""
    cloud = cloud_of(config)
    credential = make_credential(config)
    try:
        tokens = []
        for name, scope in (("Microsoft Graph", cloud.graph_scope), ("ARM", cloud.arm_scope)):

            def get(scope: str = scope) -> Any:
                with azure_errors("GetToken"):
                    return credential.get_token(scope)

            try:
                tokens.append(retry.call(get).token)
            except ProviderError as exc:
                # Still refused when the retries ran out (a secret "too new" for that
                # long is a wrong one): verify answers now, it is not retried later.
                raise PermanentProviderError(
                    f"the root credential obtains no {name} token: {exc}",
                    operation=_OP,
                    code=exc.code,
                ) from exc
        return str(tokens[0])
    finally:
        credential.close()


def _graph_permissions(graph: Any, retry: RetryPolicy, app_id: str) -> set[str]:
    try:
        held = retry.call(lambda: graph.app_role_assignments(app_id))
    except PermanentProviderError as exc:
        if exc.code == "Authorization_RequestDenied":
            return set()  # not even Application.ReadWrite.OwnedBy, which may read these
        raise
    return {
        GRAPH_APP_ROLES[str(a.get("appRoleId", "")).lower()]
        for a in held
        if not a.get("deletedDateTime") and str(a.get("appRoleId", "")).lower() in GRAPH_APP_ROLES
    }


def verify(
    clients: Clients, retry: RetryPolicy, config: Mapping[str, Any], role: Mapping[str, Any] | None
) -> list[str]:
    token = _tokens(config, retry)
    claims = _claims(token)
    app_id = config.get("client_id") or claims.get("appid") or claims.get("azp")
    if not app_id:
        raise PermanentProviderError(
            "cannot tell which application the default credential signs in as (its token "
            "names none); set client_id and client_secret in config to verify",
            operation=_OP,
            code="UnknownPrincipal",
        )
    graph = clients.graph(config)
    held = _graph_permissions(graph, retry, str(app_id))
    needed = ["Application.ReadWrite.OwnedBy"]
    if role is not None and groups_of(role):
        needed += ["GroupMember.ReadWrite.All", "Application.ReadWrite.All"]
    missing = [n for n in needed if not held & SATISFIED_BY[n]]
    if role is not None and role.get("application_object_id"):
        object_id = role["application_object_id"]
        try:
            retry.call(lambda: graph.get_application(object_id, "id,appId"))
        except ProviderError as exc:
            if not_found(exc):
                raise ValidationError(
                    "application_object_id",
                    f"no application with object id {object_id} in the tenant, or the root "
                    "cannot see it",
                ) from exc
            if exc.code != "Authorization_RequestDenied":
                raise
            missing.append(
                f"Application.ReadWrite.OwnedBy as an owner of application {object_id} "
                "(or Application.ReadWrite.All)"
            )
    if role is None:
        return missing
    arm = clients.arm(config)
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for entry in roles_of(role):
        scope = entry["scope"]
        if scope.lower() not in by_scope:
            by_scope[scope.lower()] = retry.call(functools.partial(arm.permissions, scope))
        perms = by_scope[scope.lower()]
        actions = [*ASSIGN_ACTIONS, *([DEFINITION_READ] if entry.get("role_name") else [])]
        for action in actions:
            name = f"{action} on {scope}"
            if not allowed(action, perms) and name not in missing:
                missing.append(name)
    return missing
