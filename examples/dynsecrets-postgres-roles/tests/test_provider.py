"""The postgres-roles provider against the real PostgreSQL server, discovered through
its entry point exactly as a user's installation would find it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import pytest
from dynsecrets_postgres_roles import PostgresRolesProvider, render
from dynsecrets_postgres_roles.sql import compose

from dynsecrets import Engine, Lease, ManualClock, Mount, ProviderRegistry
from dynsecrets.errors import DynSecretsError, PermanentProviderError, ValidationError
from dynsecrets.testing import CloudCheck, ProviderContract

CREATE = [
    "CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}",
    "GRANT CONNECT ON DATABASE test TO {{name}}",
]


def _login(admin: Any, name: str) -> tuple[bool, Any]:
    row = admin.execute(
        "SELECT rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname = %s", (name,)
    ).fetchone()
    return (row is not None, row[1] if row else None)


@pytest.fixture
def engine() -> Any:
    import time

    with Engine.open("memory://", clock=ManualClock(time.time())) as e:
        yield e


@pytest.fixture
def db(engine: Engine, pg_url: str) -> Mount:
    # Login roles are cluster-wide: a mount path of this test's own keeps tests apart.
    m = engine.enable(f"db-{uuid.uuid4().hex[:8]}", "postgres-roles", default_ttl="1h")
    m.configure(connection_url=pg_url)
    return m


class TestContract(ProviderContract):
    @pytest.fixture
    def mount(self, db: Mount) -> Mount:
        return db

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        return {"creation_statements": CREATE}

    @pytest.fixture
    def broken_config(self, pg_url: str) -> dict[str, Any]:
        return {"connection_url": pg_url, "username": "no_such_admin_role"}

    @pytest.fixture
    def cloud(self, admin: Any) -> CloudCheck:
        return _Logins(admin)

    @pytest.fixture
    def lose_reply(self) -> Callable[[Mount], AbstractContextManager[None]]:
        return _lose_reply


class _Logins(CloudCheck):
    def __init__(self, admin: Any) -> None:
        self.admin = admin

    def exists(self, mount: Mount, lease: Lease) -> bool:
        return _login(self.admin, lease.data["username"])[0]

    def secret_count(self, mount: Mount, lease: Lease) -> int:
        """A login holds one password, or none."""
        row = self.admin.execute(
            "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s",
            (lease.data["username"],),
        ).fetchone()
        return int(bool(row and row[0]))


class _LostReply:
    """A connection whose next statement reaches the server and commits, and then
    whose reply is lost, as a dropped connection does."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._conn.execute(*args, **kwargs)
        raise psycopg.OperationalError("server closed the connection unexpectedly (injected)")


@contextmanager
def _lose_reply(mount: Mount) -> Iterator[None]:
    provider = mount.provider
    connect = provider._connect
    lost: list[bool] = []

    @contextmanager
    def once(config: Any, operation: str) -> Iterator[Any]:
        inject = operation == "issue" and not lost
        if inject:
            lost.append(True)
        with connect(config, operation) as conn:
            yield _LostReply(conn) if inject else conn

    provider._connect = once
    try:
        yield
    finally:
        del provider._connect
    assert lost, "no issue ran"


def test_discovered_through_its_entry_point() -> None:
    assert ProviderRegistry().get("postgres-roles") is PostgresRolesProvider


def test_issue_login_renew_revoke(db: Mount, admin: Any, pg_url: str, engine: Engine) -> None:
    db.write_role(
        "app",
        creation_statements=[*CREATE, "GRANT CREATE ON SCHEMA public TO {{name}}"],
        default_ttl="30m",
        max_ttl="2h",
    )
    lease = db.issue("app")
    name, password = lease.data["username"], lease.data["password"]
    assert len(name.encode()) <= 63 and len(password) >= 32 and lease.lease_duration == 1800
    exists, until = _login(admin, name)
    assert exists and abs(until.timestamp() - lease.expires_at) < 2
    user_conn = psycopg.connect(pg_url, user=name, password=password, autocommit=True)
    user_conn.execute(
        f"CREATE TABLE IF NOT EXISTS pr_owned_{name[-6:]} (x int)"
    )  # something it owns
    info = engine.renew(lease.lease_id, increment="1h")
    assert abs(_login(admin, name)[1].timestamp() - info.expires_at) < 2
    engine.revoke(lease.lease_id)
    assert _login(admin, name) == (False, None)
    with pytest.raises(psycopg.OperationalError):  # its session was terminated
        user_conn.execute("SELECT 1")
    user_conn.close()
    owned = admin.execute(
        "SELECT tableowner FROM pg_tables WHERE tablename = %s", (f"pr_owned_{name[-6:]}",)
    ).fetchone()
    assert owned is not None and owned[0] == "postgres"  # reassigned, not left dangling
    admin.execute(f"DROP TABLE pr_owned_{name[-6:]}")


