"""The embedded store: one SQLite file (WAL, busy timeout) or ``memory://`` for tests.

One connection per store, guarded by a lock: cloud calls happen outside the
store, so the lock only covers short statements. Several processes may share
one file; claims are taken inside ``BEGIN IMMEDIATE`` so each due lease goes to
one worker.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import MountExists, SchemaVersionError, StoreError
from ._sql import LEASE_COLS as _LEASE_COLS
from ._sql import MOUNT_COLS as _MOUNT_COLS
from ._sql import MOUNT_FIELDS as _MOUNT_FIELDS
from ._sql import lease_row as _lease
from ._sql import lease_values, mount_values
from ._sql import mount_row as _mount
from .base import LeaseRecord, MountRecord, prefix_bounds

__all__ = ["InsecureStoreWarning", "SQLiteStore"]


class InsecureStoreWarning(UserWarning):
    """The store file can be read by users other than its owner."""


SCHEMA_VERSION = 1

# Each entry migrates from version i to i+1. Never edit a released entry; append.
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE mounts (
        path TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        default_ttl INTEGER NOT NULL,
        max_ttl INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        max_leases INTEGER,
        config BLOB,
        created_at REAL NOT NULL
    );
    CREATE TABLE roles (
        mount TEXT NOT NULL REFERENCES mounts(path) ON DELETE CASCADE,
        name TEXT NOT NULL,
        fields TEXT NOT NULL,
        PRIMARY KEY (mount, name)
    );
    CREATE TABLE leases (
        lease_id TEXT PRIMARY KEY,
        mount TEXT NOT NULL,
        role TEXT NOT NULL,
        state TEXT NOT NULL,
        plan TEXT NOT NULL,
        revocation TEXT,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        max_expires_at REAL NOT NULL,
        due_at REAL NOT NULL,
        renewable INTEGER NOT NULL,
        revocable INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        claim_owner TEXT,
        claim_deadline REAL
    );
    CREATE INDEX leases_due ON leases (due_at);
    CREATE INDEX leases_state ON leases (state, due_at);
    """,
]


