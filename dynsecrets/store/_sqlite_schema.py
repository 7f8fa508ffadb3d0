"""The SQLite store's schema, as the migrations that build it: entry i takes a store
from version i to i+1."""

from __future__ import annotations

from ._sql import PARTIAL_INDEXES

SCHEMA_VERSION = 3

# Each entry migrates from version i to i+1. Never edit a released entry; append.
MIGRATIONS: list[str] = [
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
    # 2: the HTTP server's tokens (keyed hashes only), policies and lease owners.
    """
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        accessor TEXT NOT NULL UNIQUE,
        policies TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ttl INTEGER NOT NULL,
        orphan INTEGER NOT NULL,
        parent TEXT
    );
    CREATE INDEX tokens_expires ON tokens (expires_at);
    CREATE INDEX tokens_parent ON tokens (parent);
    CREATE TABLE policies (
        name TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE lease_owners (
        lease_id TEXT PRIMARY KEY,
        accessor TEXT NOT NULL
    );
    CREATE INDEX lease_owners_accessor ON lease_owners (accessor);
    """,
    # 3: partial indexes instead of (state, due_at). Every issue and revoke moved a
    # row in that index four times; these hold only the rows the queries by state
    # look for (recovery's pending leases, the irrevocable ones), so the usual
    # pending -> active -> deleted life of a lease touches one of them twice.
    f"""
    DROP INDEX leases_state;
    {PARTIAL_INDEXES}
    """,
]
