"""Issue 7: the PostgreSQL store, on the real server (127.0.0.1:5432 or
$DYNSECRETS_TEST_POSTGRES_URL), each test in a schema of its own."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynsecrets import Engine, ManualClock
from dynsecrets.errors import SchemaVersionError, StoreError
from dynsecrets.store import open_store
from dynsecrets.store.postgres import SCHEMA_VERSION, PostgresStore
from dynsecrets.testing import FakeCloud, StoreContract, fake_engine

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parent.parent
KEY = base64.urlsafe_b64encode(b"p" * 32).decode()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[PostgresStore]:
        s = PostgresStore(pg_url)
        yield s
        s.close()


def test_static_role_and_root_rotation_on_postgres(pg_url: str) -> None:
    """The rotation tasks' rows (put_task, claim_lease) on the real server: two
    engines share the store, a manual rotation claims the task, the worker runs
    what is due."""
    from dynsecrets import ExpiryWorker
    from dynsecrets.errors import Conflict
    from dynsecrets.testing.fake_cloud import FakeUser

    clock = ManualClock()
    cloud = FakeCloud(clock=clock)
    cloud.users["svc"] = FakeUser("svc", {})
    with (
        fake_engine(url=pg_url, clock=clock, cloud=cloud, key=KEY) as a,
        fake_engine(url=pg_url, clock=clock, cloud=cloud, key=KEY) as b,
    ):
        m = a.enable("fake", "fake")
        m.configure(api_key=cloud.root_key, rotation_period="2h")
        m.static.write("svc", username="svc", rotation_period="1h", rotation_grace_period="5m")
        first = b.read("fake/static-creds/svc")
        assert cloud.key_works("svc", first.data["access_key"], first.data["secret_key"])
        now = clock.now()
        assert b.store.claim_lease(
            "@rotation/fake/static/svc", owner="b", deadline=now + 30, now=now
        )
        with pytest.raises(Conflict):
            m.static.rotate("svc")
        b.store.release_claim("@rotation/fake/static/svc", "b")
        root = cloud.root_key
        clock.advance(7200)
        assert ExpiryWorker(b).run_once() == 2  # the static role and the root credential
        second = a.read("fake/static-creds/svc")
        assert second.data["access_key"] != first.data["access_key"]
        assert cloud.root_key != root and m.read_config()["root_credential_age"] == 0
        assert a.leases() == [] and a.store.count_leases("fake") == 0


def test_open_store_url_and_masked_password(pg_url: str) -> None:
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore) and store.schema_version == SCHEMA_VERSION
    store.close()
    bad = "postgresql://postgres:hunter2hunter2@127.0.0.1:1/test"
    with pytest.raises(StoreError) as info:
        PostgresStore(bad)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_engine_workflow_on_postgres(pg_url: str) -> None:
    clock = ManualClock()
    cloud = FakeCloud(clock=clock)
    with fake_engine(url=pg_url, clock=clock, cloud=cloud, key=KEY) as engine:
        m = engine.enable("fake", "fake", default_ttl="1h")
        m.configure(api_key=cloud.root_key)
        m.write_role("app", policies=["p"])
        leases = [m.issue("app") for _ in range(5)]
        engine.renew(leases[0].lease_id, increment="2h")
        assert m.read_config()["account"] == "fake-account"
        clock.advance(3601)
        assert engine.expire_due() == 4
        assert engine.revoke_prefix("fake/creds/app").revoked == 1
        assert cloud.users == {}
    store = PostgresStore(pg_url)
    with store._conn() as conn:  # root config is sealed here exactly as in SQLite
        blob = bytes(conn.execute("SELECT config FROM mounts").fetchone()[0])
    assert cloud.root_key.encode() not in blob and blob.startswith(b"v1")
    store.close()


def test_concurrent_opens_migrate_once(pg_url: str) -> None:
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(stores) == 6
    assert {s.schema_version for s in stores} == {SCHEMA_VERSION}
    with stores[0]._conn() as conn:
        assert (
            conn.execute("SELECT count(*) FROM meta WHERE key = 'schema_version'").fetchone()[0]
            == 1
        )
    for s in stores:
        s.close()


def test_newer_schema_is_refused(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store._exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(SchemaVersionError, match="upgrade dynsecrets"):
        PostgresStore(pg_url)
    import psycopg

    with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:  # as the fixture would
        conn.execute(f'DROP SCHEMA "{pg_url.split("schema=")[1]}" CASCADE')


def test_shared_store_needs_an_explicit_key(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dynsecrets.errors import ValidationError

    monkeypatch.delenv("DYNSECRETS_KEY", raising=False)
    with pytest.raises(ValidationError, match="same key on every node"):
        Engine.open(pg_url)


def _run_nodes(
    pg_url: str, log: Path, *, per_node: int, kill_one: bool
) -> tuple[list[str], int | None, int]:
    """Three OS processes, each with its own engine and two worker threads, share one
    database: each issues `per_node` leases that expire at once, then all revoke.
    Returns the revocation log, the killed node's pid, and how many leases are left."""
    from tests._recording import registry

    env = {
        **os.environ,
        "DYNSECRETS_TEST_REVOKE_LOG": str(log),
        "PYTHONPATH": str(ROOT),
        "DYNSECRETS_KEY": KEY,
        "CLAIM_TTL": "2",
        "ISSUE": str(per_node),
    }
    with Engine.open(pg_url, key=KEY, registry=registry()) as engine:
        engine.enable("rec", "recording").write_role("r")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests._recording", pg_url, "2", "120"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    killed = None
    if kill_one:
        victim = procs[0]
        assert victim.stdout is not None
        lines = iter(victim.stdout.readline, "")
        assert next(lines).strip() == "ready"
        assert next(lines).strip() == "revoking"  # it holds claims now: kill it mid-run
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        killed = victim.pid
    for p in procs[1 if kill_one else 0 :]:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    with Engine.open(pg_url, key=KEY, registry=registry()) as engine:
        left = len(engine.leases())
    return log.read_text().splitlines(), killed, left


