"""Cloud objects made when a role is written (a GCP roleset's service account
and its bindings) get the same write-ahead treatment as leases (DESIGN.md):

1. the provider plans the role operation (``Provider.plan_role``), no cloud call;
2. the plan is stored as a pending row in the leases table, with its own id
   ``<mount>/role-ops/<role>/<24 random>``, claimed by this issuer and kept alive
   by its heartbeat, before the first call; then, if the role changed since it
   was read or a role action on it is unfinished, the row goes and the write is
   refused (:func:`settle`: two racing writers cannot both pass);
3. the provider applies it; the role is stored with the state it returns, and
   the row is deleted;
4. on failure the plan is undone at once (``Provider.undo_role``, reached through
   ``Provider.revoke(plan, None)``); if the process dies, the claim lapses and
   recovery undoes it exactly like an abandoned pending lease.

A delete forgets the role first and then deletes in the cloud, so an interrupted
delete is finished by recovery (the store never points at a half-deleted role).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._names import new_lease_id
from ..errors import Conflict, MountNotConfigured, ProviderError
from ..models import LeaseState
from ..providers.base import Provider
from ..store.base import LeaseRecord
from .issuance import rollback
from .leases import ACTION_KEY, ACTOR_KEY
from .revocation import revoke_many

if TYPE_CHECKING:
    from ..store.base import MountRecord
    from .core import Core

__all__ = ["ROLE_OPS", "check_idle", "delete_role", "live_leases", "settle", "write_role"]

log = logging.getLogger("dynsecrets")

#: The lease-id segment of role operations: ``<mount>/role-ops/<role>/<24>``.
ROLE_OPS = "role-ops"


def _config(core: Core, rec: MountRecord, provider: Provider, name: str) -> dict[str, Any]:
    if rec.config is None:
        raise MountNotConfigured(
            f"{rec.path}/ is not configured, and writing {name!r} creates cloud objects; "
            f"write {rec.path}/config first"
        )
    return dict(core.config(rec, provider))


def _pending(core: Core, path: str, name: str, plan: Mapping[str, Any]) -> str:
    op_id = new_lease_id(path, f"{ROLE_OPS}/{name}")
    now = core.clock.now()
    deadline = core.heartbeat.deadline()
    core.store.insert_lease(
        LeaseRecord(
            lease_id=op_id,
            mount=path,
            role=name,
            state=LeaseState.PENDING,
            plan=dict(plan),
            revocation=None,
            issued_at=now,
            expires_at=now,
            max_expires_at=now,
            due_at=deadline,
            renewable=False,
            revocable=True,
            claim_owner=core.issuer,
            claim_deadline=deadline,
        )
    )
    return op_id


def check_idle(
    core: Core, path: str, name: str, *, any_op: bool = False, own: str | None = None
) -> None:
    """Refuse while a role action (``role_actions``) on the role is unfinished, or,
    with ``any_op``, any role operation: its switch would overwrite this write."""
    for row in core.store.list_leases(f"{path}/{ROLE_OPS}/{name}/"):
        if row.lease_id != own and (any_op or ACTION_KEY in row.plan):
            what = row.plan.get(ACTION_KEY) or f"a role {row.plan.get('role_op', 'operation')}"
            raise Conflict(
                f"{what} of {name!r} is unfinished ({row.lease_id}, {row.state}); try again "
                "once it is done (the worker finishes an interrupted one; one that can never "
                f"finish: 'lease revoke -force {row.lease_id}')"
            )


def settle(
    core: Core,
    path: str,
    name: str,
    op_id: str,
    previous: Mapping[str, Any] | None,
    *,
    any_op: bool = False,
) -> None:
    """Once the operation's row is stored and before its first call: refuse, dropping
    the row, if the role changed since ``previous`` was read or another operation the
    row's does not wait for is unfinished. With each writer storing its row before
    this check, two racing writers cannot both pass (without it, the later switch
    overwrote the other write, whose new objects nothing named any more)."""
    try:
        check_idle(core, path, name, any_op=any_op, own=op_id)
        if core.store.get_role(path, name) != previous:
            raise Conflict(
                f"role {name!r} changed while this operation was planned (another writer); "
                "read it and try again"
            )
    except Conflict:
        core.store.delete_lease(op_id)
        raise


def write_role(
    core: Core,
    rec: MountRecord,
    provider: Provider,
    name: str,
    fields: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Store the role, creating or changing its cloud objects first if it has any."""
    config = _config(core, rec, provider, name) if rec.config is not None else {}
    plan = provider.plan_role(config, rec.path, name, fields, previous)
    if previous is not None and (plan is not None or _has_actions(provider)):
        check_idle(core, rec.path, name)
    if plan is None:
        core.store.put_role(rec.path, name, dict(fields))
        return dict(fields)
    actor = core.events.current_actor()
    if actor:  # who wrote the role, for providers that record it (GCP descriptions)
        plan = {**plan, ACTOR_KEY: actor}
    if plan.get(ACTION_KEY):
        # The write retires cloud objects (GCP: a roleset moved to another project):
        # they go only after the switch, in two phases, as a role action's do.
        from .role_actions import two_phase  # role_actions imports this module

        state, _ = two_phase(core, rec, provider, name, plan, previous, fields)
        return {**fields, **state}
    config = _config(core, rec, provider, name)
    op_id = _pending(core, rec.path, name, plan)
    settle(core, rec.path, name, op_id, previous)
    with core.heartbeat.hold(core.issuer):
        try:
            with core.deadline("write_role"):
                state = provider.apply_role(config, plan)
        except BaseException as exc:
            core.events.emit("failure", op_id, rec.path, name, str(exc)[:500])
            rollback(core, provider, config, op_id, plan, exc)
            raise
        stored = {**fields, **state}
        # The role and the end of its row in one commit: recovery finds either the
        # row (and the old role) or the new role, never the new role and a row it
        # would undo.
        if not core.store.put_role_if_claimed(
            rec.path, name, stored, lease_id=op_id, owner=core.issuer, drop_row=True
        ):
            # Recovery took the row over (our claim lapsed) and undoes the write.
            raise ProviderError(
                f"writing role {name!r} lost its claim on {op_id} and is being undone; try again",
                operation="write_role",
            )
    return stored


