"""Looking leases up, by id or by path prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._names import check_text, show
from ..errors import LeaseNotFound, ValidationError
from ..models import LeaseInfo, LeaseState

if TYPE_CHECKING:
    from ..store.base import LeaseRecord, MountRecord
    from .core import Core

__all__ = [
    "ACTION_KEY",
    "ACTOR_KEY",
    "TASK_KEY",
    "info",
    "is_task",
    "lease_and_mount",
    "lease_record",
    "under",
]

#: The plan key under which the engine keeps who asked for a lease.
ACTOR_KEY = "_actor"
#: The plan key of a scheduled task's row (a rotation), which shares the lease table
#: for its claims, retries and backoff but is not a lease.
TASK_KEY = "_task"
#: The plan key of a role operation that is a role action written ahead in two
#: phases (``lifecycle.role_actions``): its value is the action's name.
ACTION_KEY = "_action"


def is_task(rec: LeaseRecord) -> bool:
    return TASK_KEY in rec.plan


# Vault's lease ids are a few dozen characters; anything this long is not one.
_MAX_LEASE_ID = 512


def lease_record(core: Core, lease_id: str) -> LeaseRecord:
    _check_id(lease_id)
    return _found(
        lease_id, None if len(lease_id) > _MAX_LEASE_ID else core.store.get_lease(lease_id)
    )


def lease_and_mount(core: Core, lease_id: str) -> tuple[LeaseRecord, MountRecord | None]:
    """The lease (as :func:`lease_record`) and its mount, read in one query."""
    _check_id(lease_id)
    if len(lease_id) > _MAX_LEASE_ID:
        return _found(lease_id, None), None
    rec, mount = core.store.get_lease_and_mount(lease_id)
    return _found(lease_id, rec), mount


def _check_id(lease_id: object) -> None:
    if not isinstance(lease_id, str):
        raise LeaseNotFound(f"lease ids are strings, got {type(lease_id).__name__}")
    check_text(lease_id, "lease_id")


def _found(lease_id: str, rec: LeaseRecord | None) -> LeaseRecord:
    if rec is None or is_task(rec):
        raise LeaseNotFound(f"no lease {show(lease_id)}; it may have expired or been revoked")
    return rec


def under(core: Core, prefix: str, *, state: str | None = None) -> list[LeaseRecord]:
    """Leases whose id is ``prefix`` or lies under it as a path."""
    if not isinstance(prefix, str):
        raise ValidationError("prefix", "expected a string")
    check_text(prefix, "prefix")
    if state is not None and state not in LeaseState.ALL:
        raise ValidationError("state", f"must be one of {', '.join(LeaseState.ALL)}")
    if not prefix:
        return [r for r in core.store.list_leases(state=state) if not is_task(r)]
    exact = core.store.get_lease(prefix)
    if exact is not None and (state is None or exact.state == state) and not is_task(exact):
        return [exact]
    # Path semantics, as Vault: "aws/creds/ec2" covers "aws/creds/ec2/..." but not
    # "aws/creds/ec2-read-only/...".
    found = core.store.list_leases(prefix.rstrip("/") + "/", state=state)
    return [r for r in found if not is_task(r)]


def info(rec: LeaseRecord) -> LeaseInfo:
    return LeaseInfo(
        lease_id=rec.lease_id,
        mount=rec.mount,
        role=rec.role,
        state=rec.state,
        renewable=rec.renewable,
        revocable=rec.revocable,
        issued_at=rec.issued_at,
        expires_at=rec.expires_at,
        max_expires_at=rec.max_expires_at,
        attempts=rec.attempts,
        last_error=rec.last_error,
        actor=str(rec.plan.get(ACTOR_KEY) or ""),
        next_attempt_at=rec.due_at
        if rec.state in (LeaseState.REVOKING, LeaseState.IRREVOCABLE)
        else None,
    )