class SQLiteStore:
    """SQLite store. ``path`` is a file path or ``":memory:"``."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        self.url = "memory://" if self.path == ":memory:" else f"sqlite:///{self.path}"
        if self.path != ":memory:":
            self._warn_if_readable(Path(self.path))
            self._create_private(Path(self.path))
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._db.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    @staticmethod
    def _warn_if_readable(path: Path) -> None:
        if path.exists() and path.stat().st_mode & 0o077:
            import warnings

            warnings.warn(
                f"store {path} can be read by other users (mode {oct(path.stat().st_mode & 0o777)}); "
                f"run: chmod 600 {path}",
                InsecureStoreWarning,
                stacklevel=4,
            )

    @staticmethod
    def _create_private(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Create the file 0600 before SQLite does, so no other user can ever read it;
        # SQLite gives the -wal and -shm files the same mode as the database.
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)

    def _migrate(self) -> None:
        with self._tx():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"store {self.url} has schema version {version}, newer than this "
                    f"dynsecrets understands ({SCHEMA_VERSION}); upgrade dynsecrets"
                )
            for step in _MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.url} is busy or unwritable: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._lock:
            try:
                return self._db.execute(sql, args).rowcount
            except sqlite3.OperationalError as exc:
                raise StoreError(f"store {self.url}: {exc}") from exc

    # -- mounts -------------------------------------------------------------------
    def create_mount(self, mount: MountRecord) -> None:
        try:
            self._exec(
                f"INSERT INTO mounts ({_MOUNT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                mount_values(mount),
            )
        except sqlite3.IntegrityError as exc:
            raise MountExists(f"a mount already exists at {mount.path}/") from exc

    def get_mount(self, path: str) -> MountRecord | None:
        rows = self._query(f"SELECT {_MOUNT_COLS} FROM mounts WHERE path = ?", (path,))
        return _mount(rows[0]) if rows else None

    def list_mounts(self) -> list[MountRecord]:
        return [_mount(r) for r in self._query(f"SELECT {_MOUNT_COLS} FROM mounts ORDER BY path")]

    def update_mount(self, path: str, **changes: Any) -> None:
        bad = set(changes) - _MOUNT_FIELDS
        if bad:
            raise ValueError(f"not mount fields: {sorted(bad)}")
        if not changes:
            return
        sets = ", ".join(f"{k} = ?" for k in changes)
        self._exec(f"UPDATE mounts SET {sets} WHERE path = ?", (*changes.values(), path))

    def delete_mount(self, path: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM roles WHERE mount = ?", (path,))
            db.execute("DELETE FROM mounts WHERE path = ?", (path,))

    # -- roles --------------------------------------------------------------------
    def put_role(self, mount: str, name: str, fields: Mapping[str, Any]) -> None:
        self._exec(
            "INSERT INTO roles (mount, name, fields) VALUES (?, ?, ?) "
            "ON CONFLICT (mount, name) DO UPDATE SET fields = excluded.fields",
            (mount, name, json.dumps(dict(fields))),
        )

    def get_role(self, mount: str, name: str) -> dict[str, Any] | None:
        rows = self._query("SELECT fields FROM roles WHERE mount = ? AND name = ?", (mount, name))
        return json.loads(rows[0][0]) if rows else None

    def get_mount_role(
        self, path: str, name: str
    ) -> tuple[MountRecord | None, dict[str, Any] | None]:
        cols = ", ".join(f"m.{c.strip()}" for c in _MOUNT_COLS.split(","))
        rows = self._query(
            f"SELECT {cols}, r.fields FROM mounts m "
            "LEFT JOIN roles r ON r.mount = m.path AND r.name = ? WHERE m.path = ?",
            (name, path),
        )
        if not rows:
            return None, None
        return _mount(rows[0][:8]), None if rows[0][8] is None else json.loads(rows[0][8])

    def list_roles(self, mount: str) -> list[str]:
        return [
            r[0]
            for r in self._query("SELECT name FROM roles WHERE mount = ? ORDER BY name", (mount,))
        ]

    def delete_role(self, mount: str, name: str) -> bool:
        return self._exec("DELETE FROM roles WHERE mount = ? AND name = ?", (mount, name)) > 0

    # -- leases -------------------------------------------------------------------
    def insert_lease(self, lease: LeaseRecord) -> None:
        self._exec(
            f"INSERT INTO leases ({_LEASE_COLS}) VALUES ({', '.join('?' * 16)})",
            lease_values(lease),
        )

    def get_lease(self, lease_id: str) -> LeaseRecord | None:
        rows = self._query(f"SELECT {_LEASE_COLS} FROM leases WHERE lease_id = ?", (lease_id,))
        return _lease(rows[0]) if rows else None

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
                "UPDATE leases SET state = 'active', revocation = ?, expires_at = ?, "
                "max_expires_at = ?, due_at = ?, renewable = ? "
                "WHERE lease_id = ? AND state = 'pending'",
                (
                    json.dumps(dict(revocation)),
                    expires_at,
                    max_expires_at,
                    expires_at,
                    int(renewable),
                    lease_id,
                ),
            )
            == 1
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
        with self._tx() as db:
            for start in range(0, len(lease_ids), 500):
                chunk = lease_ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                deleted += db.execute(
                    f"DELETE FROM leases WHERE lease_id IN ({marks})", chunk
                ).rowcount
        return deleted

    def list_leases(
        self, prefix: str = "", *, state: str | None = None, limit: int | None = None
    ) -> list[LeaseRecord]:
        sql = f"SELECT {_LEASE_COLS} FROM leases WHERE 1 = 1"
        args: list[Any] = []
        if prefix:
            sql += " AND lease_id >= ? AND lease_id < ?"
            args += prefix_bounds(prefix)
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY lease_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_lease(r) for r in self._query(sql, tuple(args))]

    def count_leases(self, mount: str, role: str | None = None) -> int:
        # Lease ids are <mount>/creds/<role>/...: a primary-key range, no extra index
        # (one index less to write on every issue).
        lo, hi = prefix_bounds(f"{mount}/creds/{role}/" if role is not None else f"{mount}/")
        rows = self._query(
            "SELECT count(*) FROM leases WHERE lease_id >= ? AND lease_id < ?", (lo, hi)
        )
        return int(rows[0][0])

    def claim_due(
        self, now: float, *, owner: str, deadline: float, limit: int, state: str | None = None
    ) -> list[LeaseRecord]:
        where = "due_at <= ? AND (claim_deadline IS NULL OR claim_deadline < ?)"
        args: tuple[Any, ...] = (now, now)
        if state is not None:
            where += " AND state = ?"
            args += (state,)
        with self._tx() as db:
            ids = [
                r[0]
                for r in db.execute(
                    f"SELECT lease_id FROM leases WHERE {where} ORDER BY due_at LIMIT ?",
                    (*args, limit),
                ).fetchall()
            ]
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            db.execute(
                f"UPDATE leases SET claim_owner = ?, claim_deadline = ? WHERE lease_id IN ({marks})",
                (owner, deadline, *ids),
            )
            rows = db.execute(
                f"SELECT {_LEASE_COLS} FROM leases WHERE lease_id IN ({marks}) ORDER BY due_at",
                tuple(ids),
            ).fetchall()
        return [_lease(r) for r in rows]

    def next_due(self) -> float | None:
        rows = self._query("SELECT min(due_at) FROM leases")
        return None if rows[0][0] is None else float(rows[0][0])

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` exists; return what is stored (first writer wins)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def release_claim(self, lease_id: str, owner: str) -> None:
        self._exec(
            "UPDATE leases SET claim_owner = NULL, claim_deadline = NULL "
            "WHERE lease_id = ? AND claim_owner = ?",
            (lease_id, owner),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.url!r})"
