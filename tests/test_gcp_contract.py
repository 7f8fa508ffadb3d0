"""The GCP provider passes the contract plugin authors run, against FakeGoogle
over TLS with the real google-cloud-iam and google-auth."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dynsecrets import Lease, Mount
from dynsecrets.testing import CloudCheck, ProviderContract
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET


class GoogleCheck(CloudCheck):
    """Looks at the fake's state directly, not through the provider."""

    def __init__(self, google: FakeGoogle) -> None:
        self.google = google

    def _key(self, lease: Lease) -> dict[str, Any] | None:
        info = lease.google_credentials_info()
        return self.google.state.keys.get(info["private_key_id"])

    def exists(self, mount: Mount, lease: Lease) -> bool:
        return self._key(lease) is not None

    def secret_count(self, mount: Mount, lease: Lease) -> int:
        email = lease.data["service_account_email"]
        return sum(1 for k in self.google.state.keys.values() if k["email"] == email)

    def role_objects(self, mount: Mount, plan: Mapping[str, Any]) -> int:
        st = self.google.state
        emails = [i["email"] for i in plan.get("create", [])] + list(plan.get("delete", []))
        count = sum(1 for e in emails if e in st.accounts)
        for resource in st.policies:
            for members in st.members(resource).values():
                count += sum(1 for e in emails if f"serviceAccount:{e}" in members)
        return count


class TestGCPRolesetKeys(ProviderContract):
    @pytest.fixture
    def mount(self, gcp_mount: Mount) -> Mount:
        return gcp_mount

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        return dict(KEY_ROLESET)

    @pytest.fixture
    def broken_config(self, google: FakeGoogle) -> dict[str, Any]:
        import socket

        with socket.socket() as s:  # a loopback port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = google.config()
        config["endpoints"] = {**config["endpoints"], "iam": f"127.0.0.1:{port}"}
        return config

    @pytest.fixture
    def bad_credentials(self, google: FakeGoogle) -> dict[str, Any]:
        config = google.config()
        email = "dynsecrets-root@fake-project.iam.gserviceaccount.com"
        # A key Google deleted: the token endpoint refuses it (invalid_grant).
        text = google.key_json(email)
        import json

        google.state.keys.pop(json.loads(text)["private_key_id"])
        return {**config, "credentials": text}

    @pytest.fixture
    def cloud(self, google: FakeGoogle) -> CloudCheck:
        return GoogleCheck(google)

    @pytest.fixture
    def lose_reply(self, google: FakeGoogle) -> Callable[[Mount], AbstractContextManager[None]]:
        @contextmanager
        def lose(mount: Mount) -> Iterator[None]:
            google.faults.lose_reply("CreateServiceAccountKey")
            yield

        return lose
