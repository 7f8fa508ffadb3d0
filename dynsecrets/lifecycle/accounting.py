"""What the store accounts for, lent to providers as ``ProviderContext.leases``.

A cloud that names a secret only in the reply to its create (a GCP key id) makes a
lost reply ambiguous: the provider lists what the owner holds and must tell the
secrets some lease accounts for from the orphan. Providers never touch the store;
the engine lends them this read-only view instead (docs/plugins.md, "Secrets whose
id exists only after they are made").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import LeaseState
from ..providers.base import KnownLease

if TYPE_CHECKING:
    from .core import Core

__all__ = ["known_leases"]

#: Claim owners of issuers start with this (``claims.new_owner("issuer")``).
_ISSUER = "issuer:"


def known_leases(core: Core, mount: str) -> list[KnownLease]:
    """The mount's leases (not its role operations), each with its revocation data,
    and ``in_flight`` for a pending lease that another engine's issuer still holds:
    its secret may exist before the store can name it. This engine's own issues are
    not in flight from its provider's view: the provider instance serialises them
    and knows what they made. One read of the mount's rows: providers call it only
    to reconcile, which is rare."""
    out: list[KnownLease] = []
    for rec in core.store.list_leases(f"{mount}/"):
        if "role_op" in rec.plan:
            continue
        owner = rec.claim_owner or ""
        # A dead issuer's lapsed claim counts too until recovery takes the row over
        # (its owner changes then): its issuer might only be slow, and could still
        # activate the lease.
        in_flight = (
            rec.state == LeaseState.PENDING and owner.startswith(_ISSUER) and owner != core.issuer
        )
        out.append(KnownLease(rec.lease_id, rec.role, rec.plan, rec.revocation, in_flight))
    return out
