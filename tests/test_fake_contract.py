"""The fake provider passes the same contract plugin authors run."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Engine, Lease, Mount
from dynsecrets.testing import FakeCloud, ProviderContract


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

    def credential_exists(self, mount: Mount, lease: Lease) -> bool:
        cloud: FakeCloud = mount.provider.cloud  # type: ignore[attr-defined]
        return lease.data["user"] in cloud.users


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
