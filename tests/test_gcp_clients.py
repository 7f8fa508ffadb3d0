"""The provider's Google clients: the gRPC channel authenticates each call in the
calling thread (no metadata-plugin thread), so a token refresh that fails inside a
gRPC call is mapped by its own cause; one client per distinct config."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.gcp.clients import Clients, GoogleClients
from dynsecrets.providers.gcp.errors import google_errors
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import PROJECT


def _list_keys(clients: GoogleClients, email: str) -> Any:
    # Straight to the SDK, without ensure_token: the channel must authenticate alone.
    with google_errors("ListServiceAccountKeys"):
        return clients.iam.list_service_account_keys(
            request={"name": f"projects/-/serviceAccounts/{email}"}, retry=None, timeout=30
        )


@pytest.fixture
def root(google: FakeGoogle) -> tuple[dict[str, Any], str]:
    config = google.config()
    return config, f"dynsecrets-root@{PROJECT}.iam.gserviceaccount.com"


def test_a_call_fetches_its_token_and_carries_it(
    google: FakeGoogle, root: tuple[dict[str, Any], str]
) -> None:
    config, email = root
    clients = GoogleClients(config)
    try:
        before = google.state.calls["token"]
        assert len(_list_keys(clients, email).keys) == 1  # the root key itself
        assert len(_list_keys(clients, email).keys) == 1
        assert google.state.calls["token"] == before + 1  # one token, reused
        assert google.state.calls["ListServiceAccountKeys"] == 2
    finally:
        clients.close()


def test_refused_refresh_inside_a_call_is_unauthenticated(
    google: FakeGoogle, root: tuple[dict[str, Any], str]
) -> None:
    # Through google-auth's gRPC plugin this surfaced as UNAVAILABLE (retried as an
    # outage); a deleted or disabled root key is permanent.
    config, email = root
    clients = GoogleClients(config)
    try:
        google.faults.fail("token", "invalid_grant")
        with pytest.raises(PermanentProviderError) as caught:
            _list_keys(clients, email)
        assert caught.value.code == "UNAUTHENTICATED"
        assert google.state.calls["ListServiceAccountKeys"] == 0  # never sent unauthenticated
    finally:
        clients.close()


def test_one_client_per_distinct_config(
    google: FakeGoogle, root: tuple[dict[str, Any], str]
) -> None:
    config, _ = root
    cache = Clients()
    try:
        first = cache.get(config)
        # A copy of the same config (the engine hands out copies) shares the clients.
        assert cache.get(dict(config, endpoints=dict(config["endpoints"]))) is first
        other_endpoints = dict(config["endpoints"], storage="https://127.0.0.1:1")
        assert cache.get(dict(config, endpoints=other_endpoints)) is not first
        assert cache.get(dict(config, credentials=google.config()["credentials"])) is not first
    finally:
        cache.clear()
