"""The fake provider passes the same contract plugin authors run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dynsecrets import Engine, Lease, Mount
from dynsecrets.testing import CloudCheck, FakeCloud, ProviderContract


class FakeCloudCheck(CloudCheck):
    def __init__(self, cloud: FakeCloud) -> None:
        self.cloud = cloud

    def exists(self, mount: Mount, lease: Lease) -> bool:
        return lease.data["user"] in self.cloud.users

    def secret_count(self, mount: Mount, lease: Lease) -> int:
        return len(self.cloud.users[lease.data["user"]].keys)


class TestFakeProvider(ProviderContract):
    @pytest.fixture
    def mount(self, dynsecrets_engine: Engine) -> Mount:
        m = dynsecrets_engine.enable("fake", "fake")
        m.configure(account="contract")
        return m

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        return {"policies": ["read", "write"]}

    @pytest.fixture
    def broken_config(self) -> dict[str, Any]:
        return {"api_key": "not-the-root-key"}

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"api_key": "not-the-root-key"}

    @pytest.fixture
    def cloud(self, fake_cloud: FakeCloud) -> CloudCheck:
        return FakeCloudCheck(fake_cloud)

    @pytest.fixture
    def lose_reply(self, fake_cloud: FakeCloud) -> Callable[[Mount], AbstractContextManager[None]]:
        @contextmanager
        def lose(mount: Mount) -> Iterator[None]:
            fake_cloud.lose_reply("create_key")
            yield

        return lose


class TestFakeTokens(ProviderContract):
    """Unrenewable, unrevocable credentials (like AWS STS) pass the contract too."""

    @pytest.fixture
    def mount(self, dynsecrets_engine: Engine) -> Mount:
        m = dynsecrets_engine.enable("fake", "fake")
        m.configure()
        return m

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        return {"credential_type": "token"}

    @pytest.fixture
    def broken_config(self) -> dict[str, Any]:
        return {"api_key": "not-the-root-key"}

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"api_key": "not-the-root-key"}
