"""SIGKILL at chosen points during AliCloud issuance: after recovery no RAM user,
policy or key made by dynsecrets remains, and every lease is accounted for."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynsecrets import Engine, LeaseState, ManualClock
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ROOT, ali, nothing_left, registry, run_env  # noqa: F401

KILLS = 12
#: Calls per lease of the role below: CreateUser, CreatePolicy, AttachPolicyToUser x2,
#: CreateAccessKey.
PER_LEASE = 5


@pytest.mark.slow
def test_sigkill_during_issuance(ali: FakeAliCloud, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Engine.open(url, registry=registry()) as setup:
        m = setup.enable("ali", "alicloud")
        m.configure(**ali.config())
        m.write_role(
            "full",
            inline_policies=OSS_POLICY,
            remote_policies="name:AliyunOSSReadOnlyAccess,type:System",
        )
    rng = random.Random(20261130)
    env = run_env(tmp_path)
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests._alicloud_issue_forever", url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # Kill once the fake has answered 1..2 leases' worth of this child's calls:
        # every point in the issue sequence is reached across the runs.
        target = len(ali.faults.calls) + rng.randint(1, 2 * PER_LEASE)
        assert ali.faults.wait_for_calls(target, timeout=60), "the child made no progress"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

    with Engine.open(url, recover=False, registry=registry()) as engine:
        leases = {x.lease_id: x for x in engine.leases()}
        marked = {u.display_name for n, u in ali.account.users.items() if n != "dynsecrets-root"}
        # Write-ahead: every user in RAM was recorded before it was created.
        assert all(f"ali/{d.replace('@', '/')}" in leases for d in marked), "a user without a lease"
        pending = [x for x in leases.values() if x.state == LeaseState.PENDING]
        active = [x for x in leases.values() if x.state == LeaseState.ACTIVE]
        assert len(pending) <= KILLS and len(active) + len(pending) == len(leases)
    later = ManualClock(time.time() + 31)  # past the dead issuers' claim TTL (30 s)
    with Engine.open(url, clock=later, registry=registry()) as engine:  # recovers pending
        assert engine.leases(state=LeaseState.PENDING) == []
        assert len(engine.leases()) == len(active)
        assert engine.revoke_prefix("ali/").revoked == len(active)
    assert nothing_left(ali)
