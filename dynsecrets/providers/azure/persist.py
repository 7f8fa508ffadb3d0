"""``persist_app``: one application and service principal per role, made when the
role is written and kept across leases; a lease is only a password on it.

They are written ahead by the engine's role-level hooks (``plan_role``,
``apply_role``, ``undo_role``): the plan names the application's display name
(with a random part), its tags (store, mount, role) and every role assignment's
name before any call, and is stored as a pending role operation.

- write (new): create application -> service principal -> role assignments ->
  group memberships. A lost reply is reconciled: the application and principal
  are found again by display name and tag, an assignment answered with
  RoleAssignmentExists is read back and accepted when it is ours.
- write (edit): the same application; assignments and groups the role no longer
  has are removed first, then the new ones added (an entry rewritten from
  role_name to role_id of the same definition gets a new name, and ARM refuses
  two assignments of one role to one principal at one scope).
- undo of a write: delete the application a first write created (with its
  assignments and memberships); for an edit, remove what it added and restore
  what it removed.
- delete: assignments, memberships, service principal, application (purged from
  deleted items when ``permanently_delete``). The engine forgets the role first,
  so an interrupted delete is finished, never undone.
"""

from __future__ import annotations

import functools
import json
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import PermanentProviderError, ProviderError, ValidationError
from ...retry import RetryPolicy
from .apps import SP_PROPAGATION, add_member, assign, delete_app
from .graph import odata_quote
from .resolve import Resolver
from .roles import groups_of, roles_of
from .steps import TAG, TAG_MOUNT, TAG_ROLE, TAG_STORE, Steps, not_found, once_then

__all__ = ["apply", "has_app", "plan_delete", "plan_write", "undo"]

_RANDOM = string.ascii_lowercase + string.digits
#: Fields that shape the application itself, fixed when it is created.
_APP_FIELDS: tuple[tuple[str, Any], ...] = (("sign_in_audience", "AzureADMyOrg"), ("tags", []))


def _permanently(role: Mapping[str, Any]) -> bool:
    # Ours defaults to true for apps we create (deleted apps count against the
    # directory quota for 30 days and nobody restores them).
    value = role.get("permanently_delete")
    return True if value is None else bool(value)


def _key(entry: Mapping[str, Any]) -> str:
    """An ``azure_roles`` entry's identity across edits: its scope and role as written."""
    return json.dumps(
        [
            str(entry["scope"]).lower(),
            entry.get("role_id") or "",
            str(entry.get("role_name") or "").lower(),
        ]
    )


def _app_of(role: Mapping[str, Any]) -> dict[str, str]:
    return {
        "object_id": role["persisted_app_object_id"],
        "app_id": role["persisted_app_id"],
        "sp_object_id": role["persisted_sp_object_id"],
        "display_name": role.get("persisted_display_name") or "",
    }


def has_app(role: Mapping[str, Any] | None) -> bool:
    return bool(role and role.get("persisted_app_object_id"))


def plan_write(
    mount: str,
    name: str,
    role: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    store_id: str,
) -> dict[str, Any] | None:
    had = has_app(previous)
    if not role.get("persist_app"):
        if had:
            # Its live leases' passwords are on that application: dropping it on an
            # edit would break them without revoking them.
            raise ValidationError(
                "persist_app",
                f"{name!r} owns a persisted application; delete the role (which deletes "
                "the application) before writing it without persist_app",
            )
        return None
    base: dict[str, Any] = {
        "role_op": "write",
        "mode": "persisted",
        "mount": mount,
        "role": name,
        "store_id": store_id,
        "permanently_delete": _permanently(role),
        "groups": groups_of(role),
    }
    if previous is not None and had:
        for field, default in _APP_FIELDS:
            if (role.get(field) or default) != (previous.get(field) or default):
                raise ValidationError(
                    field,
                    "is set on the persisted application when it is created; delete the "
                    "role and write it again to change it",
                )
        old = [dict(a) for a in previous.get("persisted_assignments") or []]
        unmatched = {_key(a): a for a in old}
        wanted = []
        for entry in roles_of(role):
            kept = unmatched.pop(_key(entry), None)
            name_ = kept["assignment"] if kept else str(uuid.uuid4())
            wanted.append({**entry, "assignment": name_})
        return {
            **base,
            "app": _app_of(previous),
            "assign": wanted,
            "unassign": list(unmatched.values()),
            "previous_assignments": old,
            "previous_group_ids": list(previous.get("persisted_group_ids") or []),
        }
    suffix = "".join(secrets.choice(_RANDOM) for _ in range(16))
    return {
        **base,
        "app": None,
        # At most 11 + 64 + 1 + 64 + 5 + 16 characters: within Graph's 256.
        "display_name": f"dynsecrets-{mount}-{name}-app-{suffix}",
        "app_tags": [
            *role.get("tags", []),
            TAG,
            f"{TAG_MOUNT}{mount}",
            f"{TAG_STORE}{store_id}",
            f"{TAG_ROLE}{name}",
        ],
        "sign_in_audience": role.get("sign_in_audience") or "AzureADMyOrg",
        "assign": [{**r, "assignment": str(uuid.uuid4())} for r in roles_of(role)],
        "unassign": [],
        "previous_assignments": [],
        "previous_group_ids": [],
    }


