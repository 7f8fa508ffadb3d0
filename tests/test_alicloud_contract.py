"""The AliCloud provider passes the contract plugin authors run, for both role kinds,
against the TLS fake of RAM and STS through the real V2.0 SDK."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dynsecrets import Lease, Mount
from dynsecrets.testing import CloudCheck, ProviderContract
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ali, ali_clock, ali_engine, ali_mount  # noqa: F401


class RAMCheck(CloudCheck):
    """Looks at the fake account itself, not through the provider."""

    def __init__(self, fake: FakeAliCloud) -> None:
        self.fake = fake

    def _owner(self, lease: Lease) -> str | None:
        key = self.fake.account.keys.get(lease.data["access_key"])
        return key.user if key else None

    def exists(self, mount: Mount, lease: Lease) -> bool:
        return self._owner(lease) is not None

    def secret_count(self, mount: Mount, lease: Lease) -> int:
        owner = self._owner(lease)
        return len(self.fake.account.users[owner].keys) if owner else 0


def _dead_endpoint() -> str:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class TestAliCloudRAMUser(ProviderContract):
    @pytest.fixture
    def mount(self, ali_mount: Mount) -> Mount:
        return ali_mount

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        return {
            "inline_policies": OSS_POLICY,
            "remote_policies": "name:AliyunOSSReadOnlyAccess,type:System",
        }

    @pytest.fixture
    def broken_config(self, ali: FakeAliCloud) -> dict[str, Any]:
        return {**ali.config(), "ram_endpoint": _dead_endpoint()}

    @pytest.fixture
    def bad_credentials(self, ali: FakeAliCloud) -> dict[str, Any]:
        return {**ali.config(), "secret_key": "not-the-secret-of-this-key"}

    @pytest.fixture
    def cloud(self, ali: FakeAliCloud) -> CloudCheck:
        return RAMCheck(ali)

    @pytest.fixture
    def lose_reply(self, ali: FakeAliCloud) -> Callable[[Mount], AbstractContextManager[None]]:
        @contextmanager
        def lose(mount: Mount) -> Iterator[None]:
            ali.faults.lose_reply("CreateAccessKey")
            yield

        return lose


class TestAliCloudSTS(ProviderContract):
    @pytest.fixture
    def mount(self, ali_mount: Mount) -> Mount:
        return ali_mount

    @pytest.fixture
    def role_fields(self, ali: FakeAliCloud) -> dict[str, Any]:
        return {"role_arn": ali.account.add_role("contract", max_session=43200)}

    @pytest.fixture
    def broken_config(self, ali: FakeAliCloud) -> dict[str, Any]:
        return {**ali.config(), "sts_endpoint": _dead_endpoint()}

    @pytest.fixture
    def bad_credentials(self, ali: FakeAliCloud) -> dict[str, Any]:
        return {**ali.config(), "access_key": "LTAIunknownkey000000"}