def _has_actions(provider: Provider) -> bool:
    return type(provider).plan_role_action is not Provider.plan_role_action


def live_leases(core: Core, path: str, name: str) -> list[LeaseRecord]:
    """The role's leases, without its role operations."""
    return [
        r
        for r in core.store.list_leases(f"{path}/")
        if r.role == name and f"/{ROLE_OPS}/" not in r.lease_id
    ]


def delete_role(
    core: Core,
    rec: MountRecord,
    provider: Provider,
    name: str,
    previous: Mapping[str, Any],
    *,
    revoke_leases: bool,
) -> None:
    """Forget the role, then delete its cloud objects (refused while it has live
    leases, unless ``revoke_leases``)."""
    config = dict(core.config(rec, provider)) if rec.config is not None else {}
    plan = provider.plan_role(config, rec.path, name, None, previous)
    if plan is not None or _has_actions(provider):
        check_idle(core, rec.path, name)
    if plan is None:
        core.store.delete_role(rec.path, name)
        return
    config = _config(core, rec, provider, name)
    live = live_leases(core, rec.path, name)
    if live and not revoke_leases:
        raise Conflict(
            f"role {name!r} has {len(live)} live lease(s) whose credentials belong to its "
            "cloud objects; revoke them first, or delete with revoke_leases=True"
        )
    if live:
        summary = revoke_many(core, live)
        if summary.failed:
            raise Conflict(
                f"{len(summary.failed)} lease(s) of {name!r} could not be revoked; the role "
                "stays until they are (see 'lease list')"
            )
    op_id = _pending(core, rec.path, name, plan)
    settle(core, rec.path, name, op_id, previous)
    core.store.delete_role(rec.path, name)
    with core.heartbeat.hold(core.issuer):
        try:
            with core.deadline("delete_role"):
                provider.apply_role(config, plan)
        except BaseException as exc:
            # Rolled forward: "undo" of a delete finishes it; if the cloud refuses,
            # the row stays for the worker.
            rollback(core, provider, config, op_id, plan, exc)
            raise
        core.store.delete_lease(op_id)
