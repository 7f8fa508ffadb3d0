"""Issue 4: the expiry worker, retries, events, tidy, bulk revocation and scale,
on the fake provider (and on real processes sharing one SQLite file)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from dynsecrets import Engine, Event, ExpiryWorker, LeaseState, ManualClock, Mount
from dynsecrets.lifecycle import issuance
from dynsecrets.store.base import LeaseRecord
from dynsecrets.store.sqlite import SQLiteStore
from dynsecrets.testing import FakeCloud, fake_engine

from ._recording import RecordingProvider, registry

ROOT = Path(__file__).resolve().parent.parent


def test_two_workers_revoke_each_lease_once(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    for _ in range(2000):
        fake_mount.issue("app", ttl="1m")
    dynsecrets_clock.advance(61)
    engine = fake_mount.engine
    workers = [ExpiryWorker(engine, batch=50) for _ in range(2)]
    counts: list[int] = []
    threads = [threading.Thread(target=lambda w=w: counts.append(w.run_once())) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 2000 and all(c > 0 for c in counts)
    assert len(fake_cloud.deletions) == 2000 and set(fake_cloud.deletions.values()) == {1}
    assert fake_cloud.users == {} and engine.leases() == []


def test_concurrency_is_bounded_per_mount(
    dynsecrets_engine: Engine, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    lock = threading.Lock()
    gate = threading.Barrier(4, timeout=5)
    original = fake_cloud.delete_user

    def tracked(name: str) -> None:
        mount = fake_cloud.users[name].tags["dynsecrets-mount"]
        with lock:
            in_flight[mount] += 1
            peak[mount] = max(peak[mount], in_flight[mount])
        try:
            if mount == "a":
                gate.wait()  # proves four run at once on mount a
            original(name)
        finally:
            with lock:
                in_flight[mount] -= 1

    fake_cloud.delete_user = tracked  # type: ignore[method-assign]
    for path in ("a", "b"):
        m = dynsecrets_engine.enable(path, "fake")
        m.write_role("r", policies=["p"])
        for _ in range(40):
            m.issue("r", ttl="1m")
    dynsecrets_clock.advance(61)
    assert ExpiryWorker(dynsecrets_engine, concurrency=4).run_once() == 80
    assert peak["a"] == 4 and 1 <= peak["b"] <= 4


def test_background_worker_expires_leases(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    engine = fake_mount.engine
    done = threading.Event()
    expired: list[Event] = []

    def on_event(event: Event) -> None:
        if event.kind == "expire":
            expired.append(event)
            if len(expired) == 50:
                done.set()

    engine.subscribe(on_event)
    for _ in range(50):
        fake_mount.issue("app", ttl="5m")
    worker = engine.start_worker(interval=0.02)
    assert worker.running
    dynsecrets_clock.advance(301)
    assert done.wait(10), f"only {len(expired)} expired"
    engine.close()
    assert not worker.running
    assert fake_cloud.users == {}


def test_events(fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock) -> None:
    engine = fake_mount.engine
    events: list[Event] = []
    unsubscribe = engine.subscribe(events.append)
    engine.subscribe(lambda e: 1 / 0)  # a broken subscriber never breaks the engine
    a = fake_mount.issue("app", ttl="1m")
    engine.renew(a.lease_id, increment="2m")
    engine.revoke(a.lease_id)
    fake_mount.issue("app", ttl="1m")
    fake_cloud.fail("create_key")
    with pytest.raises(Exception, match="AccessDenied"):
        fake_mount.issue("app")
    fake_cloud.fail("delete_user", times=10)
    dynsecrets_clock.advance(61)
    engine.max_attempts = 1
    engine.expire_due()
    fake_cloud.reset_faults()
    dynsecrets_clock.advance(86401)
    engine.expire_due()
    kinds = [e.kind for e in events]
    assert kinds == [
        "issue",
        "renew",
        "revoke",
        "issue",
        "failure",
        "rollback",
        "failure",
        "irrevocable",
        "expire",
    ], kinds
    assert events[4].error and "AccessDenied" in events[4].error
    assert all(e.mount == "fake" and e.role == "app" for e in events)
    unsubscribe()
    fake_mount.issue("app")
    assert len(events) == 9


def test_provider_down_then_back() -> None:
    from dynsecrets import RetryPolicy

    clock = ManualClock()
    fake_cloud = FakeCloud(clock=clock)
    # No in-call retries: each pass makes one attempt, so the backoff schedule is exact.
    engine = fake_engine(clock=clock, cloud=fake_cloud, retry=RetryPolicy(budget=0))
    m = engine.enable("fake", "fake")
    m.write_role("app", policies=["p"])
    for _ in range(20):
        m.issue("app", ttl="1m")
    clock.advance(61)
    with fake_cloud.outage():
        assert engine.expire_due() == 0
    failed = engine.leases(state=LeaseState.REVOKING)
    assert len(failed) == 20 and all(
        f.attempts == 1 and "ServiceUnavailable" in (f.last_error or "") for f in failed
    )
    assert engine.expire_due() == 0  # not due again before the backoff (5-15 s)
    clock.advance(4)
    assert engine.expire_due() == 0
    clock.advance(12)
    assert engine.expire_due() == 20
    assert fake_cloud.users == {}


def test_throttling_storm(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    for _ in range(200):
        fake_mount.issue("app", ttl="1m")
    fake_cloud.throttle("delete_user", times=300)
    dynsecrets_clock.advance(61)
    total = 0
    for _ in range(10):
        total += fake_mount.engine.expire_due()
        dynsecrets_clock.advance(3600)
    assert total == 200 and fake_cloud.users == {}
    assert fake_cloud.calls["delete_user"] == 500


def test_clock_jumps(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    for _ in range(10):
        fake_mount.issue("app", ttl="1h")
    dynsecrets_clock.advance(-7200)  # NTP steps the clock back: nothing expires early
    assert fake_mount.engine.expire_due() == 0
    dynsecrets_clock.advance(7200 + 86400)  # a laptop wakes a day later: everything is due
    assert fake_mount.engine.expire_due() == 10
    assert fake_cloud.users == {}


def test_worker_recovers_interrupted_issuance(
    fake_mount: Mount,
    fake_cloud: FakeCloud,
    dynsecrets_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)
    fake_cloud.fail("create_key")
    with pytest.raises(Exception, match="AccessDenied"):
        fake_mount.issue("app")
    monkeypatch.undo()
    [pending] = fake_mount.engine.leases(state=LeaseState.PENDING)
    assert len(fake_cloud.users) == 1
    assert fake_mount.engine.expire_due() == 0  # still inside the grace period
    dynsecrets_clock.advance(fake_mount.engine.claim_ttl + 1)
    assert fake_mount.engine.expire_due() == 1
    assert fake_cloud.users == {} and fake_mount.engine.leases() == []
    assert pending.lease_id


def test_tidy(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    live = fake_mount.issue("app")
    ours = {"dynsecrets-mount": "fake", "dynsecrets-store": fake_mount.engine.store_id}
    fake_cloud.create_user("fake-app-orphan1", {**ours, "dynsecrets-lease": "fake/creds/app/gone"})
    fake_cloud.create_user("fake-app-orphan2", ours)
    fake_cloud.attach_policy("fake-app-orphan2", "read")
    # Same mount path, same account, another store: never ours to delete.
    fake_cloud.create_user(
        "fake-app-theirs", {**ours, "dynsecrets-store": "0" * 32, "dynsecrets-lease": "x"}
    )
    fake_cloud.create_user("fake-app-untagged", {"dynsecrets-mount": "fake"})
    fake_cloud.create_user("human", {})
    fake_cloud.create_user("other-mount", {"dynsecrets-mount": "other", "dynsecrets-lease": "x"})
    report = fake_mount.tidy()
    assert report.dry_run and report.scanned == 5
    assert sorted(o.id for o in report.orphans) == ["fake-app-orphan1", "fake-app-orphan2"]
    assert sorted(o.id for o in report.foreign) == ["fake-app-theirs", "fake-app-untagged"]
    assert len(fake_cloud.users) == 7
    report = fake_mount.tidy(dry_run=False)
    assert sorted(report.deleted) == ["fake-app-orphan1", "fake-app-orphan2"] and not report.errors
    assert sorted(fake_cloud.users) == sorted(
        [live.data["user"], "fake-app-theirs", "fake-app-untagged", "human", "other-mount"]
    )


def test_revoke_prefix_five_thousand_in_one_call(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    for _ in range(5000):
        fake_mount.issue("app")
    fake_cloud.fail("delete_user", nth=100, times=3)
    progress: list[tuple[int, int]] = []
    summary = fake_mount.engine.revoke_prefix(
        "fake/creds/app", concurrency=8, progress=lambda d, t: progress.append((d, t))
    )
    assert summary.revoked == 4997 and len(summary.failed) == 3
    assert len(progress) == 5000 and max(progress) == (5000, 5000)
    assert {x.lease_id for x in fake_mount.engine.leases()} == set(summary.failed)


def _bulk_leases(store: SQLiteStore, n: int, now: float) -> None:
    rows = [
        LeaseRecord(
            lease_id=f"m/creds/r/{i:024d}",
            mount="m",
            role="r",
            state="active",
            plan={"user": f"u{i}"},
            revocation={},
            issued_at=now,
            expires_at=now + 86400,
            max_expires_at=now + 86400,
            due_at=now + 86400,
        )
        for i in range(n)
    ]
    with store._tx() as db:
        db.executemany(
            "INSERT INTO leases (lease_id, mount, role, state, plan, revocation, issued_at, expires_at, "
            "max_expires_at, due_at, renewable, revocable, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,1,1,0)",
            [
                (
                    r.lease_id,
                    r.mount,
                    r.role,
                    r.state,
                    '{"user":"u"}',
                    "{}",
                    r.issued_at,
                    r.expires_at,
                    r.max_expires_at,
                    r.due_at,
                )
                for r in rows
            ],
        )


def _open_cost(path: Path, clock: ManualClock) -> int:
    """SQLite virtual-machine steps spent by Engine.open plus one expiry pass: a count,
    not a timing, so it is the same on any machine."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store = SQLiteStore(path)
    store._db.set_progress_handler(count, 1)
    engine = Engine(store, registry=registry(), clock=clock)
    engine.expire_due()
    engine.close()
    return steps