def test_creation_statements_are_one_transaction(db: Mount, admin: Any, engine: Engine) -> None:
    # The second statement fails when it runs (not when it is parsed): the first one's
    # login must go with it, as inside BEGIN ... COMMIT.
    db.write_role(
        "half",
        creation_statements=[
            "CREATE ROLE {{name}} LOGIN PASSWORD {{password}} -- a note at the end",
            "GRANT SELECT ON TABLE pr_no_such_table TO {{name}}",
        ],
    )
    with pytest.raises(PermanentProviderError) as info:
        db.issue("half")
    assert info.value.code == "42P01"  # undefined_table
    assert db.leases() == []
    assert admin.execute(
        "SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE %s",
        (f"dynsecrets:{db.path}:%",),
    ).fetchone() == (0,)
    # A trailing comment does not swallow the tag that follows it.
    db.write_role("noted", creation_statements=["CREATE ROLE {{name}} LOGIN -- a note"])
    lease = db.issue("noted")
    assert [o.lease_id for o in db.tidy().orphans] == []
    engine.store.delete_lease(lease.lease_id)
    assert [o.lease_id for o in db.tidy().orphans] == [lease.lease_id]
    db.tidy(dry_run=False)
    assert not _login(admin, lease.data["username"])[0]


def test_custom_statements_and_long_role_names(db: Mount, admin: Any, engine: Engine) -> None:
    db.write_role(
        "r" * 64,
        creation_statements=["CREATE ROLE {{name}} LOGIN PASSWORD {{password}}"],
        revocation_statements=["DROP ROLE {{name}}"],
        renew_statements=["SELECT 1"],
    )
    lease = db.issue("r" * 64)
    assert len(lease.data["username"]) == 63 and _login(admin, lease.data["username"])[0]
    db.delete_role("r" * 64)  # the plan carries the statements: revocation still works
    engine.revoke(lease.lease_id)
    assert not _login(admin, lease.data["username"])[0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"creation_statements": ["CREATE ROLE x"]}, "creation_statements"),
        ({"creation_statements": ["CREATE ROLE {{name}}; DROP TABLE t"]}, "creation_statements"),
        ({"creation_statements": ["CREATE ROLE {{name}} {{oops}}"]}, "creation_statements"),
        ({"creation_statements": CREATE, "default_ttl": "2h", "max_ttl": "1h"}, "default_ttl"),
        (
            {
                "creation_statements": CREATE,
                "revocation_statements": ["DROP ROLE {{name}}; SELECT 1"],
            },
            "revocation_statements",
        ),
    ],
)
def test_role_validation(db: Mount, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        db.write_role("bad", **fields)
    assert info.value.field == field


def test_config_validation(db: Mount) -> None:
    with pytest.raises(ValidationError) as info:
        db.configure(connection_url="postgresql://u:hunter2pw@127.0.0.1/test")
    assert info.value.field == "connection_url" and "hunter2pw" not in str(info.value)
    with pytest.raises(ValidationError):
        db.configure(connection_url="mysql://127.0.0.1/test")


@pytest.mark.parametrize(
    "hostile",
    [
        'x"; DROP TABLE pr_canary; --',
        "x' OR '1'='1",
        "Robert'); DROP ROLE postgres;--",
        "a\\b",
        "ünï",
    ],
)
def test_values_cannot_inject_sql(admin: Any, hostile: str) -> None:
    admin.execute("CREATE TABLE IF NOT EXISTS pr_canary (x int)")
    statement = render(
        "CREATE ROLE {{name}} PASSWORD {{password}} VALID UNTIL {{expiration}}",
        {"name": hostile, "password": hostile, "expiration": "2099-01-01"},
    )
    try:
        admin.execute(statement)
        assert _login(admin, hostile)[0]  # a role with exactly that (odd) name, nothing more
    finally:
        admin.execute(render("DROP ROLE IF EXISTS {{name}}", {"name": hostile}))
    assert admin.execute("SELECT to_regclass('pr_canary')").fetchone()[0] is not None
    assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'").fetchone()


@pytest.mark.parametrize(
    "hostile",
    [
        'x"; DROP TABLE pr_canary; --',
        "x' OR '1'='1",
        "Robert'); DROP ROLE postgres;--",
        "a\\b",
        "ünï",
    ],
)
def test_composed_scripts_cannot_be_injected_either(admin: Any, hostile: str) -> None:
    # What the provider sends: statements quoted by libpq, joined into one query.
    admin.execute("CREATE TABLE IF NOT EXISTS pr_canary (x int)")
    values = {"name": hostile, "password": hostile, "expiration": "2099-01-01"}
    script = compose(
        admin,
        [
            ("CREATE ROLE {{name}} PASSWORD {{password}} VALID UNTIL {{expiration}}", values),
            ("COMMENT ON ROLE {{name}} IS {{password}}", values),
        ],
    )
    try:
        admin.execute(script)
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
            (hostile,),
        ).fetchone()
        assert row == (hostile,)  # exactly that name, exactly that comment
    finally:
        admin.execute(compose(admin, [("DROP ROLE IF EXISTS {{name}}", values)]))
    assert admin.execute("SELECT to_regclass('pr_canary')").fetchone()[0] is not None
    with pytest.raises(ValueError, match="NUL"):  # libpq would cut the value short
        compose(
            admin, [("ALTER ROLE {{name}} PASSWORD {{password}}", {**values, "password": "a\x00b"})]
        )


