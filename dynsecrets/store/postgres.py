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

import os
import re
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import MissingDependency, SchemaVersionError, StoreError, ValidationError
from ._sql import LEASE_COLS_L, PARTIAL_INDEXES, SQLStore, lease_row, state_literal
from ._sql_server import ServerRows
from ._sql_tasks import TaskRows
from .base import LeaseRecord

__all__ = ["PostgresStore"]

SCHEMA_VERSION = 3
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
    # 2: the HTTP server's tokens (keyed hashes only), policies and lease owners.
    [
        """CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY,
            accessor TEXT NOT NULL UNIQUE,
            policies TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            ttl BIGINT NOT NULL,
            orphan BOOLEAN NOT NULL,
            parent TEXT)""",
        "CREATE INDEX tokens_expires ON tokens (expires_at)",
        "CREATE INDEX tokens_parent ON tokens (parent)",
        """CREATE TABLE policies (
            name TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE lease_owners (
            lease_id TEXT COLLATE "C" PRIMARY KEY,
            accessor TEXT NOT NULL)""",
        "CREATE INDEX lease_owners_accessor ON lease_owners (accessor)",
    ],
    # 3: partial indexes instead of (state, due_at) (see the SQLite store's note).
    ["DROP INDEX leases_state", *(i for i in PARTIAL_INDEXES.split(";") if i.strip())],
]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _masked(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


class _Tx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), args)


class PostgresStore(SQLStore, TaskRows, ServerRows):
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
        self.store_id = self._migrate()

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._psycopg.errors.UniqueViolation:
            raise
        except self._psycopg.Error as exc:
            raise StoreError(f"store {self.url}: {type(exc).__name__}: {exc}".strip()) from exc

    def _migrate(self) -> str:
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
            # Made once, when the store is created: what this store's providers tag.
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('store_id', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (os.urandom(16).hex(),),
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
            return str(row[0])

    @property
    def schema_version(self) -> int:
        with self._conn() as conn:
            return int(
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
            )

    # psycopg speaks %s; the shared SQL is written with ?.
    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._conn() as conn:
            return list(conn.execute(sql.replace("?", "%s"), args).fetchall())

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._conn() as conn:
            return int(conn.execute(sql.replace("?", "%s"), args).rowcount)

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._conn() as conn, conn.transaction():
            yield _Tx(conn)

    def _unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, self._psycopg.errors.UniqueViolation)

    def claim_due(
        self, now: float, *, owner: str, deadline: float, limit: int, state: str | None = None
    ) -> list[LeaseRecord]:
        where = "due_at <= %s AND (claim_deadline IS NULL OR claim_deadline < %s)"
        args: tuple[Any, ...] = (now, now)
        if state is not None:
            # A literal, so the planner can use the partial index for that state.
            where += f" AND state = {state_literal(state)}"
        # SKIP LOCKED: concurrent workers each take different rows, never waiting on
        # one another and never both taking one lease.
        sql = (
            f"WITH due AS (SELECT lease_id FROM leases WHERE {where} ORDER BY due_at LIMIT %s "
            "FOR UPDATE SKIP LOCKED) "
            f"UPDATE leases l SET claim_owner = %s, claim_deadline = %s FROM due "
            f"WHERE l.lease_id = due.lease_id RETURNING {LEASE_COLS_L}"
        )
        rows = self._rows(sql, (*args, limit, owner, deadline))
        return sorted((lease_row(r) for r in rows), key=lambda r: r.due_at)

    def server_time(self) -> float:
        """The database's clock: on a shared store, due times and claim deadlines
        follow it, so nodes whose clocks disagree still agree on what is due."""
        rows = self._rows("SELECT extract(epoch from clock_timestamp())")
        return float(rows[0][0])

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
