"""The adaptive limiter: AIMD on slots and pace, against a fake cloud that throttles
on the injected clock (so every figure here is virtual time, not machine speed)."""

from __future__ import annotations

import pytest

from dynsecrets import ManualClock
from dynsecrets.errors import TransientProviderError
from dynsecrets.lifecycle.limiter import Limiter
from dynsecrets.retry import RetryPolicy, gated
from dynsecrets.testing import FakeCloud, fake_engine


def test_throttle_cuts_once_per_epoch_and_success_adds_back() -> None:
    clock = ManualClock(1000.0)
    lim = Limiter(clock, initial=8)
    for _ in range(10):
        lim.succeeded(lim.reserve()[1])
    _, epoch = lim.reserve()
    lim.failed(epoch, throttled=True)
    assert lim.limit == pytest.approx(4.0, abs=0.7)
    assert lim.rate == pytest.approx(0.9 * 10 / 0.1)  # 10 successes within 0.1 s
    before = (lim.limit, lim.rate)
    lim.failed(epoch, throttled=True)  # granted before the cut: already answered
    assert (lim.limit, lim.rate) == before
    wait, _ = lim.reserve()
    assert wait > 0  # paced now
    lim.succeeded(lim.reserve()[1])
    assert lim.limit > before[0] and lim.rate is not None and lim.rate > before[1]


def test_a_fault_cuts_slots_but_sets_no_pace() -> None:
    lim = Limiter(ManualClock(), initial=8)
    lim.failed(lim.reserve()[1], throttled=False)
    assert lim.limit == 4 and lim.rate is None


def test_slots_are_reentrant_and_bounded() -> None:
    lim = Limiter(ManualClock(), initial=2, maximum=2)
    with lim.slot(), lim.slot():  # nested in the same operation: no second slot
        assert lim.in_flight == 1
    assert lim.in_flight == 0


def test_retry_paces_throttled_calls_through_the_gate() -> None:
    clock = ManualClock(1000.0)
    lim = Limiter(clock)
    policy = RetryPolicy(clock=clock)
    outcomes = iter([True, True, False])

    def call() -> str:
        if next(outcomes):
            raise TransientProviderError("slow down", code="Throttling", throttled=True)
        return "ok"

    start = clock.now()
    with gated(lim):
        assert policy.call(call) == "ok"
    # Each retry waited for its turn at the lowered pace, not an exponential backoff.
    assert lim.throttles == 2
    assert lim.rate == pytest.approx(1.0 + 0.05 + 1.0)  # the floor, then one success
    assert clock.now() - start == pytest.approx(2.0)


@pytest.mark.parametrize("rate", [20, 100])
@pytest.mark.parametrize("how", ["worker", "revoke_prefix"])
def test_bulk_revocation_runs_close_to_the_clouds_rate(rate: int, how: str) -> None:
    clock = ManualClock(1_700_000_000.0)
    cloud = FakeCloud(clock=clock)
    engine = fake_engine(clock=clock, cloud=cloud, retry=RetryPolicy(clock=clock))
    mount = engine.enable("fake", "fake", default_ttl="1h")
    mount.write_role("app", policies=["read"])
    n = 300
    for _ in range(n):
        mount.issue("app")
    clock.advance(7200)  # all due
    cloud.rate_limit(rate)
    cloud.admitted = cloud.throttled = 0
    start = clock.now()
    if how == "worker":
        revoked = engine.expire_due(concurrency=1)
        assert revoked == n
    else:
        summary = engine.revoke_prefix("fake/", concurrency=1)
        assert summary.revoked == n and not summary.failed
    elapsed = clock.now() - start
    assert engine.store.list_leases() == []  # none failed, none irrevocable
    achieved = cloud.admitted / elapsed
    print(f"{how} R={rate}: {achieved:.1f}/s, {cloud.throttled} throttled")
    assert achieved >= 0.9 * rate, (achieved, cloud.throttled, engine.core.limiter("fake"))
    assert cloud.throttled < 0.1 * cloud.admitted  # it paced, rather than hammered
    engine.close()


def test_operations_without_paced_calls_still_grow_the_limit() -> None:
    lim = Limiter(ManualClock(), initial=2, maximum=4)
    for _ in range(10):
        with lim.slot():
            pass  # a provider that makes no call through the retry policy
    assert lim.limit == 4
