"""Recovering interrupted issuance: a pending lease whose issuer's claim has lapsed
(the process died mid-issue) is revoked from its plan. A live issuer's heartbeat
keeps its claim, so recovery never touches a lease still being issued."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import DynSecretsError
from ..models import LeaseState
from .claims import new_owner
from .revocation import MountCache, revoke_record

if TYPE_CHECKING:
    from .core import Core

__all__ = ["recover_pending"]

log = logging.getLogger("dynsecrets")


def recover_pending(core: Core, limit: int = 100) -> int:
    """Revoke up to ``limit`` abandoned pending leases now. Bounded, so opening an
    engine stays fast whatever the store holds; the worker handles the rest.
    Returns how many were recovered; never raises (the worker retries)."""
    owner = new_owner("recovery")
    recovered = 0
    try:
        now = core.clock.now()
        claimed = core.store.claim_due(
            now,
            owner=owner,
            deadline=now + core.claim_ttl,
            limit=limit,
            state=LeaseState.PENDING,
        )
        if not claimed:
            return 0
        mounts = MountCache(core)
        with core.heartbeat.hold(owner):
            for rec in claimed:
                if revoke_record(core, rec, reason="recovery", mounts=mounts) is None:
                    recovered += 1
    except DynSecretsError as exc:  # never fail open() over cleanup; the worker retries
        log.warning("recovery of interrupted issuance failed: %s", exc)
    return recovered
