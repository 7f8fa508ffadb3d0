"""Shared fixtures. The dynsecrets pytest plugin (dynsecrets_engine, fake_mount,
fake_cloud, dynsecrets_clock, moto_server) is loaded through its pytest11 entry point."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .gcp_fixtures import gcp_clock, gcp_engine, gcp_mount, google  # noqa: F401

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


# -- PostgreSQL -------------------------------------------------------------------------------
PG_URL = os.environ.get("DYNSECRETS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server's URL. Skips without one, except under CI=true, where a
    missing server is a failure (.ci/run starts it)."""
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:
        reason = (
            f"no PostgreSQL at {PG_URL} ({type(exc).__name__}); set DYNSECRETS_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true the PostgreSQL tests must run: {reason}")
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL with a schema of this test's own, dropped afterwards: runs never interfere."""
    from dynsecrets.store.postgres import PostgresStore

    schema = f"dynsecrets_test_{uuid.uuid4().hex[:12]}"
    url = f"{pg_server}?schema={schema}"
    yield url
    store = PostgresStore(url)
    store.drop_schema()
    store.close()
