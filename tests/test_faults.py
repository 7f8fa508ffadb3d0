"""Faults an operator meets: an unreachable or refusing endpoint (one deadline per
operation), a wrong key (a local fault, never a revocation attempt), two stores
sharing an account (tidy touches only its own), a config blob copied between stores."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.crypto import DecryptionError
from dynsecrets.errors import PermanentProviderError, RevocationFailed, TransientProviderError
from dynsecrets.testing import FakeCloud, fake_engine
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY, iam_users

KEY_A = base64.urlsafe_b64encode(b"a" * 32).decode()
KEY_B = base64.urlsafe_b64encode(b"b" * 32).decode()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_outage_costs_one_deadline_per_operation(
    aws_mount: Mount, aws_faults: AWSFaults, aws_clock: ManualClock, iam: Any
) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    engine = aws_mount.engine
    for op in ("CreateUser", "DeleteAccessKey", "ListAccessKeys", "DeleteUser", "DeleteUserPolicy"):
        aws_faults.error(op, "ServiceUnavailable", status=503, times=10_000)
    start = aws_clock.now()
    with pytest.raises(TransientProviderError):
        aws_mount.issue("ec2")
    issue_took = aws_clock.now() - start
    # Issue and its rollback each get one deadline (60 s), whatever the number of calls.
    assert issue_took <= 2 * engine.operation_timeout + 10
    start = aws_clock.now()
    with pytest.raises(RevocationFailed):
        engine.revoke(lease.lease_id)
    assert aws_clock.now() - start <= engine.operation_timeout + 10
    assert engine.lookup(lease.lease_id).attempts == 1
    aws_faults.clear()
    engine.revoke(lease.lease_id)
    aws_clock.advance(3600)  # the failed issue's rollback is finished by the worker
    engine.expire_due()
    assert iam_users(iam) == [] and engine.leases() == []


def test_connection_refused_fails_fast_and_leaves_nothing(
    aws_mount: Mount, moto_server: MotoServer, aws_clock: ManualClock
) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    config = {
        **moto_server.config("us-west-2"),
        "iam_endpoint": f"http://127.0.0.1:{_closed_port()}",
    }
    aws_mount.configure(**config)
    start = aws_clock.now()
    with pytest.raises(PermanentProviderError) as info:
        aws_mount.issue("ec2")
    assert info.value.code == "ConnectionRefused"
    assert aws_clock.now() == start  # no retry, no wait
    assert aws_mount.engine.leases() == []  # the first create never happened


def test_bad_credentials_leave_no_lease(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_faults.error("CreateUser", "InvalidClientTokenId", status=403)
    with pytest.raises(PermanentProviderError):
        aws_mount.issue("ec2")
    assert aws_mount.engine.leases() == []
    assert aws_faults.calls == ["CreateUser"]  # nothing to roll back, so nothing called


def test_a_wrong_key_is_a_local_fault(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    clock = ManualClock()
    cloud = FakeCloud(clock=clock)
    with fake_engine(url=url, cloud=cloud, clock=clock, key=KEY_A) as right:
        m = right.enable("fake", "fake")
        m.configure(account="acme")
        m.write_role("app", policies=["p"])
        lease = m.issue("app", ttl=60)
    clock.advance(61)
    with fake_engine(url=url, cloud=cloud, clock=clock, key=KEY_B) as wrong:
        with pytest.raises(DecryptionError, match="another key"):
            wrong.start_worker()
        with pytest.raises(DecryptionError):
            wrong.expire_due()
        for _ in range(8):  # more than max_attempts: still never irrevocable
            with pytest.raises(RevocationFailed, match="DecryptionError"):
                wrong.revoke(lease.lease_id)
        info = wrong.lookup(lease.lease_id)
        assert (info.state, info.attempts) == (LeaseState.ACTIVE, 0)
    clock.advance(3600)
    with fake_engine(url=url, cloud=cloud, clock=clock, key=KEY_A) as right:
        assert right.expire_due() == 1
    assert cloud.users == {}


def test_tidy_never_touches_another_stores_identities(
    moto_server: MotoServer, iam: Any, tmp_path: Path
) -> None:
    stores = []
    for name in ("one", "two"):
        engine = Engine.open(f"sqlite:///{tmp_path / name}.db", key=KEY_A)
        m = engine.enable("aws", "aws")  # the same mount path, the same account
        m.configure(**moto_server.config("us-west-2"))
        m.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
        stores.append(engine)
    one, two = stores
    live = one.mount("aws").issue("ec2")
    lost = two.mount("aws").issue("ec2")
    assert two.store.delete_lease(lost.lease_id)  # store two forgets its lease
    report = two.mount("aws").tidy(dry_run=False)
    assert len(report.deleted) == 1 and len(report.foreign) == 1
    assert report.foreign[0].lease_id == live.lease_id
    [left] = iam_users(iam)
    assert left == one.store.get_lease(live.lease_id).plan["user_name"]  # type: ignore[union-attr]
    one.revoke(live.lease_id)
    assert iam_users(iam) == []
    for engine in stores:
        engine.close()


def test_sealed_config_is_bound_to_its_store(tmp_path: Path) -> None:
    a = fake_engine(url=f"sqlite:///{tmp_path / 'a.db'}", key=KEY_A)
    b = fake_engine(url=f"sqlite:///{tmp_path / 'b.db'}", key=KEY_A)
    a.enable("m", "fake").configure(account="from-a", api_key="secret-of-a")
    b.enable("m", "fake").configure(account="from-b")
    blob = a.store.get_mount("m").config  # type: ignore[union-attr]
    b.store.update_mount("m", config=blob)  # copied by someone with write access to b
    with pytest.raises(DecryptionError, match="another key or in another store"):
        b.mount("m").read_config()
    assert a.mount("m").read_config()["account"] == "from-a"
    a.close()
    b.close()