def plan_delete(mount: str, name: str, previous: Mapping[str, Any]) -> dict[str, Any] | None:
    if not has_app(previous):
        return None
    return {
        "role_op": "delete",
        "mode": "persisted",
        "mount": mount,
        "role": name,
        "app": _app_of(previous),
        "assignments": [dict(a) for a in previous.get("persisted_assignments") or []],
        "group_ids": list(previous.get("persisted_group_ids") or []),
        "permanently_delete": _permanently(previous),
    }


def find_app(graph: Any, plan: Mapping[str, Any]) -> dict[str, Any] | None:
    """The application a first write planned: its display name, and our role and
    store tags (a display name alone could be someone else's)."""
    found = graph.find_applications(
        f"displayName eq {odata_quote(plan['display_name'])}", "id,appId,displayName,tags"
    )
    want = {f"{TAG_ROLE}{plan['role']}", f"{TAG_STORE}{plan['store_id']}"}
    mine = [a for a in found if want <= set(a.get("tags") or [])]
    return mine[0] if mine else None


def ensure_member(graph: Any, retry: RetryPolicy, group_id: str, member_id: str) -> None:
    """Add a group membership that may already exist (an edit, an undo). The
    reference is built here and both objects exist (a missing one is a 404), so
    Graph's only 400 for this call is "references already exist": a member."""
    try:
        add_member(graph, retry, group_id, member_id)
    except PermanentProviderError as exc:
        if exc.code != "Request_BadRequest":
            raise


