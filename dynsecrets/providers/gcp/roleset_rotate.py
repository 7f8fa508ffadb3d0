"""``roleset/<n>/rotate``: new service accounts replace the roleset's, bound like
them; the old ones are deleted once the keys issued from them are revoked.

The engine runs it as a two-phase role action (``lifecycle.role_actions``):

- ``apply_role`` creates and binds the new accounts (``accounts.apply`` on a plan
  shaped like a write that keeps nothing), and ``undo_role`` removes them until
  the roleset is stored with them;
- the engine revokes each lease whose key is on an old account
  (:func:`retires_lease`), then ``finish_role`` removes the old accounts' members
  from the roleset's bindings and deletes the accounts (:func:`finish`).

An access_token roleset holds no keys: its account is simply replaced. A pool
(``max_accounts``) is replaced whole. A roleset written with a new ``project`` is
replaced the same way (``accounts.plan_write``), through the same two phases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ValidationError
from ...retry import RetryPolicy
from .accounts import new_account, replace_plan, retire
from .clients import GoogleClients

__all__ = ["ROTATE", "finish", "plan", "retires_lease"]

ROTATE = "rotate"


def plan(
    mount: str,
    name: str,
    role: Mapping[str, Any],
    bindings: Mapping[str, list[str]],
    store_id: str,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    if options:
        field = sorted(options)[0]
        raise ValidationError(field, "roleset rotate takes no fields; write roleset/<n>/rotate")
    project = role["project"]
    want = int(role.get("max_accounts") or 1)
    create = [new_account(mount, name, project, store_id) for _ in range(want)]
    return {
        # What accounts.apply/undo read: a write that creates and keeps nothing else.
        **replace_plan(mount, name, create, bindings),
        "role_op": ROTATE,
        # Retired by finish(), after the switch and the revocations.
        "retire": list(role.get("service_accounts") or []),
    }


def retires_lease(
    plan: Mapping[str, Any], lease_plan: Mapping[str, Any], revocation: Mapping[str, Any] | None
) -> bool:
    """A key lease on an old account (or, still pending, that may have made its key
    on one); never one on a new account."""
    if lease_plan.get("type") != "key":
        return False
    old = set(plan.get("retire") or [])
    if revocation is not None and revocation.get("account"):
        return revocation["account"] in old
    return bool(old & set(lease_plan.get("accounts") or []))


def finish(clients: GoogleClients, retry: RetryPolicy, plan: Mapping[str, Any]) -> None:
    """Remove the retired accounts' members (from the bindings they had: a write to a
    new project may change them too), then the accounts."""
    had = plan["retire_bindings"] if "retire_bindings" in plan else plan["bindings"]
    retire(clients, retry, list(plan.get("retire") or []), had)
