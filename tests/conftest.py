"""Shared fixtures. The dynsecrets pytest plugin (dynsecrets_engine, fake_mount,
fake_cloud, dynsecrets_clock, moto_server) is loaded through its pytest11 entry point."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.testing.aws import AWSFaults, MotoServer

EC2_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
}
# Customer-managed policies the aws_mount fixture creates (moto loads AWS-managed ones
# only with MOTO_IAM_LOAD_MANAGED_POLICIES, at 0.7 s per reset).
READ_ONLY = "arn:aws:iam::123456789012:policy/ReadOnly"
EC2_READ_ONLY = "arn:aws:iam::123456789012:policy/EC2ReadOnly"


@pytest.fixture
def aws_clock() -> ManualClock:
    # Real time at the start (STS expiries are real), then moved only by the test.
    return ManualClock(time.time())


@pytest.fixture
def aws_engine(aws_clock: ManualClock) -> Iterator[Engine]:
    with Engine.open("memory://", clock=aws_clock) as engine:
        yield engine


@pytest.fixture
def aws_mount(aws_engine: Engine, moto_server: MotoServer) -> Mount:
    iam = moto_server.client("iam", "us-west-2")
    for arn in (READ_ONLY, EC2_READ_ONLY):
        iam.create_policy(PolicyName=arn.rsplit("/", 1)[1], PolicyDocument=json.dumps(EC2_POLICY))
    mount = aws_engine.enable("aws-us-west-2", "aws")
    mount.configure(**moto_server.config("us-west-2"))
    return mount


@pytest.fixture
def iam(moto_server: MotoServer) -> Any:
    """A separate boto3 client: the test's own view of IAM."""
    return moto_server.client("iam", "us-west-2")


@pytest.fixture
def aws_faults(aws_mount: Mount) -> AWSFaults:
    faults = AWSFaults()
    aws_mount.provider.clients.instrument(faults.attach)  # type: ignore[attr-defined]
    return faults


def iam_users(iam: Any) -> list[str]:
    return sorted(
        u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]
    )
