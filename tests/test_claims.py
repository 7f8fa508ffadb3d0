"""Claims with a heartbeat: a dead worker's or issuer's leases are taken over within
one claim TTL; a live one's never are. Progress is durable per lease, so a
worker killed mid-drain repeats only what was in flight."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from dynsecrets import Engine, ExpiryWorker, Lease, LeaseState, ManualClock, Mount
from dynsecrets.lifecycle import issuance
from dynsecrets.testing import FakeCloud, fake_engine

from ._recording import registry

ROOT = Path(__file__).resolve().parent.parent


class Crash(BaseException):
    """Stands in for SIGKILL inside one process: nothing after it runs."""


def test_default_claim_ttl_is_short(dynsecrets_engine: Engine) -> None:
    assert dynsecrets_engine.claim_ttl <= 30


def test_dead_workers_leases_are_taken_over_within_the_claim_ttl(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    engine = fake_mount.engine
    leases = [fake_mount.issue("app", ttl=60).lease_id for _ in range(10)]
    dynsecrets_clock.advance(61)
    deleted: list[str] = []

    def die_on_fourth(op: str) -> None:
        if op == "delete_user":
            deleted.append(op)
            if len(deleted) == 4:
                raise Crash

    fake_cloud.on_call(die_on_fourth)
    with pytest.raises(Crash):
        ExpiryWorker(engine, concurrency=1).run_once()
    fake_cloud._on_call.clear()
    # Three revoked and gone from the store at once; the rest stay claimed by the dead worker.
    assert len(engine.leases()) == 7
    assert ExpiryWorker(engine).run_once() == 0  # the claims are still live
    dynsecrets_clock.advance(engine.claim_ttl + 1)
    assert ExpiryWorker(engine).run_once() == 7
    assert engine.leases() == [] and fake_cloud.users == {}
    # The fourth user's delete ran before the crash, so it is the only one repeated.
    assert sum(fake_cloud.deletions.values()) == 10
    assert len(leases) == 10


def test_a_live_workers_heartbeat_keeps_its_claims(
    fake_mount: Mount, dynsecrets_clock: ManualClock
) -> None:
    engine = fake_mount.engine
    fake_mount.issue("app", ttl=60)
    dynsecrets_clock.advance(61)
    owner = "worker:test"
    [claimed] = engine.store.claim_due(
        dynsecrets_clock.now(),
        owner=owner,
        deadline=dynsecrets_clock.now() + engine.claim_ttl,
        limit=10,
    )
    with engine.core.heartbeat.hold(owner):
        for _ in range(5):  # well past one claim TTL in all, with beats in between
            dynsecrets_clock.advance(engine.claim_ttl * 0.6)
            assert engine.core.heartbeat.beat() == 1
            assert ExpiryWorker(engine).run_once() == 0
    dynsecrets_clock.advance(engine.claim_ttl + 1)  # the holder stopped beating: taken over
    assert ExpiryWorker(engine).run_once() == 1
    assert claimed.lease_id


def test_pending_lease_of_a_live_slow_issuer_is_never_recovered(tmp_path: Path) -> None:
    clock = ManualClock()
    cloud = FakeCloud(clock=clock)
    url = f"sqlite:///{tmp_path / 's.db'}"
    inside, release = threading.Event(), threading.Event()

    def block(op: str) -> None:
        if op == "create_key" and threading.current_thread().name == "issuer":
            inside.set()
            assert release.wait(60)

    with fake_engine(url=url, cloud=cloud, clock=clock) as issuer:
        m = issuer.enable("fake", "fake")
        m.write_role("app", policies=["p"])
        cloud.on_call(block)
        result: list[object] = []
        t = threading.Thread(target=lambda: result.append(m.issue("app")), name="issuer")
        t.start()
        assert inside.wait(60)
        with fake_engine(url=url, cloud=cloud, clock=clock) as other:
            for _ in range(4):  # two claim TTLs pass while the issuer's heartbeat beats
                clock.advance(issuer.claim_ttl / 2)
                assert issuer.core.heartbeat.beat() == 1
                assert other.expire_due() == 0
            with fake_engine(url=url, cloud=cloud, clock=clock):  # open() recovers nothing
                pass
            [pending] = other.leases(state=LeaseState.PENDING)
            release.set()
            t.join(60)
            [lease] = result
            assert isinstance(lease, Lease) and lease.lease_id == pending.lease_id
            assert other.lookup(pending.lease_id).state == LeaseState.ACTIVE
            assert len(cloud.users) == 1


def test_pending_lease_of_a_dead_issuer_is_recovered_within_the_claim_ttl(
    fake_mount: Mount,
    fake_cloud: FakeCloud,
    dynsecrets_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = fake_mount.engine
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)  # dead: no rollback

    def die(op: str) -> None:
        if op == "create_key":
            raise Crash

    fake_cloud.on_call(die)
    with pytest.raises(Crash):
        fake_mount.issue("app")
    fake_cloud._on_call.clear()
    [pending] = engine.leases(state=LeaseState.PENDING)
    assert len(fake_cloud.users) == 1
    dynsecrets_clock.advance(engine.claim_ttl - 1)
    assert engine.expire_due() == 0
    dynsecrets_clock.advance(2)
    assert engine.expire_due() == 1
    assert fake_cloud.users == {} and engine.leases() == []
    assert pending.state == LeaseState.PENDING


@pytest.mark.slow
def test_sigkill_during_drain_repeats_only_what_was_in_flight(tmp_path: Path) -> None:
    """200 due leases; a worker process (concurrency 4) SIGKILLed at a random point of
    its drain, restarted, 5 times; then one run to the end. Each kill may repeat at
    most the 4 revocations in flight; events and audit entries are never repeated."""
    log = tmp_path / "revocations.log"
    audit = tmp_path / "audit.jsonl"
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    clock = ManualClock(time.time() - 3600)  # issued an hour ago: all due now
    with Engine.open(url, registry=registry(), clock=clock) as engine:
        m = engine.enable("rec", "recording")
        m.write_role("r")
        issued = {m.issue("r", ttl="1m").lease_id for _ in range(200)}
    env = {
        **os.environ,
        "DYNSECRETS_TEST_REVOKE_LOG": str(log),
        "DYNSECRETS_TEST_PROGRESS": "1",
        "DYNSECRETS_TEST_AUDIT": str(audit),
        "CLAIM_TTL": "1",  # real seconds: the next process takes over the dead one's claims
        "PYTHONPATH": str(ROOT),
    }
    rng = random.Random(20261130)
    kills = 5
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests._recording", url, "1", "120"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        wanted, seen = rng.randint(5, 25), 0
        while seen < wanted:  # kill after the child reports how far it got
            line = child.stdout.readline()
            assert line, "the worker ended before it was killed"
            seen += line.startswith("revoked ")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    last = subprocess.run(
        [sys.executable, "-m", "tests._recording", url, "1", "120"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert last.returncode == 0, last.stderr[-2000:]

    revoked = Counter(line.split()[1] for line in log.read_text().splitlines())
    assert set(revoked) == issued
    repeats = sum(n - 1 for n in revoked.values())
    print(f"\n{repeats} repeated cloud deletes over {kills} kills")
    assert repeats <= kills * 4
    entries = [json.loads(x) for x in audit.read_text().splitlines()]
    expired = Counter(e["lease_id"] for e in entries if e["operation"] == "lease.expire")
    assert set(expired.values()) == {1}, "an expire event was written twice"
    # Only a kill between a lease's deletion and its event can lose the event: at
    # most the revocations in flight (4) per kill; none is ever written twice.
    assert len(issued - set(expired)) <= kills * 4
    with Engine.open(url, registry=registry()) as engine:
        assert engine.leases() == []


def test_group_commit_shares_commits_and_survives_a_failed_one(
    fake_mount: Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dynsecrets.errors import StoreError
    from dynsecrets.lifecycle.revocation import GroupCommit

    engine = fake_mount.engine
    ids = [fake_mount.issue("app").lease_id for _ in range(40)]
    commits = GroupCommit(engine.core)
    store = engine.store
    real_one, real_many = store.delete_lease, store.delete_leases
    calls: list[int] = []
    gate = threading.Barrier(8)

    def one(lease_id: str) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("the store blinked")
        return real_one(lease_id)

    def many(lease_ids: list[str]) -> int:
        calls.append(len(lease_ids))
        return real_many(lease_ids)

    monkeypatch.setattr(store, "delete_lease", one)
    monkeypatch.setattr(store, "delete_leases", many)
    failed: list[str] = []

    def work(chunk: list[str]) -> None:
        gate.wait()
        for lease_id in chunk:
            try:
                commits.delete(lease_id)
            except StoreError:
                failed.append(lease_id)

    threads = [threading.Thread(target=work, args=(ids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    left = {x.lease_id for x in engine.leases()}
    assert left == set(failed) and len(failed) <= 1  # only the failed leader's own row stays
    assert sum(calls) >= len(ids) - len(failed)
