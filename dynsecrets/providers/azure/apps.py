"""Dynamic service principals: a new application per lease.

Issue order: (resolve role and group names) -> create application (display name
and tags from the plan) -> service principal -> addPassword (end date from the
plan) -> a role assignment per role (names from the plan) -> group memberships.
Every name is in the plan before the first call, so recovery after a crash finds
the application by its display name and its lease tag, and the role assignments
by their names. Directory propagation ("does not reference a valid application",
PrincipalNotFound) is retried by error code inside the operation's deadline.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...errors import PermanentProviderError, ProviderError, TransientProviderError
from ...providers.base import Issued
from ...retry import RetryPolicy
from .graph import odata_quote
from .resolve import Resolver
from .steps import TAG_LEASE, Steps, not_found, once_then

# Codes that, right after we created the object they refer to, mean "not replicated yet".
SP_PROPAGATION = ("Request_BadRequest", "Request_ResourceNotFound")
APP_PROPAGATION = ("Request_ResourceNotFound",)
ASSIGNMENT_PROPAGATION = ("PrincipalNotFound",)
MEMBER_PROPAGATION = ("Request_ResourceNotFound",)


def find_app(graph: Any, plan: Mapping[str, Any]) -> dict[str, Any] | None:
    """Our application for this plan: its display name, and our lease tag (a
    display name alone could be someone else's)."""
    found = graph.find_applications(
        f"displayName eq {odata_quote(plan['display_name'])}", "id,appId,displayName,tags"
    )
    mine = [a for a in found if f"{TAG_LEASE}{plan['lease_id']}" in (a.get("tags") or [])]
    return mine[0] if mine else None


def issue(
    graph: Any,
    arm: Any,
    retry: RetryPolicy,
    resolver: Resolver,
    plan: Mapping[str, Any],
) -> Issued:
    try:
        # Before any create: a name that resolves to nothing or to several objects
        # fails the issue with nothing to undo.
        role_ids = [resolver.role_definition(arm, retry, r) for r in plan["roles"]]
        group_ids = [resolver.group(graph, retry, g) for g in plan["groups"]]
    except ProviderError as exc:
        exc.nothing_created = True
        raise
    body = {
        "displayName": plan["display_name"],
        "signInAudience": plan["sign_in_audience"],
        "tags": plan["app_tags"],
        "notes": f"dynsecrets lease {plan['lease_id']} (store {plan['store_id']})",
    }
    maybe_created = False

    def create() -> dict[str, Any]:
        nonlocal maybe_created
        try:
            return dict(graph.create_application(body))
        except PermanentProviderError:
            raise  # Graph refused it (no permission, bad input): nothing made
        except ProviderError as exc:
            # A lost reply or a 5xx may hide a created app; no token means no request.
            maybe_created = maybe_created or not getattr(exc, "before_request", False)
            raise

    try:
        app = retry.call(once_then(create, lambda: find_app(graph, plan)))
    except ProviderError as exc:
        exc.nothing_created = not maybe_created
        raise
    app_id, object_id = app["appId"], app["id"]
    sp = retry.call(
        once_then(
            lambda: graph.create_service_principal(app_id, plan["app_tags"], SP_PROPAGATION),
            lambda: graph.find_service_principal(app_id),
        )
    )
    password = add_password(graph, retry, object_id, plan, APP_PROPAGATION)
    for entry, role_id in zip(plan["roles"], role_ids, strict=True):
        assign(arm, retry, entry, role_id, sp["id"])
    for group_id in group_ids:
        add_member(graph, retry, group_id, sp["id"])
    return Issued(
        data={
            "client_id": app_id,
            "client_secret": password["secretText"],
            "tenant_id": plan["tenant_id"],
            "subscription_id": plan["subscription_id"],
            # The role's metadata, returned beside the credentials (keys checked at write).
            **{k: str(v) for k, v in (plan.get("metadata") or {}).items()},
        },
        secret_keys=frozenset({"client_secret"}),
        revocation={
            "app_object_id": object_id,
            "app_id": app_id,
            "sp_object_id": sp["id"],
            "key_id": password["keyId"],
            "group_ids": group_ids,
        },
        env=env_for(plan, app_id, password["secretText"]),
    )


def assign(
    arm: Any, retry: RetryPolicy, entry: Mapping[str, str], role_id: str, principal: str
) -> None:
    """PUT under the plan's name. Sent again after a lost reply; ARM may then answer
    RoleAssignmentExists, which is success when the assignment is ours."""

    def attempt() -> None:
        try:
            arm.create_assignment(
                entry["scope"], entry["assignment"], role_id, principal, ASSIGNMENT_PROPAGATION
            )
        except PermanentProviderError as exc:
            if exc.code != "RoleAssignmentExists":
                raise
            try:
                held = arm.get_assignment(entry["scope"], entry["assignment"])
            except ProviderError:
                raise exc from None
            if held["principal_id"].lower() != principal.lower():
                raise

    retry.call(attempt)


def env_for(plan: Mapping[str, Any], client_id: str, secret: str) -> dict[str, str]:
    env = {
        "AZURE_CLIENT_ID": client_id,
        "AZURE_CLIENT_SECRET": secret,
        "AZURE_TENANT_ID": plan["tenant_id"],
        "AZURE_SUBSCRIPTION_ID": plan["subscription_id"],
    }
    if plan.get("authority_host"):
        env["AZURE_AUTHORITY_HOST"] = plan["authority_host"]
    return env


def add_password(
    graph: Any,
    retry: RetryPolicy,
    object_id: str,
    plan: Mapping[str, Any],
    propagation: tuple[str, ...] = (),
) -> dict[str, Any]:
    """addPassword, never blindly retried: a lost reply may have added a password
    whose secret nobody saw. Before each retry, passwords named for this lease (the
    plan's name; we account for none yet) are removed."""

    def reconcile() -> None:
        for cred in graph.passwords(object_id):
            if cred.get("displayName") == plan["password_name"]:
                graph.remove_password(object_id, cred["keyId"])

    def again() -> None:
        reconcile()
        return

    return retry.call(
        once_then(
            lambda: graph.add_password(
                object_id, plan["password_name"], plan["password_end"], propagation
            ),
            again,
        )
    )


def add_member(graph: Any, retry: RetryPolicy, group_id: str, member_id: str) -> None:
    """POST members/$ref. Graph answers 400 ``Request_BadRequest`` both when the member
    already is one (our earlier attempt got through) and when the group's replica does
    not know our new principal yet, and 404 when the group itself is missing; the
    principal's own memberships and the group tell the cases apart, never the text."""

    def attempt() -> None:
        try:
            graph.add_member(group_id, member_id, ())
        except PermanentProviderError as exc:
            if exc.code == "Request_BadRequest":
                try:
                    held = graph.group_ids_of(member_id)
                except ProviderError as listing:
                    if not_found(listing):  # the principal has not replicated either
                        raise TransientProviderError(
                            str(exc), operation="AddGroupMember", code=exc.code
                        ) from exc
                    raise
                if group_id.lower() in held:
                    return
                raise TransientProviderError(
                    str(exc), operation="AddGroupMember", code=exc.code
                ) from exc
            if exc.code not in MEMBER_PROPAGATION:
                raise
            try:
                graph.get_group(group_id)
            except ProviderError as missing:
                if not_found(missing):
                    raise PermanentProviderError(
                        f"group {group_id} does not exist; fix azure_groups in the role",
                        operation="AddGroupMember",
                        code="GroupNotFound",
                    ) from exc
                raise
            raise TransientProviderError(
                str(exc), operation="AddGroupMember", code=exc.code
            ) from exc

    retry.call(attempt)


def revoke(
    graph: Any,
    arm: Any,
    retry: RetryPolicy,
    resolver: Resolver,
    plan: Mapping[str, Any],
    revocation: Mapping[str, Any] | None,
) -> None:
    steps = Steps(retry)
    for entry in plan["roles"]:
        steps.run(functools.partial(arm.delete_assignment, entry["scope"], entry["assignment"]))
    rev = dict(revocation or {})
    if not rev.get("app_object_id"):
        # Issue never finished: find what it got to, by the plan's names.
        app = steps.run(lambda: find_app(graph, plan))
        if app is None:
            steps.raise_any()
            return
        rev["app_object_id"], rev["app_id"] = app["id"], app["appId"]
        sp = steps.run(lambda: graph.find_service_principal(rev["app_id"]))
        rev["sp_object_id"] = sp["id"] if sp else None
        rev["group_ids"] = []
        for g in plan["groups"]:
            try:
                rev["group_ids"].append(resolver.group(graph, retry, g))
            except ProviderError as exc:
                steps.errors.append(exc)
    if rev.get("sp_object_id"):
        for group_id in rev.get("group_ids") or []:
            steps.run(functools.partial(graph.remove_member, group_id, rev["sp_object_id"]))
        steps.run(lambda: graph.delete_service_principal(rev["sp_object_id"]))
    delete_app(steps, graph, rev["app_object_id"], bool(plan.get("permanently_delete")))
    steps.raise_any()


def delete_app(steps: Steps, graph: Any, object_id: str, permanently: bool) -> None:
    steps.run(lambda: graph.delete_application(object_id))
    if permanently:
        # Deleted apps count against the directory's object quota for 30 days.
        steps.run(lambda: graph.purge_deleted(object_id))
