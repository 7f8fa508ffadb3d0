"""Renewing a lease: a new expiry from now, never past its max TTL from issue time."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from ..errors import LeaseNotRenewable
from ..models import LeaseInfo, LeaseState
from ..ttl import parse_duration
from .leases import info, lease_record
from .limits import latest_expiry

if TYPE_CHECKING:
    from .core import Core

__all__ = ["renew"]

log = logging.getLogger("dynsecrets")


def renew(core: Core, lease_id: str, increment: int | str | None = None) -> LeaseInfo:
    """As Vault: no increment, or 0, means the role's TTL (else the provider's, else
    the mount's default), counted from now."""
    rec = lease_record(core, lease_id)
    if not rec.renewable:
        raise LeaseNotRenewable(
            f"lease {lease_id} is not renewable (the cloud fixed its lifetime); issue a new one"
        )
    if rec.state != LeaseState.ACTIVE:
        raise LeaseNotRenewable(f"lease {lease_id} is {rec.state}, not active; issue a new one")
    now = core.clock.now()
    if rec.expires_at <= now:
        raise LeaseNotRenewable(f"lease {lease_id} has expired; issue a new one")
    mount = core.mount_record(rec.mount)
    provider = core.provider(mount)
    inc = 0 if increment in (None, "") else parse_duration(increment, field="increment")
    if inc == 0:
        role = core.store.get_role(rec.mount, rec.role) or {}
        inc = role.get("ttl") or provider.default_ttl(role) or mount.default_ttl
    expires_at = min(now + inc, rec.max_expires_at)
    until = latest_expiry()
    if until is not None:  # the caller's session (a server token) ends then
        expires_at = min(expires_at, max(now + 1, until))
    config = core.config(mount, provider)
    with core.deadline("renew"):
        core.retry.call(lambda: provider.renew(config, rec.plan, rec.revocation or {}, expires_at))
    core.store.extend_lease(lease_id, expires_at)
    log.info("renewed lease %s until %.0f", lease_id, expires_at)
    core.events.emit("renew", lease_id, rec.mount, rec.role)
    return info(attrs.evolve(rec, expires_at=expires_at, due_at=expires_at))
