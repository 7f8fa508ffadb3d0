"""Role actions that replace a role's cloud objects (GCP ``roleset/<n>/rotate``: a
new account for the old one), written ahead in two phases through the role-level
write-ahead of :mod:`.role_resources`:

1. the provider plans the action (``Provider.plan_role_action``); the plan is
   stored as a pending row ``<mount>/role-ops/<role>/<24>`` (``_action`` names
   the action), claimed by this issuer, before the first call, and refused if
   the role changed since it was read or another operation on it is unfinished;
2. ``apply_role`` makes the new objects. Up to here a failure, or recovery after
   a crash, undoes them (``undo_role``); the role still names the old objects,
   which nothing has touched: the old state, consistent;
3. the switch: the role is stored with the state ``apply_role`` returned and
   ``_role_op`` set to the row's id, in one transaction with the check that this
   issuer still claims the row (``put_role_if_claimed``);
4. every lease of the role that ``retires_lease`` selects is revoked, each as any
   revoke (so no lease is left pointing at a deleted object);
5. ``finish_role`` removes the old objects; the leases are looked up once more
   (an issue that read the role just before the switch), then the row goes.

Past the switch nothing is undone: a failure leaves the row for the worker, a
crash leaves it for recovery, and both finish steps 4-5 (the stored role carries
the row's id, which is how they tell). While such a row exists, writes, deletes
and other actions on the role are refused (they would overwrite the switch).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import DynSecretsError, ProviderError
from ..models import LeaseState
from .events import error_text
from .issuance import rollback
from .leases import ACTION_KEY, ACTOR_KEY
from .revocation import revoke_many
from .role_resources import _config, _pending, check_idle, live_leases, settle

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..store.base import LeaseRecord, MountRecord
    from .core import Core

__all__ = ["MARK", "recover", "run", "two_phase"]

log = logging.getLogger("dynsecrets")

#: The role field naming the role operation that switched it (step 3).
MARK = "_role_op"


def run(
    core: Core,
    rec: MountRecord,
    provider: Provider,
    name: str,
    action: str,
    options: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Run ``action`` on role ``name``: written ahead if the provider plans it,
    else the provider's plain ``role_action``."""
    stored = core.store.get_role(rec.path, name)
    role = stored or {}
    config = core.config(rec, provider)
    plan = provider.plan_role_action(config, rec.path, name, role, action, options)
    if plan is None:
        with core.deadline(action):
            return provider.role_action(config, rec.path, name, role, action, options)
    state, revoked = two_phase(
        core, rec, provider, name, {**plan, ACTION_KEY: action}, stored, role
    )
    return {**state, "revoked_leases": revoked}


def two_phase(
    core: Core,
    rec: MountRecord,
    provider: Provider,
    name: str,
    plan: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
) -> tuple[dict[str, Any], int]:
    """Steps 1-5 for ``plan`` (its ``_action`` set): the role action above, or a role
    write whose plan retires objects (GCP: a roleset moved to another project).
    ``previous``: the role as read (the write is refused if it changed since);
    ``fields``: what the switch stores, with the state ``apply_role`` returns.
    Returns that state and how many leases were revoked."""
    action = str(plan[ACTION_KEY])
    config = _config(core, rec, provider, name)
    check_idle(core, rec.path, name, any_op=True)
    plan = dict(plan)
    actor = core.events.current_actor()
    if actor:
        plan[ACTOR_KEY] = actor
    op_id = _pending(core, rec.path, name, plan)
    settle(core, rec.path, name, op_id, previous, any_op=True)
    with core.heartbeat.hold(core.issuer):
        try:
            with core.deadline(action):
                state = provider.apply_role(config, plan)
        except BaseException as exc:
            core.events.emit("failure", op_id, rec.path, name, error_text(exc))
            rollback(core, provider, config, op_id, plan, exc)
            raise
        # The switch, only while the row is still ours: done in one transaction with
        # that check, so a recovery taking the row over cannot slip in between.
        if not core.store.put_role_if_claimed(
            rec.path, name, {**fields, **state, MARK: op_id}, lease_id=op_id, owner=core.issuer
        ):
            # Recovery took the row over (our claim lapsed) before the switch: it
            # undoes the new objects, and the role keeps the old ones.
            raise ProviderError(
                f"{action} of {name!r} lost its claim on {op_id} and is being undone; try again",
                operation=action,
            )
        try:
            revoked = _finish(core, provider, config, rec.path, name, plan)
        except DynSecretsError as exc:
            row = core.store.get_lease(op_id)
            attempts = (row.attempts if row else 0) + 1
            core.store.record_failure(
                op_id,
                state=LeaseState.REVOKING,
                attempts=attempts,
                last_error=error_text(exc),
                due_at=core.clock.now() + core.backoff(attempts),
            )
            raise ProviderError(
                f"{name!r} now uses its new cloud objects, but retiring the old ones "
                f"failed: {error_text(exc)}; the worker retries it ({op_id})",
                operation=action,
            ) from exc
        core.store.delete_lease(op_id)
    log.info("%s of %s/%s done; %d lease(s) revoked", action, rec.path, name, revoked)
    return state, revoked


def recover(core: Core, provider: Provider, config: Mapping[str, Any], rec: LeaseRecord) -> None:
    """Recovery or the worker on an interrupted action's row: before the switch,
    undo the new objects; past it (the role names this row), finish."""
    role = core.store.get_role(rec.mount, rec.role)
    switched = role is not None and role.get(MARK) == rec.lease_id
    if not switched:
        with core.limited(rec.mount), core.deadline("revoke"):
            core.retry.call(lambda: provider.undo_role(config, rec.plan))
        if role is not None:
            return
        # The role is gone (deleted past the switch, or after an undone action):
        # neither its old nor its new objects are anyone's now.
    _finish(core, provider, config, rec.mount, rec.role, rec.plan)


def _retired(
    core: Core, provider: Provider, mount: str, name: str, plan: Mapping[str, Any]
) -> list[LeaseRecord]:
    return [
        r
        for r in live_leases(core, mount, name)
        if provider.retires_lease(plan, r.plan, r.revocation)
    ]


def _finish(
    core: Core,
    provider: Provider,
    config: Mapping[str, Any],
    mount: str,
    name: str,
    plan: Mapping[str, Any],
) -> int:
    """Steps 4-5: revoke the leases on the old objects, remove the objects, then
    revoke any lease that appeared on them meanwhile. Idempotent."""
    revoked = 0
    for second in (False, True):
        records = _retired(core, provider, mount, name, plan)
        if records:
            summary = revoke_many(core, records)
            revoked += summary.revoked
            if summary.failed:
                raise ProviderError(
                    f"{len(summary.failed)} lease(s) on the objects {name!r} retires could "
                    "not be revoked (see 'lease list'); the old objects stay until they are",
                    operation=str(plan.get(ACTION_KEY) or "role_action"),
                )
        if not second:
            with core.limited(mount), core.deadline("finish_role"):
                core.retry.call(lambda: provider.finish_role(config, plan))
    return revoked
