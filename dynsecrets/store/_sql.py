"""Column lists and row mapping shared by the SQL stores."""

from __future__ import annotations

import json
from typing import Any

from .base import LeaseRecord, MountRecord

LEASE_COLS = (
    "lease_id, mount, role, state, plan, revocation, issued_at, expires_at, max_expires_at, "
    "due_at, renewable, revocable, attempts, last_error, claim_owner, claim_deadline"
)
MOUNT_COLS = "path, provider, default_ttl, max_ttl, description, max_leases, config, created_at"
MOUNT_FIELDS = frozenset(
    {"provider", "default_ttl", "max_ttl", "description", "max_leases", "config"}
)


def lease_row(row: tuple[Any, ...] | Any) -> LeaseRecord:
    return LeaseRecord(
        lease_id=row[0],
        mount=row[1],
        role=row[2],
        state=row[3],
        plan=json.loads(row[4]),
        revocation=None if row[5] is None else json.loads(row[5]),
        issued_at=float(row[6]),
        expires_at=float(row[7]),
        max_expires_at=float(row[8]),
        due_at=float(row[9]),
        renewable=bool(row[10]),
        revocable=bool(row[11]),
        attempts=row[12],
        last_error=row[13],
        claim_owner=row[14],
        claim_deadline=None if row[15] is None else float(row[15]),
    )


def lease_values(lease: LeaseRecord) -> tuple[Any, ...]:
    return (
        lease.lease_id,
        lease.mount,
        lease.role,
        lease.state,
        json.dumps(dict(lease.plan)),
        None if lease.revocation is None else json.dumps(dict(lease.revocation)),
        lease.issued_at,
        lease.expires_at,
        lease.max_expires_at,
        lease.due_at,
        lease.renewable,
        lease.revocable,
        lease.attempts,
        lease.last_error,
        lease.claim_owner,
        lease.claim_deadline,
    )


def mount_row(row: tuple[Any, ...] | Any) -> MountRecord:
    return MountRecord(
        path=row[0],
        provider=row[1],
        default_ttl=row[2],
        max_ttl=row[3],
        description=row[4],
        max_leases=row[5],
        config=None if row[6] is None else bytes(row[6]),
        created_at=float(row[7]),
    )


def mount_values(mount: MountRecord) -> tuple[Any, ...]:
    return (
        mount.path,
        mount.provider,
        mount.default_ttl,
        mount.max_ttl,
        mount.description,
        mount.max_leases,
        mount.config,
        mount.created_at,
    )
