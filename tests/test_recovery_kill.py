"""SIGKILL at random points during issuance, 30 times, against a moto server: after
recovery no IAM user made by dynsecrets remains and every lease is accounted for."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock
from dynsecrets.testing.aws import MotoServer

from ._kill import kill_after_calls
from .conftest import EC2_POLICY

ROOT = Path(__file__).resolve().parent.parent
KILLS = 30


def _users(iam: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for page in iam.get_paginator("list_users").paginate():
        for u in page["Users"]:
            tags = {
                t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=u["UserName"])["Tags"]
            }
            out[u["UserName"]] = tags.get("dynsecrets:lease-id")
    return out


@pytest.mark.slow
def test_sigkill_during_issuance(moto_server: MotoServer, iam: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Engine.open(url) as setup:
        m = setup.enable("aws", "aws")
        m.configure(**moto_server.config())
        m.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    rng = random.Random(20261124)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(KILLS):
        # Kill after the child reports how far it got: 1-6 IAM calls of its issuance
        # (CreateUser, PutUserPolicy, CreateAccessKey, then the next lease's ...).
        kill_after_calls("tests._issue_forever", [url], env, rng.randint(1, 6))

    users = _users(iam)
    with Engine.open(url, recover=False) as engine:
        leases = {x.lease_id: x for x in engine.leases()}
        # Write-ahead: every user in AWS was recorded before it was created.
        assert users and all(lid in leases for lid in users.values()), "a user without a lease"
        pending = [x for x in leases.values() if x.state == LeaseState.PENDING]
        active = [x for x in leases.values() if x.state == LeaseState.ACTIVE]
        assert len(pending) <= KILLS and len(active) + len(pending) == len(leases)
        # Every active lease has its user; pending ones may or may not have got that far.
        assert {x.lease_id for x in active} <= set(users.values())
        print(
            f"\n{len(active)} active, {len(pending)} pending, {sum(1 for p in pending if p.lease_id in users.values())} pending with a user"
        )

        deadlines = [r.claim_deadline for r in engine.store.list_leases(state=LeaseState.PENDING)]
        assert all(d is not None for d in deadlines)
    known = [d for d in deadlines if d is not None] or [time.time()]
    # Just before the first dead issuer's claim lapses, nothing is recovered...
    with Engine.open(url, clock=ManualClock(min(known) - 1)) as engine:
        assert len(engine.leases(state=LeaseState.PENDING)) == len(pending)
    later = ManualClock(max(known) + 1)  # ...and once the last has lapsed, everything
    with Engine.open(url, clock=later) as engine:  # open() recovers the pending leases
        assert engine.leases(state=LeaseState.PENDING) == []
        assert len(engine.leases()) == len(active)
        assert engine.revoke_prefix("aws/").revoked == len(active)
        assert engine.leases() == []
    assert _users(iam) == {}
