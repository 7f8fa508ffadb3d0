"""What the SQL stores share: column lists, row mapping, and every operation that
reads the same in SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import MountExists
from ..models import LeaseState
from .base import LeaseRecord, MountRecord, TokenRecord, prefix_bounds

LEASE_COLS = (
    "lease_id, mount, role, state, plan, revocation, issued_at, expires_at, max_expires_at, "
    "due_at, renewable, revocable, attempts, last_error, claim_owner, claim_deadline"
)
LEASE_COLS_L = ", ".join(f"l.{c.strip()}" for c in LEASE_COLS.split(","))
#: Indexes on the leases of one state (schema 3): each query by state names it as
#: a literal (:func:`state_literal`), which is what lets the planner use them.
PARTIAL_INDEXES = (
    "CREATE INDEX leases_pending ON leases (due_at) WHERE state = 'pending';"
    "CREATE INDEX leases_irrevocable ON leases (lease_id) WHERE state = 'irrevocable'"
)
MOUNT_COLS = "path, provider, default_ttl, max_ttl, description, max_leases, config, created_at"
#: MOUNT_COLS as columns of ``m`` (mounts joined to another table).
M_MOUNT_COLS = ", ".join(f"m.{c.strip()}" for c in MOUNT_COLS.split(","))
MOUNT_FIELDS = frozenset(
    {"provider", "default_ttl", "max_ttl", "description", "max_leases", "config"}
)


TOKEN_COLS = (
    "token_hash, accessor, policies, created_at, expires_at, ttl, display_name, orphan, parent"  # noqa: S105
)


def token_row(row: tuple[Any, ...] | Any) -> TokenRecord:
    return TokenRecord(
        token_hash=row[0],
        accessor=row[1],
        policies=tuple(json.loads(row[2])),
        created_at=float(row[3]),
        expires_at=float(row[4]),
        ttl=int(row[5]),
        display_name=row[6],
        orphan=bool(row[7]),
        parent=row[8],
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


def state_literal(state: str) -> str:
    """``state`` as an SQL literal; only the known states (never caller text)."""
    if state not in LeaseState.ALL:
        raise ValueError(f"not a lease state: {state!r}")
    return f"'{state}'"


def marks(n: int) -> str:
    return ", ".join("?" * n)


class SQLStore:
    """The store operations both SQL backends share, written once with ``?``
    placeholders. A backend supplies ``_rows``, ``_exec``, ``_tx`` (a transaction
    whose ``execute(sql, args)`` returns a cursor), ``_unique_violation``,
    ``claim_due`` and its own migrations."""

    url: str

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _row(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """A lookup by key (at most a row or two): a store may run it where it is
        cheapest. A read that may scan goes through ``_rows``."""
        return self._rows(sql, args)

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _unique_violation(self, exc: BaseException) -> bool:
        raise NotImplementedError

    # -- mounts -------------------------------------------------------------------
    def create_mount(self, mount: MountRecord) -> None:
        try:
            self._exec(
                f"INSERT INTO mounts ({MOUNT_COLS}) VALUES ({marks(8)})", mount_values(mount)
            )
        except Exception as exc:
            if self._unique_violation(exc):
                raise MountExists(f"a mount already exists at {mount.path}/") from exc
            raise

    def get_mount(self, path: str) -> MountRecord | None:
        rows = self._row(f"SELECT {MOUNT_COLS} FROM mounts WHERE path = ?", (path,))
        return mount_row(rows[0]) if rows else None

    def list_mounts(self) -> list[MountRecord]:
        return [mount_row(r) for r in self._rows(f"SELECT {MOUNT_COLS} FROM mounts ORDER BY path")]

    def update_mount(self, path: str, **changes: Any) -> None:
        bad = set(changes) - MOUNT_FIELDS
        if bad:
            raise ValueError(f"not mount fields: {sorted(bad)}")
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            self._exec(f"UPDATE mounts SET {sets} WHERE path = ?", (*changes.values(), path))

    def delete_mount(self, path: str) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM roles WHERE mount = ?", (path,))
            tx.execute("DELETE FROM mounts WHERE path = ?", (path,))

    # -- roles --------------------------------------------------------------------
    def put_role(self, mount: str, name: str, fields: Mapping[str, Any]) -> None:
        self._exec(
            "INSERT INTO roles (mount, name, fields) VALUES (?, ?, ?) "
            "ON CONFLICT (mount, name) DO UPDATE SET fields = excluded.fields",
            (mount, name, json.dumps(dict(fields))),
        )

    def put_role_if_claimed(
        self,
        mount: str,
        name: str,
        fields: Mapping[str, Any],
        *,
        lease_id: str,
        owner: str,
        drop_row: bool = False,
    ) -> bool:
        """Store the role only while ``owner`` still claims row ``lease_id`` (a role
        operation's), in one transaction: a recovery that took the row over first
        makes this a no-op (False), and one that comes after sees the role stored.
        ``drop_row``: the operation is complete; its row goes in the same commit."""
        with self._tx() as tx:
            # A write, not a read: it locks the row (PostgreSQL) or the store (SQLite)
            # until the commit, so no claim can move in between.
            held = tx.execute(
                "UPDATE leases SET claim_owner = claim_owner WHERE lease_id = ? AND claim_owner = ?",
                (lease_id, owner),
            ).rowcount
            if held != 1:
                return False
            tx.execute(
                "INSERT INTO roles (mount, name, fields) VALUES (?, ?, ?) "
                "ON CONFLICT (mount, name) DO UPDATE SET fields = excluded.fields",
                (mount, name, json.dumps(dict(fields))),
            )
            if drop_row:
                tx.execute("DELETE FROM leases WHERE lease_id = ?", (lease_id,))
        return True

    def get_role(self, mount: str, name: str) -> dict[str, Any] | None:
        rows = self._row("SELECT fields FROM roles WHERE mount = ? AND name = ?", (mount, name))
        return dict(json.loads(rows[0][0])) if rows else None

    def get_mount_role(
        self, path: str, name: str
    ) -> tuple[MountRecord | None, dict[str, Any] | None]:
        rows = self._row(
            f"SELECT {M_MOUNT_COLS}, r.fields FROM mounts m "
            "LEFT JOIN roles r ON r.mount = m.path AND r.name = ? WHERE m.path = ?",
            (name, path),
        )
        if not rows:
            return None, None
        return mount_row(rows[0][:8]), None if rows[0][8] is None else dict(json.loads(rows[0][8]))

    def list_roles(self, mount: str) -> list[str]:
        return [
            r[0]
            for r in self._rows("SELECT name FROM roles WHERE mount = ? ORDER BY name", (mount,))
        ]

    def delete_role(self, mount: str, name: str) -> bool:
        return self._exec("DELETE FROM roles WHERE mount = ? AND name = ?", (mount, name)) > 0

    # -- leases -------------------------------------------------------------------
    def insert_lease(self, lease: LeaseRecord) -> None:
        self._exec(f"INSERT INTO leases ({LEASE_COLS}) VALUES ({marks(16)})", lease_values(lease))

    def get_lease(self, lease_id: str) -> LeaseRecord | None:
        rows = self._row(f"SELECT {LEASE_COLS} FROM leases WHERE lease_id = ?", (lease_id,))
        return lease_row(rows[0]) if rows else None

    def get_lease_and_mount(self, lease_id: str) -> tuple[LeaseRecord | None, MountRecord | None]:
        """The lease and its mount in one query (a revoke needs both)."""
        rows = self._row(
            f"SELECT {LEASE_COLS_L}, {M_MOUNT_COLS} FROM leases l "
            "LEFT JOIN mounts m ON m.path = l.mount WHERE l.lease_id = ?",
            (lease_id,),
        )
        if not rows:
            return None, None
        row = rows[0]
        return lease_row(row[:16]), None if row[16] is None else mount_row(row[16:])

    def activate_lease(
        self,
        lease_id: str,
        *,
        revocation: Mapping[str, Any],
        expires_at: float,
        max_expires_at: float,
        renewable: bool,
        owner: str | None = None,
    ) -> bool:
        # Only a pending lease still claimed by its issuer: recovery may have taken
        # it over (the issuer's claim lapsed) and revoked it meanwhile.
        sql = (
            "UPDATE leases SET state = 'active', revocation = ?, expires_at = ?, "
            "max_expires_at = ?, due_at = ?, renewable = ?, claim_owner = NULL, "
            "claim_deadline = NULL WHERE lease_id = ? AND state = 'pending'"
        )
        args: list[Any] = [
            json.dumps(dict(revocation)),
            expires_at,
            max_expires_at,
            expires_at,
            renewable,
            lease_id,
        ]
        if owner is not None:
            sql += " AND claim_owner = ?"
            args.append(owner)
        return self._exec(sql, args) == 1

    def extend_claims(self, owner: str, deadline: float) -> int:
        """Move the deadline of every claim ``owner`` still holds (a heartbeat). A
        pending lease is due when its issuer's claim lapses, so its due time moves too
        (and ``next_due`` stays an index lookup)."""
        return self._exec(
            "UPDATE leases SET claim_deadline = ?, "
            "due_at = CASE WHEN state = 'pending' THEN ? ELSE due_at END WHERE claim_owner = ?",
            (deadline, deadline, owner),
        )

    def defer(self, lease_id: str, *, due_at: float, last_error: str) -> None:
        """Put a lease back for later without counting an attempt: the fault was
        local (wrong key, missing plugin), not the cloud's."""
        self._exec(
            "UPDATE leases SET due_at = ?, last_error = ?, claim_owner = NULL, "
            "claim_deadline = NULL WHERE lease_id = ?",
            (due_at, last_error, lease_id),
        )

    def extend_lease(self, lease_id: str, expires_at: float) -> None:
        self._exec(
            "UPDATE leases SET expires_at = ?, due_at = ? WHERE lease_id = ? AND state = 'active'",
            (expires_at, expires_at, lease_id),
        )

    def record_failure(
        self, lease_id: str, *, state: str, attempts: int, last_error: str, due_at: float
    ) -> None:
        self._exec(
            "UPDATE leases SET state = ?, attempts = ?, last_error = ?, due_at = ?, "
            "claim_owner = NULL, claim_deadline = NULL WHERE lease_id = ?",
            (state, attempts, last_error, due_at, lease_id),
        )

    def delete_lease(self, lease_id: str) -> bool:
        return self._exec("DELETE FROM leases WHERE lease_id = ?", (lease_id,)) > 0

    def delete_leases(self, lease_ids: list[str]) -> int:
        deleted = 0
        with self._tx() as tx:
            for start in range(0, len(lease_ids), 500):
                chunk = lease_ids[start : start + 500]
                cur = tx.execute(
                    f"DELETE FROM leases WHERE lease_id IN ({marks(len(chunk))})", chunk
                )
                deleted += cur.rowcount
        return deleted

    def list_leases(
        self, prefix: str = "", *, state: str | None = None, limit: int | None = None
    ) -> list[LeaseRecord]:
        sql = f"SELECT {LEASE_COLS} FROM leases WHERE 1 = 1"
        args: list[Any] = []
        if prefix:
            sql += " AND lease_id >= ? AND lease_id < ?"
            args += prefix_bounds(prefix)
        if state is not None:
            sql += f" AND state = {state_literal(state)}"
        sql += " ORDER BY lease_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [lease_row(r) for r in self._rows(sql, args)]

    def count_leases(self, mount: str, role: str | None = None) -> int:
        # Lease ids start with "<mount>/": a primary-key range, no extra index (one
        # index less to write on every issue). A role's count filters that range.
        lo, hi = prefix_bounds(f"{mount}/")
        sql = "SELECT count(*) FROM leases WHERE lease_id >= ? AND lease_id < ?"
        args: list[Any] = [lo, hi]
        if role is not None:
            sql += " AND role = ?"
            args.append(role)
        return int(self._rows(sql, args)[0][0])

    def next_due(self) -> float | None:
        rows = self._rows("SELECT min(due_at) FROM leases")
        return None if rows[0][0] is None else float(rows[0][0])

    def release_claim(self, lease_id: str, owner: str) -> None:
        self._exec(
            "UPDATE leases SET claim_owner = NULL, claim_deadline = NULL "
            "WHERE lease_id = ? AND claim_owner = ?",
            (lease_id, owner),
        )

    def server_time(self) -> float | None:
        """The store's own clock, where it has one that all nodes share (None here)."""
        return None

    # -- meta ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._row("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` exists; return what is stored (first writer wins)."""
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
            return str(tx.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])