def _resolve(
    graph: Any, arm: Any, retry: RetryPolicy, resolver: Resolver, plan: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    roles = [resolver.role_definition(arm, retry, r) for r in plan["assign"]]
    groups = [resolver.group(graph, retry, g) for g in plan["groups"]]
    return roles, groups


def apply(
    graph: Any, arm: Any, retry: RetryPolicy, resolver: Resolver, plan: Mapping[str, Any]
) -> dict[str, Any]:
    """Carry out a role plan; returns the state the engine stores in the role."""
    if plan["role_op"] == "delete":
        finish_delete(graph, arm, retry, plan)
        return {}
    # Before any change: a name resolving to nothing or to several objects fails the
    # write with nothing done.
    role_ids, group_ids = _resolve(graph, arm, retry, resolver, plan)
    if plan["app"] is None:
        body = {
            "displayName": plan["display_name"],
            "signInAudience": plan["sign_in_audience"],
            "tags": plan["app_tags"],
            "notes": f"dynsecrets role {plan['mount']}/{plan['role']} (store {plan['store_id']})",
        }
        app = retry.call(
            once_then(lambda: graph.create_application(body), lambda: find_app(graph, plan))
        )
        sp = retry.call(
            once_then(
                lambda: graph.create_service_principal(
                    app["appId"], plan["app_tags"], SP_PROPAGATION
                ),
                lambda: graph.find_service_principal(app["appId"]),
            )
        )
        held = {
            "object_id": app["id"],
            "app_id": app["appId"],
            "sp_object_id": sp["id"],
            "display_name": plan["display_name"],
        }
    else:
        held = dict(plan["app"])
    principal = held["sp_object_id"]
    previous_groups = list(plan["previous_group_ids"])
    for gone in plan["unassign"]:
        retry.call(functools.partial(arm.delete_assignment, gone["scope"], gone["assignment"]))
    for group_id in previous_groups:
        if group_id not in group_ids:
            _remove_member(graph, retry, group_id, principal)
    for entry, role_id in zip(plan["assign"], role_ids, strict=True):
        assign(arm, retry, entry, role_id, principal)
    for group_id in group_ids:
        if group_id not in previous_groups:
            ensure_member(graph, retry, group_id, principal)
    return {
        "persisted_app_object_id": held["object_id"],
        "persisted_app_id": held["app_id"],
        "persisted_sp_object_id": principal,
        "persisted_display_name": held["display_name"],
        "persisted_assignments": [
            {**entry, "role_definition_id": role_id}
            for entry, role_id in zip(plan["assign"], role_ids, strict=True)
        ],
        "persisted_group_ids": group_ids,
    }


def _remove_member(graph: Any, retry: RetryPolicy, group_id: str, member_id: str) -> None:
    try:
        retry.call(lambda: graph.remove_member(group_id, member_id))
    except ProviderError as exc:
        if not not_found(exc):
            raise


def _collect(steps: Steps, fn: Callable[[], object]) -> None:
    """Run a step that retries by itself; keep its error, carry on."""
    try:
        fn()
    except ProviderError as exc:
        if not not_found(exc):
            steps.errors.append(exc)


def finish_delete(graph: Any, arm: Any, retry: RetryPolicy, plan: Mapping[str, Any]) -> None:
    """Every step attempted, "not found" is success, errors reported together."""
    steps = Steps(retry)
    app = plan["app"]
    for a in plan["assignments"]:
        steps.run(functools.partial(arm.delete_assignment, a["scope"], a["assignment"]))
    for group_id in plan["group_ids"]:
        steps.run(functools.partial(graph.remove_member, group_id, app["sp_object_id"]))
    steps.run(lambda: graph.delete_service_principal(app["sp_object_id"]))
    delete_app(steps, graph, app["object_id"], bool(plan["permanently_delete"]))
    steps.raise_any()


def undo(
    graph: Any, arm: Any, retry: RetryPolicy, resolver: Resolver, plan: Mapping[str, Any]
) -> None:
    """Undo an interrupted write, or finish an interrupted delete. Idempotent."""
    if plan["role_op"] == "delete":
        finish_delete(graph, arm, retry, plan)
        return
    steps = Steps(retry)
    before = {a["assignment"] for a in plan["previous_assignments"]}
    for entry in plan["assign"]:
        if entry["assignment"] not in before:
            steps.run(functools.partial(arm.delete_assignment, entry["scope"], entry["assignment"]))
    # The groups this write meant to join; a name that no longer resolves is kept
    # as an error, the rest still undone.
    group_ids: list[str] = []
    for g in plan["groups"]:
        try:
            group_ids.append(resolver.group(graph, retry, g))
        except ProviderError as exc:
            steps.errors.append(exc)
    if plan["app"] is None:
        app = steps.run(lambda: find_app(graph, plan))
        if app is not None:
            sp = steps.run(lambda: graph.find_service_principal(app["appId"]))
            if sp:
                for group_id in group_ids:
                    steps.run(functools.partial(graph.remove_member, group_id, sp["id"]))
                steps.run(lambda: graph.delete_service_principal(sp["id"]))
            delete_app(steps, graph, app["id"], bool(plan["permanently_delete"]))
        steps.raise_any()
        return
    principal = plan["app"]["sp_object_id"]
    previous_groups = list(plan["previous_group_ids"])
    for group_id in group_ids:
        if group_id not in previous_groups:
            steps.run(functools.partial(graph.remove_member, group_id, principal))
    for gone in plan["unassign"]:
        _collect(
            steps,
            functools.partial(assign, arm, retry, gone, gone["role_definition_id"], principal),
        )
    for group_id in previous_groups:
        if group_id not in group_ids:
            _collect(steps, functools.partial(ensure_member, graph, retry, group_id, principal))
    steps.raise_any()
