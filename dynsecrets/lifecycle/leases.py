"""Looking leases up, by id or by path prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._names import check_text, show
from ..errors import LeaseNotFound, ValidationError
from ..models import LeaseInfo, LeaseState

if TYPE_CHECKING:
    from ..store.base import LeaseRecord
    from .core import Core

__all__ = ["info", "lease_record", "under"]

# Vault's lease ids are a few dozen characters; anything this long is not one.
_MAX_LEASE_ID = 512


def lease_record(core: Core, lease_id: str) -> LeaseRecord:
    if not isinstance(lease_id, str):
        raise LeaseNotFound(f"lease ids are strings, got {type(lease_id).__name__}")
    check_text(lease_id, "lease_id")
    rec = None if len(lease_id) > _MAX_LEASE_ID else core.store.get_lease(lease_id)
    if rec is None:
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
        return core.store.list_leases(state=state)
    exact = core.store.get_lease(prefix)
    if exact is not None and (state is None or exact.state == state):
        return [exact]
    # Path semantics, as Vault: "aws/creds/ec2" covers "aws/creds/ec2/..." but not
    # "aws/creds/ec2-read-only/...".
    return core.store.list_leases(prefix.rstrip("/") + "/", state=state)


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
        next_attempt_at=rec.due_at
        if rec.state in (LeaseState.REVOKING, LeaseState.IRREVOCABLE)
        else None,
    )