def test_open_cost_does_not_grow_with_stored_leases(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000)
    small, big = tmp_path / "small.db", tmp_path / "big.db"
    for path, n in ((small, 0), (big, 100_000)):
        s = SQLiteStore(path)
        _bulk_leases(s, n, clock.now())
        s.close()
    empty, full = _open_cost(small, clock), _open_cost(big, clock)
    assert empty > 20  # the counter sees the queries open() and the pass make
    assert full <= empty + 10, (empty, full)  # a scan of 100,000 rows costs over 100,000 steps


def test_due_queries_use_indexes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    plans = {
        "claim": "SELECT lease_id FROM leases WHERE due_at <= 1 AND (claim_deadline IS NULL OR claim_deadline < 1) ORDER BY due_at LIMIT 5",
        "claim pending": "SELECT lease_id FROM leases WHERE due_at <= 1 AND (claim_deadline IS NULL OR claim_deadline < 1) AND state = 'pending' ORDER BY due_at LIMIT 5",
        "next due": "SELECT min(due_at) FROM leases",
        "by state": "SELECT lease_id FROM leases WHERE 1 = 1 AND state = 'irrevocable' ORDER BY lease_id",
    }
    for what, sql in plans.items():
        steps = [r[3] for r in store._db.execute("EXPLAIN QUERY PLAN " + sql)]
        # A search of an index, or a walk of a partial one (it holds only that state's
        # rows); never a walk of the whole table.
        assert "leases USING" in steps[0] and "INDEX" in steps[0], (what, steps)
        assert not any(s.rstrip() == "SCAN leases" for s in steps), (what, steps)
        if what == "by state":
            assert "leases_irrevocable" in steps[0], steps
    store.close()


