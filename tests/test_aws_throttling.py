"""AWS throttling: the provider marks it, and the ThrottlingFront produces it."""

from __future__ import annotations

import pytest

from dynsecrets import Engine, ManualClock
from dynsecrets.errors import TransientProviderError
from dynsecrets.providers.aws.errors import aws_errors
from dynsecrets.retry import RetryPolicy
from dynsecrets.testing.aws import MotoServer, ThrottlingFront

from .conftest import EC2_POLICY


@pytest.mark.parametrize(
    ("code", "status", "throttled"),
    [
        ("Throttling", 400, True),
        ("SlowDown", 503, True),
        ("ServiceUnavailable", 503, False),
        ("InternalError", 500, False),
        ("Whatever", 429, True),
    ],
)
def test_throttling_is_marked(code: str, status: int, throttled: bool) -> None:
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DeleteUser",
    )
    with pytest.raises(TransientProviderError) as info, aws_errors("DeleteUser"):
        raise error
    assert info.value.throttled is throttled


def test_front_answers_throttling_above_its_rate(moto_server: MotoServer) -> None:
    # One token and (practically) no refill: the first call passes, the second cannot.
    with ThrottlingFront(moto_server.url, rate=0.001, burst=1) as front:
        iam = MotoServer(front.host, front.port).client("iam")
        iam.create_user(UserName="front-1")
        with pytest.raises(TransientProviderError) as info, aws_errors("CreateUser"):
            iam.create_user(UserName="front-2")
        assert info.value.code == "Throttling" and info.value.throttled
        stats = front.stats()  # (boto3 retried the throttled call on its own)
        assert stats["admitted"] == 1 and stats["throttled"] >= 1


def test_engine_revokes_everything_through_a_throttling_front(moto_server: MotoServer) -> None:
    clock = ManualClock()
    # A short budget: each throttled call gives up after a few paced retries.
    with Engine.open("memory://", clock=clock, retry=RetryPolicy(budget=3)) as engine:
        mount = engine.enable("aws", "aws")
        mount.configure(**moto_server.config())
        mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
        for _ in range(6):
            mount.issue("ec2")
        with ThrottlingFront(moto_server.url, rate=0.001, burst=3) as front:
            mount.configure(**front.config())
            # The bucket holds the 3 calls of one revocation and never refills: the
            # others are throttled until their deadline, paced (virtual time), and
            # stay in the store for the worker, as any failed revocation does.
            summary = engine.revoke_prefix("aws/", concurrency=1)
            assert summary.revoked == 1 and len(summary.failed) == 5
            assert front.stats()["admitted"] == 3
        assert len(engine.store.list_leases(prefix="aws/", state="revoking")) == 5
        assert engine.core.limiter("aws").rate == 1.0  # cut to the floor
