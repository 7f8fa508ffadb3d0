"""Role-level cloud objects: a roleset's service accounts and the bindings of
rolesets and static accounts, planned before the first call (the engine stores
the plan as a pending role operation) and applied, undone or finished from it.

- write: create the planned accounts, then converge every account's bindings
  from the previous role's to the new role's (so editing bindings updates them
  in place: the account and its live keys stay). Undo: remove what the write
  added, restore what it removed, delete the accounts it created. A new
  ``project`` replaces the accounts as a rotation does: two phases, the old
  accounts retired after the switch.
- delete: remove the role's members from every policy, delete its accounts.
  A crash is finished (rolled forward), since the store already forgot the role.
- rotate (``roleset_rotate``): a write that creates a whole new pool and keeps
  nothing; the old accounts are retired (:func:`retire`) after the switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import DynSecretsError, PermanentProviderError, RevokeErrors
from ...retry import RetryPolicy
from .clients import GoogleClients, call_timeout
from .errors import google_errors
from .names import account_id, description, display_name, parse_description, with_actor
from .policies import bind, modify, unbind

__all__ = [
    "ACTION_KEY",
    "apply",
    "new_account",
    "plan_delete",
    "plan_write",
    "replace_plan",
    "retire",
    "undo",
]

ROLESET = "roleset"
#: Where the engine puts who asked in a plan (``lifecycle.leases.ACTOR_KEY``).
ACTOR_KEY = "_actor"
#: A write planned with this key runs in two phases (``lifecycle.role_actions``,
#: ``lifecycle.leases.ACTION_KEY``): objects retired after the switch.
ACTION_KEY = "_action"


def _member(email: str) -> str:
    return f"serviceAccount:{email}"


def plan_write(
    mount: str,
    name: str,
    role: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    bindings: Mapping[str, list[str]],
    previous_bindings: Mapping[str, list[str]],
    store_id: str,
) -> dict[str, Any] | None:
    kind = role["kind"]
    prev_kind = previous.get("kind") if previous else None
    if kind == ROLESET:
        project = role["project"]
        old = list(previous.get("service_accounts") or []) if previous else []
        same = prev_kind == ROLESET and previous is not None and previous.get("project") == project
        keep = old if same else []
        want = int(role.get("max_accounts") or 1)
        create = [
            new_account(mount, name, project, store_id) for _ in range(max(0, want - len(keep)))
        ]
        if old and not same:
            # A new project: new accounts replace the old ones, which are retired
            # only after the switch, as a rotation does (their keys revoked first).
            return {
                **replace_plan(mount, name, create, bindings),
                ACTION_KEY: "write",
                "retire": old,
                "retire_bindings": dict(previous_bindings),
            }
        delete: list[str] = []
        release: list[str] = []
        prev_b = dict(previous_bindings) if same else {}
    else:
        email = role.get("service_account_email")
        if not bindings and not previous_bindings:
            return None
        keep = [email] if email else []
        create, delete = [], []
        old_email = previous.get("service_account_email") if previous else None
        same_account = old_email == email
        prev_b = dict(previous_bindings) if same_account else {}
        # A static account replaced by another: the old one loses its bindings (it
        # is not ours to delete).
        release = [old_email] if old_email and not same_account and previous_bindings else []
    return {
        "role_op": "write",
        "kind": kind,
        "mount": mount,
        "role": name,
        "create": create,
        "keep": keep,
        "delete": delete,
        "release": release,
        "delete_bindings": dict(previous_bindings) if (delete or release) else {},
        "bindings": dict(bindings),
        "previous_bindings": prev_b,
    }


def replace_plan(
    mount: str, name: str, create: list[dict[str, str]], bindings: Mapping[str, list[str]]
) -> dict[str, Any]:
    """A write that creates ``create``, binds them, and keeps nothing else."""
    return {
        "role_op": "write",
        "kind": ROLESET,
        "mount": mount,
        "role": name,
        "create": create,
        "keep": [],
        "delete": [],
        "release": [],
        "delete_bindings": {},
        "bindings": dict(bindings),
        "previous_bindings": {},
    }


def new_account(mount: str, name: str, project: str, store_id: str) -> dict[str, str]:
    """One account to create for roleset ``name``, named before any call."""
    aid = account_id(name)
    return {
        "account_id": aid,
        "email": f"{aid}@{project}.iam.gserviceaccount.com",
        "project": project,
        "display_name": display_name(mount, name),
        "description": description(mount, name, store_id),
    }


def plan_delete(
    mount: str, name: str, role: Mapping[str, Any], bindings: Mapping[str, list[str]]
) -> dict[str, Any] | None:
    kind = role.get("kind")
    if kind == ROLESET:
        accounts = list(role.get("service_accounts") or [])
        return {
            "role_op": "delete",
            "kind": kind,
            "mount": mount,
            "role": name,
            "unbind": accounts,
            "delete": accounts,
            "bindings": dict(bindings),
        }
    if bindings and role.get("service_account_email"):
        return {
            "role_op": "delete",
            "kind": kind,
            "mount": mount,
            "role": name,
            "unbind": [role["service_account_email"]],
            "delete": [],
            "bindings": dict(bindings),
        }
    return None


def _create(
    clients: GoogleClients, retry: RetryPolicy, item: Mapping[str, Any], actor: str
) -> None:
    # Accounts have no labels: who asked goes in the description, after our tags.
    text = with_actor(item["description"], actor)

    def once() -> None:
        clients.ensure_token("CreateServiceAccount")
        try:
            with google_errors("CreateServiceAccount"):
                clients.iam.create_service_account(
                    request={
                        "name": f"projects/{item['project']}",
                        "account_id": item["account_id"],
                        "service_account": {
                            "display_name": item["display_name"],
                            "description": text,
                        },
                    },
                    retry=None,
                    timeout=call_timeout(),
                )
        except DynSecretsError as exc:
            # A retried create whose first attempt reached Google: ours if it carries
            # our tags (the id has 8 random characters, so nobody else picked it).
            if getattr(exc, "code", None) != "ALREADY_EXISTS":
                raise
            found = _get_account(clients, item["email"])
            if found is None or found.description != text:
                raise
            return

    retry.call(once)


def _get_account(clients: GoogleClients, email: str) -> Any:
    clients.ensure_token("GetServiceAccount")
    try:
        with google_errors("GetServiceAccount"):
            return clients.iam.get_service_account(
                name=f"projects/-/serviceAccounts/{email}", retry=None, timeout=call_timeout()
            )
    except DynSecretsError as exc:
        if getattr(exc, "code", None) == "NOT_FOUND":
            return None
        raise


def delete_account(clients: GoogleClients, retry: RetryPolicy, email: str) -> None:
    """Delete an account we made; NOT_FOUND is success. Refuses an account whose
    description lacks our mark (never delete what this library did not create)."""

    def once() -> None:
        found = _get_account(clients, email)
        if found is None:
            return
        if not parse_description(found.description):
            raise PermanentProviderError(
                f"refusing to delete {email}: it was not created by dynsecrets",
                operation="DeleteServiceAccount",
                code="NOT_OURS",
            )
        try:
            with google_errors("DeleteServiceAccount"):
                clients.iam.delete_service_account(
                    name=f"projects/-/serviceAccounts/{email}", retry=None, timeout=call_timeout()
                )
        except DynSecretsError as exc:
            if getattr(exc, "code", None) != "NOT_FOUND":
                raise

    retry.call(once)


def _converge(
    clients: GoogleClients,
    retry: RetryPolicy,
    email: str,
    want: Mapping[str, list[str]],
    had: Mapping[str, list[str]],
    *,
    fresh: bool,
    forget: list[str],
) -> list[DynSecretsError]:
    errors: list[DynSecretsError] = []
    for resource in sorted(set(want) | set(had)):
        add = sorted(set(want.get(resource, [])) - set(had.get(resource, [])))
        drop = sorted(set(had.get(resource, [])) - set(want.get(resource, [])))
        # Re-assert the roles we want even if unchanged: cheap, and repairs drift.
        roles = want.get(resource, [])
        try:
            if roles or add:
                modify(
                    clients,
                    retry,
                    resource,
                    bind(_member(email), roles, forget),
                    fresh_account=fresh,
                )
            if drop:
                modify(clients, retry, resource, unbind(_member(email), drop, forget))
        except DynSecretsError as exc:
            errors.append(exc)
    return errors


def apply(clients: GoogleClients, retry: RetryPolicy, plan: Mapping[str, Any]) -> dict[str, Any]:
    """Carry out a role plan; returns the state the engine stores in the role."""
    if plan["role_op"] == "delete":
        _finish_delete(clients, retry, plan)
        return {}
    for item in plan["create"]:
        _create(clients, retry, item, str(plan.get(ACTOR_KEY) or ""))
    created = [item["email"] for item in plan["create"]]
    forget = list(plan["delete"])
    for email in plan["keep"]:
        errs = _converge(
            clients,
            retry,
            email,
            plan["bindings"],
            plan["previous_bindings"],
            fresh=False,
            forget=forget,
        )
        if errs:
            raise errs[0] if len(errs) == 1 else RevokeErrors(errs)
    for email in created:
        errs = _converge(clients, retry, email, plan["bindings"], {}, fresh=True, forget=forget)
        if errs:
            raise errs[0] if len(errs) == 1 else RevokeErrors(errs)
    for email in plan.get("release", []):
        _converge(clients, retry, email, {}, plan["delete_bindings"], fresh=False, forget=[])
    for email in plan["delete"]:
        _converge(clients, retry, email, {}, plan["delete_bindings"], fresh=False, forget=[])
        delete_account(clients, retry, email)
    if plan["kind"] != ROLESET:
        return {}
    accounts = list(plan["keep"]) + created
    return {"service_accounts": accounts, "service_account_email": accounts[0]}


def retire(
    clients: GoogleClients,
    retry: RetryPolicy,
    emails: list[str],
    bindings: Mapping[str, list[str]],
) -> None:
    """Remove the accounts' members from ``bindings``' policies, then the accounts."""
    _finish_delete(clients, retry, {"unbind": emails, "delete": emails, "bindings": bindings})


def _finish_delete(clients: GoogleClients, retry: RetryPolicy, plan: Mapping[str, Any]) -> None:
    errors: list[DynSecretsError] = []
    for email in plan["unbind"]:
        errors += _converge(clients, retry, email, {}, plan["bindings"], fresh=False, forget=[])
    for email in plan["delete"]:
        try:
            delete_account(clients, retry, email)
        except DynSecretsError as exc:
            errors.append(exc)
    # Accounts we deleted leave deleted:serviceAccount:... members behind if anything
    # bound them after our unbind; sweep the policies we know once more.
    if plan["delete"]:
        for resource in plan["bindings"]:
            try:
                modify(clients, retry, resource, unbind("-", [], forget=plan["delete"]))
            except DynSecretsError as exc:
                errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else RevokeErrors(errors)


def undo(clients: GoogleClients, retry: RetryPolicy, plan: Mapping[str, Any]) -> None:
    """Undo an interrupted write (or finish an interrupted delete). Idempotent."""
    if plan["role_op"] == "delete":
        _finish_delete(clients, retry, plan)
        return
    errors: list[DynSecretsError] = []
    for email in plan["keep"]:
        errors += _converge(
            clients,
            retry,
            email,
            plan["previous_bindings"],
            plan["bindings"],
            fresh=False,
            forget=[],
        )
    for item in plan["create"]:
        errors += _converge(
            clients, retry, item["email"], {}, plan["bindings"], fresh=False, forget=[]
        )
        try:
            delete_account(clients, retry, item["email"])
        except DynSecretsError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else RevokeErrors(errors)