def test_two_processes_share_one_sqlite_store(tmp_path: Path) -> None:
    """2,000 leases expiring together; two processes, each with two worker threads:
    every lease is revoked exactly once (counted at the 'cloud')."""
    log = tmp_path / "revocations.log"
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    clock = ManualClock(__import__("time").time() - 3600)  # issued an hour ago: all due now
    with Engine.open(url, registry=registry(), clock=clock) as engine:
        m = engine.enable("rec", "recording")
        m.write_role("r")
        issued = {m.issue("r", ttl="1m").lease_id for _ in range(2000)}
    barrier = tmp_path / "started"
    barrier.mkdir()
    env = {
        **os.environ,
        "DYNSECRETS_TEST_REVOKE_LOG": str(log),
        "PYTHONPATH": str(ROOT),
        # Both start their workers together: on a busy machine the first could
        # otherwise revoke everything before the second has started.
        "DYNSECRETS_TEST_BARRIER": f"{barrier},2",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests._recording", url, "2", "60"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    lines = log.read_text().splitlines()
    revoked = Counter(line.split()[1] for line in lines)
    assert set(revoked) == issued
    assert set(revoked.values()) == {1}, [k for k, v in revoked.items() if v > 1][:5]
    assert len({line.split()[0] for line in lines}) == 2  # both processes took part
    db = sqlite3.connect(tmp_path / "shared.db")
    assert db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
    db.close()
    assert RecordingProvider.name == "recording"


def test_engine_options_reach_the_worker(tmp_path: Path) -> None:
    cloud = FakeCloud()
    with fake_engine(url=f"sqlite:///{tmp_path / 's.db'}", cloud=cloud, claim_ttl=10) as engine:
        assert engine.claim_ttl == 10
        with pytest.raises(ValueError):
            ExpiryWorker(engine, concurrency=0)
