"""The shared store: PostgreSQL through psycopg 3 and a connection pool, for many
application nodes and workers on one set of leases.

- ``postgresql://user@host:5432/db`` (``?schema=name`` puts the tables in their
  own schema, created if missing).
- The schema is created and migrated on open under a transaction-scoped advisory
  lock, so any number of engines, of any version, may open the database at once.
- Due leases are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a claim
  deadline: workers on different nodes never take the same lease, and a dead
  worker's claims return to the pool when their deadline passes.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import MissingDependency, MountExists, SchemaVersionError, StoreError, ValidationError
from ._sql import (
    LEASE_COLS,
    MOUNT_COLS,
    MOUNT_FIELDS,
    lease_row,
    lease_values,
    mount_row,
    mount_values,
)
from .base import LeaseRecord, MountRecord, prefix_bounds

__all__ = ["PostgresStore"]

SCHEMA_VERSION = 1
# Any fixed 64-bit number: the advisory lock every dynsecrets migration takes.
_MIGRATION_LOCK = 0x64796E7365637265

_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE mounts (
            path TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            default_ttl BIGINT NOT NULL,
            max_ttl BIGINT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            max_leases BIGINT,
            config BYTEA,
            created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE roles (
            mount TEXT NOT NULL REFERENCES mounts(path) ON DELETE CASCADE,
            name TEXT NOT NULL,
            fields TEXT NOT NULL,
            PRIMARY KEY (mount, name))""",
        """CREATE TABLE leases (
            lease_id TEXT COLLATE "C" PRIMARY KEY,
            mount TEXT NOT NULL,
            role TEXT NOT NULL,
            state TEXT NOT NULL,
            plan TEXT NOT NULL,
            revocation TEXT,
            issued_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            max_expires_at DOUBLE PRECISION NOT NULL,
            due_at DOUBLE PRECISION NOT NULL,
            renewable BOOLEAN NOT NULL,
            revocable BOOLEAN NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            claim_owner TEXT,
            claim_deadline DOUBLE PRECISION)""",
        "CREATE INDEX leases_due ON leases (due_at)",
        "CREATE INDEX leases_state ON leases (state, due_at)",
    ],
]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _masked(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


class PostgresStore:
    """PostgreSQL store; safe to share between threads, processes and nodes."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, schema: str | None = None
    ) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise MissingDependency(
                "the PostgreSQL store needs psycopg; install it with: pip install 'dynsecrets[postgres]'"
            ) from exc
        self._psycopg = psycopg
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        schema = schema or (query.pop("schema", [None])[0])
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValidationError("schema", "use lowercase letters, digits and _ (at most 63)")
        self.schema = schema
        conninfo = urllib.parse.urlunsplit(
            parts._replace(query=urllib.parse.urlencode(query, doseq=True))
        )
        self.url = _masked(url)

        def configure(conn: Any) -> None:
            if schema:
                conn.execute(f'SET search_path TO "{schema}"')

        try:
            # Fail fast with one clear error rather than a pool retrying for its timeout.
            psycopg.connect(conninfo, connect_timeout=5).close()
            self._pool = ConnectionPool(
                conninfo,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True},
                configure=configure,
                open=False,
                name="dynsecrets",
            )
            self._pool.open(wait=True, timeout=10)
        except Exception as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.url}: {type(exc).__name__}; is the server up "
                "and the URL right?"
            ) from exc
        self._migrate()

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._psycopg.errors.UniqueViolation:
            raise
        except self._psycopg.Error as exc:
            raise StoreError(f"store {self.url}: {type(exc).__name__}: {exc}".strip()) from exc

    def _migrate(self) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            if self.schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"store {self.url} has schema version {version}, newer than this dynsecrets "
                    f"understands ({SCHEMA_VERSION}); upgrade dynsecrets"
                )
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(max(version, SCHEMA_VERSION)),),
            )

    @property
    def schema_version(self) -> int:
        with self._conn() as conn:
            return int(
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
            )

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._conn() as conn:
            return list(conn.execute(sql, args).fetchall())

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._conn() as conn:
            return int(conn.execute(sql, args).rowcount)

    # -- mounts -------------------------------------------------------------------
    def create_mount(self, mount: MountRecord) -> None:
        try:
            self._exec(
                f"INSERT INTO mounts ({MOUNT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                mount_values(mount),
            )
        except self._psycopg.errors.UniqueViolation as exc:
            raise MountExists(f"a mount already exists at {mount.path}/") from exc

    def get_mount(self, path: str) -> MountRecord | None:
        rows = self._rows(f"SELECT {MOUNT_COLS} FROM mounts WHERE path = %s", (path,))
        return mount_row(rows[0]) if rows else None

    def list_mounts(self) -> list[MountRecord]:
        return [mount_row(r) for r in self._rows(f"SELECT {MOUNT_COLS} FROM mounts ORDER BY path")]

    def update_mount(self, path: str, **changes: Any) -> None:
        bad = set(changes) - MOUNT_FIELDS
        if bad:
            raise ValueError(f"not mount fields: {sorted(bad)}")
        if changes:
            sets = ", ".join(f"{k} = %s" for k in changes)
            self._exec(f"UPDATE mounts SET {sets} WHERE path = %s", (*changes.values(), path))

    def delete_mount(self, path: str) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute("DELETE FROM roles WHERE mount = %s", (path,))
            conn.execute("DELETE FROM mounts WHERE path = %s", (path,))

    # -- roles --------------------------------------------------------------------
    def put_role(self, mount: str, name: str, fields: Mapping[str, Any]) -> None:
        self._exec(
            "INSERT INTO roles (mount, name, fields) VALUES (%s, %s, %s) "
            "ON CONFLICT (mount, name) DO UPDATE SET fields = excluded.fields",
            (mount, name, json.dumps(dict(fields))),
        )

    def get_role(self, mount: str, name: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT fields FROM roles WHERE mount = %s AND name = %s", (mount, name))
        return dict(json.loads(rows[0][0])) if rows else None

    def get_mount_role(
        self, path: str, name: str
    ) -> tuple[MountRecord | None, dict[str, Any] | None]:
        cols = ", ".join(f"m.{c.strip()}" for c in MOUNT_COLS.split(","))
        rows = self._rows(
            f"SELECT {cols}, r.fields FROM mounts m "
            "LEFT JOIN roles r ON r.mount = m.path AND r.name = %s WHERE m.path = %s",
            (name, path),
        )
        if not rows:
            return None, None
        return mount_row(rows[0][:8]), None if rows[0][8] is None else dict(json.loads(rows[0][8]))

    def list_roles(self, mount: str) -> list[str]:
        return [
            r[0]
            for r in self._rows("SELECT name FROM roles WHERE mount = %s ORDER BY name", (mount,))
        ]

    def delete_role(self, mount: str, name: str) -> bool:
        return self._exec("DELETE FROM roles WHERE mount = %s AND name = %s", (mount, name)) > 0

    # -- leases -------------------------------------------------------------------
    def insert_lease(self, lease: LeaseRecord) -> None:
        self._exec(
            f"INSERT INTO leases ({LEASE_COLS}) VALUES ({', '.join(['%s'] * 16)})",
            lease_values(lease),
        )

    def get_lease(self, lease_id: str) -> LeaseRecord | None:
        rows = self._rows(f"SELECT {LEASE_COLS} FROM leases WHERE lease_id = %s", (lease_id,))
        return lease_row(rows[0]) if rows else None

    def activate_lease(
        self,
        lease_id: str,
        *,
        revocation: Mapping[str, Any],
        expires_at: float,
        max_expires_at: float,
        renewable: bool,
    ) -> bool:
        return (
            self._exec(
                "UPDATE leases SET state = 'active', revocation = %s, expires_at = %s, max_expires_at = %s, "
                "due_at = %s, renewable = %s WHERE lease_id = %s AND state = 'pending'",
                (
                    json.dumps(dict(revocation)),
                    expires_at,
                    max_expires_at,
                    expires_at,
                    renewable,
                    lease_id,
                ),
            )
            == 1
        )

    def extend_lease(self, lease_id: str, expires_at: float) -> None:
        self._exec(
            "UPDATE leases SET expires_at = %s, due_at = %s WHERE lease_id = %s AND state = 'active'",
            (expires_at, expires_at, lease_id),
        )

    def record_failure(
        self, lease_id: str, *, state: str, attempts: int, last_error: str, due_at: float
    ) -> None:
        self._exec(
            "UPDATE leases SET state = %s, attempts = %s, last_error = %s, due_at = %s, "
            "claim_owner = NULL, claim_deadline = NULL WHERE lease_id = %s",
            (state, attempts, last_error, due_at, lease_id),
        )

    def delete_lease(self, lease_id: str) -> bool:
        return self._exec("DELETE FROM leases WHERE lease_id = %s", (lease_id,)) > 0

    def delete_leases(self, lease_ids: list[str]) -> int:
        return self._exec("DELETE FROM leases WHERE lease_id = ANY(%s)", (list(lease_ids),))

    def list_leases(
        self, prefix: str = "", *, state: str | None = None, limit: int | None = None
    ) -> list[LeaseRecord]:
        sql = f"SELECT {LEASE_COLS} FROM leases WHERE TRUE"
        args: list[Any] = []
        if prefix:
            sql += " AND lease_id >= %s AND lease_id < %s"
            args += prefix_bounds(prefix)
        if state is not None:
            sql += " AND state = %s"
            args.append(state)
        sql += " ORDER BY lease_id"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [lease_row(r) for r in self._rows(sql, tuple(args))]

    def count_leases(self, mount: str, role: str | None = None) -> int:
        # Lease ids are <mount>/creds/<role>/...: a primary-key range, no extra index.
        lo, hi = prefix_bounds(f"{mount}/creds/{role}/" if role is not None else f"{mount}/")
        rows = self._rows(
            "SELECT count(*) FROM leases WHERE lease_id >= %s AND lease_id < %s", (lo, hi)
        )
        return int(rows[0][0])

    def claim_due(
        self, now: float, *, owner: str, deadline: float, limit: int, state: str | None = None
    ) -> list[LeaseRecord]:
        where = "due_at <= %s AND (claim_deadline IS NULL OR claim_deadline < %s)"
        args: tuple[Any, ...] = (now, now)
        if state is not None:
            where += " AND state = %s"
            args += (state,)
        # SKIP LOCKED: concurrent workers each take different rows, never waiting on
        # one another and never both taking one lease.
        cols = ", ".join(f"l.{c.strip()}" for c in LEASE_COLS.split(","))
        sql = (
            f"WITH due AS (SELECT lease_id FROM leases WHERE {where} ORDER BY due_at LIMIT %s "
            "FOR UPDATE SKIP LOCKED) "
            f"UPDATE leases l SET claim_owner = %s, claim_deadline = %s FROM due "
            f"WHERE l.lease_id = due.lease_id RETURNING {cols}"
        )
        rows = self._rows(sql, (*args, limit, owner, deadline))
        return sorted((lease_row(r) for r in rows), key=lambda r: r.due_at)

    def next_due(self) -> float | None:
        rows = self._rows("SELECT min(due_at) FROM leases")
        return None if rows[0][0] is None else float(rows[0][0])

    def release_claim(self, lease_id: str, owner: str) -> None:
        self._exec(
            "UPDATE leases SET claim_owner = NULL, claim_deadline = NULL WHERE lease_id = %s AND claim_owner = %s",
            (lease_id, owner),
        )

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def put_meta_if_absent(self, key: str, value: str) -> str:
        self._exec(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (key, value),
        )
        got = self.get_meta(key)
        assert got is not None
        return got

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests)."""
        if not self.schema:
            raise ValidationError("schema", "only a store opened with a schema can drop it")
        with self._conn() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"
