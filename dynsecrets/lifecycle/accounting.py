"""What the store accounts for, lent to providers as ``ProviderContext.leases``.

A cloud that names a secret only in the reply to its create (a GCP key id) makes a
lost reply ambiguous: the provider lists what the owner holds and must tell the
secrets some lease accounts for from the orphan. Providers never touch the store;
the engine lends them this read-only view instead (docs/plugins.md, "Secrets whose
id exists only after they are made").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..models import LeaseState
from ..providers.base import KnownLease

if TYPE_CHECKING:
    from .core import Core

__all__ = ["known_leases", "known_roles"]

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


def known_roles(core: Core, mount: str) -> dict[str, Mapping[str, Any]]:
    """The mount's stored roles by name (the engine's own rows, whose names are not
    role names, left out). For tidy: one read per role, and tidy is rare."""
    out: dict[str, Mapping[str, Any]] = {}
    for name in core.store.list_roles(mount):
        if "/" in name:  # "static-roles/x", "config/root-rotation": the engine's rows
            continue
        fields = core.store.get_role(mount, name)
        if fields is not None:
            out[name] = fields
    return out