def test_names_and_sessions(db: Mount, engine: Engine) -> None:
    db.write_role("app", creation_statements=CREATE)
    names = set()
    for _ in range(8):  # past psycopg's default prepare threshold (5)
        lease = db.issue("app")
        names.add(lease.data["username"])
        assert re.fullmatch(r"dyn_app_[a-z0-9]{12}", lease.data["username"])
        engine.revoke(lease.lease_id)
    assert len(names) == 8
    # Nothing is prepared: every statement is DDL or a one-off, and a prepared revoke
    # query cost a DEALLOCATE ALL after each DROP.
    (pool,) = db.provider._pools.values()
    with pool.connection() as conn:
        assert conn.prepare_threshold is None
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)


def test_hostile_role_names_never_reach_sql(db: Mount) -> None:
    for name in ['x"; DROP TABLE t; --', "a b", "../x", "x" * 65]:
        with pytest.raises(ValidationError):
            db.write_role(name, creation_statements=CREATE)
    assert db.roles() == []


def test_errors_are_mapped(db: Mount) -> None:
    db.write_role("broken", creation_statements=["CREATE ROLE {{name}} WITH NONSENSE"])
    with pytest.raises(PermanentProviderError, match="PostgreSQL issue failed") as info:
        db.issue("broken")
    assert isinstance(info.value, DynSecretsError) and info.value.code == "42601"
    assert db.leases() == []


def test_tidy_finds_logins_without_leases(db: Mount, admin: Any, engine: Engine) -> None:
    db.write_role("app", creation_statements=CREATE)
    kept, lost = db.issue("app"), db.issue("app")
    engine.store.delete_lease(lost.lease_id)
    report = db.tidy()
    assert [o.lease_id for o in report.orphans] == [lost.lease_id]
    db.tidy(dry_run=False)
    assert not _login(admin, lost.data["username"])[0] and _login(admin, kept.data["username"])[0]
    engine.revoke(kept.lease_id)


def test_a_broken_pooled_connection_is_replaced(db: Mount, admin: Any, engine: Engine) -> None:
    db.write_role("app", creation_statements=CREATE)
    for _ in range(3):  # the first call proves the credentials, the rest use the pool
        engine.revoke(db.issue("app").lease_id)
    # The server drops the pool's sessions (a restart, a failover, an idle timeout).
    killed = admin.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'dynsecrets-postgres-roles'"
    ).fetchone()[0]
    assert killed >= 1
    lease = db.issue("app")  # a dead pooled connection is replaced, not fatal
    assert _login(admin, lease.data["username"])[0]
    engine.revoke(lease.lease_id)
    assert not _login(admin, lease.data["username"])[0]


def test_expiration_is_utc(db: Mount, admin: Any) -> None:
    db.write_role("app", creation_statements=CREATE)
    with db.lease("app", ttl="10m") as lease:
        until = _login(admin, lease.data["username"])[1]
        assert until.tzinfo is not None
        assert (
            abs(
                (
                    until - dt.datetime.fromtimestamp(lease.expires_at, dt.timezone.utc)
                ).total_seconds()
            )
            < 2
        )
