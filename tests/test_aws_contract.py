"""The AWS provider passes the contract plugin authors run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dynsecrets import Lease, Mount
from dynsecrets.testing import CloudCheck, ProviderContract
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY


class IAMCheck(CloudCheck):
    """Looks at IAM through the test's own boto3 client, not the provider's."""

    def __init__(self, iam: Any) -> None:
        self.iam = iam

    def _keys(self) -> dict[str, list[str]]:
        return {
            u["UserName"]: [
                k["AccessKeyId"]
                for k in self.iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
            ]
            for p in self.iam.get_paginator("list_users").paginate()
            for u in p["Users"]
        }

    def exists(self, mount: Mount, lease: Lease) -> bool:
        return any(lease.data["access_key"] in keys for keys in self._keys().values())

    def secret_count(self, mount: Mount, lease: Lease) -> int:
        for keys in self._keys().values():
            if lease.data["access_key"] in keys:
                return len(keys)
        return 0


class TestAWSIAMUser(ProviderContract):
    @pytest.fixture
    def mount(self, aws_mount: Mount, iam: Any, moto_server: MotoServer) -> Mount:
        # Root credentials of a real (moto) IAM user, so rotate_root has a user to rotate.
        iam.create_user(UserName="dynsecrets-root")
        key = iam.create_access_key(UserName="dynsecrets-root")["AccessKey"]
        aws_mount.configure(
            **{
                **moto_server.config("us-west-2"),
                "access_key": key["AccessKeyId"],
                "secret_key": key["SecretAccessKey"],
            }
        )
        return aws_mount

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        return {"credential_type": "iam_user", "policy_document": EC2_POLICY}

    @pytest.fixture
    def broken_config(self, moto_server: MotoServer) -> dict[str, Any]:
        import socket

        with socket.socket() as s:  # a loopback port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return {
            **moto_server.config(),
            "iam_endpoint": f"http://127.0.0.1:{port}",
            "max_retries": 0,
        }

    @pytest.fixture
    def cloud(self, iam: Any) -> CloudCheck:
        return IAMCheck(iam)

    @pytest.fixture
    def lose_reply(self, aws_faults: AWSFaults) -> Callable[[Mount], AbstractContextManager[None]]:
        @contextmanager
        def lose(mount: Mount) -> Iterator[None]:
            aws_faults.lose_reply("CreateAccessKey")
            yield

        return lose