@pytest.mark.slow
def test_three_nodes_revoke_each_lease_exactly_once(pg_url: str, tmp_path: Path) -> None:
    lines, _, left = _run_nodes(pg_url, tmp_path / "revocations.log", per_node=1000, kill_one=False)
    assert left == 0
    counts = Counter(line.split()[1] for line in lines)
    assert len(counts) == 3000 and set(counts.values()) == {1}
    assert len({line.split()[0] for line in lines}) == 3  # all three nodes revoked some


@pytest.mark.slow
def test_three_nodes_with_one_killed(pg_url: str, tmp_path: Path) -> None:
    lines, killed, left = _run_nodes(
        pg_url, tmp_path / "revocations.log", per_node=1000, kill_one=True
    )
    assert left == 0 and killed is not None
    counts = Counter(line.split()[1] for line in lines)
    assert len(counts) == 3000  # every lease revoked, including the dead node's claims
    twice = [lid for lid, n in counts.items() if n > 1]
    # Only a revocation the dead node had started may be repeated (revoke is idempotent),
    # and at most one per revocation it had in flight (2 workers x 4 concurrency).
    by_victim = {line.split()[1] for line in lines if int(line.split()[0]) == killed}
    assert by_victim, "the killed node revoked nothing before it died"
    assert set(twice) <= by_victim and len(twice) <= 8 and max(counts.values()) <= 2


class _Skewed:
    """A node whose wall clock is off by ``offset`` seconds."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        import time

        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)


def test_nodes_with_skewed_clocks_agree_on_the_database_clock(pg_url: str) -> None:
    """Three nodes on one store, clocks an hour ahead, right, an hour behind: the
    database's clock decides, so nothing is revoked early and nothing twice."""
    import time

    from dynsecrets.clock import ServerClock

    cloud = FakeCloud()
    with Engine.open(pg_url, key=KEY) as plain:  # unset clock: the database's
        assert isinstance(plain.clock, ServerClock)
        m = plain.enable("fake", "fake")
        m.write_role("app", policies=["p"])
    nodes = []
    for offset in (3600.0, 0.0, -3600.0):
        store = PostgresStore(pg_url)
        clock = ServerClock(store.server_time, local=_Skewed(offset))
        nodes.append(fake_engine(url=pg_url, cloud=cloud, clock=clock, key=KEY))
        store.close()
    long_lived = [n.mount("fake").issue("app", ttl="1h").lease_id for n in nodes]
    for node in nodes:  # the node an hour ahead would revoke these at once by its own clock
        assert node.expire_due() == 0
    short = [n.mount("fake").issue("app", ttl=1).lease_id for n in nodes for _ in range(10)]
    deadline = time.monotonic() + 60
    while any(x.lease_id in short for x in nodes[0].leases()):  # wait for the expiry itself
        assert time.monotonic() < deadline, "short leases never expired"
        for node in nodes:
            node.expire_due()
    assert sum(cloud.deletions.values()) == len(short)  # each once
    assert {x.lease_id for x in nodes[1].leases()} == set(long_lived)
    for node in nodes:
        node.revoke_prefix("fake/")
        node.close()


def test_schema_2_store_moves_to_partial_state_indexes(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    with store._conn() as conn:  # back to what schema 2 left
        conn.execute("DROP INDEX leases_pending")
        conn.execute("DROP INDEX leases_irrevocable")
        conn.execute("CREATE INDEX leases_state ON leases (state, due_at)")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store.close()
    store = PostgresStore(pg_url)
    with store._conn() as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'leases' "
                "AND schemaname = current_schema()"
            )
        }
    assert store.schema_version == SCHEMA_VERSION == 3
    assert "leases_state" not in names
    assert {"leases_due", "leases_pending", "leases_irrevocable"} <= names
    store.close()
