"""The AWS provider passes the contract plugin authors run."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Lease, Mount
from dynsecrets.testing import ProviderContract
from dynsecrets.testing.aws import MotoServer

from .conftest import EC2_POLICY


class TestAWSIAMUser(ProviderContract):
    @pytest.fixture
    def mount(self, aws_mount: Mount) -> Mount:
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

    def credential_exists(self, mount: Mount, lease: Lease) -> bool:
        iam = mount.provider.clients.get(
            "iam",
            mount.engine._config(  # type: ignore[attr-defined]
                mount.engine._mount_record(mount.path), mount.provider
            ),
        )
        keys = [
            k["AccessKeyId"]
            for p in iam.get_paginator("list_users").paginate()
            for u in p["Users"]
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        ]
        return lease.data["access_key"] in keys
