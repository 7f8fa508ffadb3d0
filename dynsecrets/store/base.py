"""The store contract: mounts, roles, sealed root config and leases.

A store keeps no secret it could read: root config arrives sealed (bytes), and
issued credentials never arrive at all. Every store passes
:class:`dynsecrets.testing.StoreContract`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

__all__ = ["LeaseRecord", "MountRecord", "Store", "TokenRecord", "prefix_bounds"]


@attrs.frozen
class MountRecord:
    path: str
    provider: str
    default_ttl: int
    max_ttl: int
    description: str = ""
    max_leases: int | None = None
    config: bytes | None = attrs.field(default=None, repr=False)
    created_at: float = 0.0


@attrs.frozen
class LeaseRecord:
    """A lease as stored: its plan and revocation data, never its secret.

    ``due_at`` is when the worker must act: the expiry of an active lease, the
    end of the grace period of a pending one, the next retry of a failed one.
    """

    lease_id: str
    mount: str
    role: str
    state: str
    plan: Mapping[str, Any]
    revocation: Mapping[str, Any] | None
    issued_at: float
    expires_at: float
    max_expires_at: float
    due_at: float
    renewable: bool = True
    revocable: bool = True
    attempts: int = 0
    last_error: str | None = None
    claim_owner: str | None = None
    claim_deadline: float | None = None


@attrs.frozen
class TokenRecord:
    """A server token as stored: a keyed hash of the token, never the token itself.

    ``accessor`` names the token without granting its use (audit, revocation).
    ``parent`` is the accessor of the token that created it; an ``orphan`` has none
    and does not own the leases it asks for.
    """

    token_hash: str = attrs.field(repr=False)
    accessor: str
    policies: tuple[str, ...]
    created_at: float
    expires_at: float
    ttl: int
    display_name: str = ""
    orphan: bool = False
    parent: str | None = None


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """Key range for ``lease_id`` under a path prefix, usable by a btree index."""
    return prefix, prefix + "\U0010ffff"


class Store(Protocol):
    """Persistence for one engine. Implementations must be safe to share between
    threads, and between processes where the backend allows it."""

    url: str
    #: A random id made when the store was created; providers tag what they create with it.
    store_id: str

    # mounts
    def create_mount(self, mount: MountRecord) -> None: ...
    def get_mount(self, path: str) -> MountRecord | None: ...
    def list_mounts(self) -> list[MountRecord]: ...
    def update_mount(self, path: str, **changes: Any) -> None: ...
    def delete_mount(self, path: str) -> None: ...

    # roles
    def put_role(self, mount: str, name: str, fields: Mapping[str, Any]) -> None: ...
    def get_role(self, mount: str, name: str) -> dict[str, Any] | None: ...
    def get_mount_role(
        self, path: str, name: str
    ) -> tuple[MountRecord | None, dict[str, Any] | None]: ...
    def put_role_if_claimed(
        self,
        mount: str,
        name: str,
        fields: Mapping[str, Any],
        *,
        lease_id: str,
        owner: str,
        drop_row: bool = False,
    ) -> bool: ...
    def list_roles(self, mount: str) -> list[str]: ...
    def delete_role(self, mount: str, name: str) -> bool: ...

    # leases
    def insert_lease(self, lease: LeaseRecord) -> None: ...
    def get_lease(self, lease_id: str) -> LeaseRecord | None: ...
    def get_lease_and_mount(
        self, lease_id: str
    ) -> tuple[LeaseRecord | None, MountRecord | None]: ...
    def activate_lease(
        self,
        lease_id: str,
        *,
        revocation: Mapping[str, Any],
        expires_at: float,
        max_expires_at: float,
        renewable: bool,
        owner: str | None = None,
    ) -> bool: ...
    def extend_claims(self, owner: str, deadline: float) -> int: ...
    def defer(self, lease_id: str, *, due_at: float, last_error: str) -> None: ...
    def extend_lease(self, lease_id: str, expires_at: float) -> None: ...
    def record_failure(
        self, lease_id: str, *, state: str, attempts: int, last_error: str, due_at: float
    ) -> None: ...
    def delete_lease(self, lease_id: str) -> bool: ...
    def delete_leases(self, lease_ids: list[str]) -> int: ...
    def list_leases(
        self, prefix: str = "", *, state: str | None = None, limit: int | None = None
    ) -> list[LeaseRecord]: ...
    def count_leases(self, mount: str, role: str | None = None) -> int: ...
    def claim_due(
        self, now: float, *, owner: str, deadline: float, limit: int, state: str | None = None
    ) -> list[LeaseRecord]: ...
    def next_due(self) -> float | None: ...
    def release_claim(self, lease_id: str, owner: str) -> None: ...
    def server_time(self) -> float | None: ...
    # scheduled tasks (rotations) share the lease table; see lifecycle/tasks.py
    def put_task(self, task: LeaseRecord, *, keep_health: bool = False) -> None: ...
    def claim_lease(self, lease_id: str, *, owner: str, deadline: float, now: float) -> bool: ...

    # server tokens, policies and lease owners (schema 2)
    def put_token(self, token: TokenRecord) -> None: ...
    def get_token(self, token_hash: str) -> TokenRecord | None: ...
    def get_token_by_accessor(self, accessor: str) -> TokenRecord | None: ...
    def child_tokens(self, accessor: str) -> list[TokenRecord]: ...
    def delete_token(self, accessor: str) -> bool: ...
    def expired_tokens(self, now: float, *, limit: int) -> list[TokenRecord]: ...
    def orphaned_tokens(self, *, limit: int) -> list[TokenRecord]: ...
    def add_lease_owner(self, lease_id: str, accessor: str) -> None: ...
    def lease_owner(self, lease_id: str) -> str | None: ...
    def leases_of_token(self, accessor: str) -> list[str]: ...
    def ownerless_leases(self, *, limit: int) -> list[str]: ...
    def delete_lease_owner(self, lease_id: str) -> bool: ...
    def put_policy(self, name: str, body: str, updated_at: float) -> None: ...
    def get_policies(self, names: list[str]) -> dict[str, str]: ...
    def list_policies(self) -> list[str]: ...
    def delete_policy(self, name: str) -> bool: ...

    def get_meta(self, key: str) -> str | None: ...
    def put_meta_if_absent(self, key: str, value: str) -> str: ...

    def close(self) -> None: ...
