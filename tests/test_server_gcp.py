"""Issue 17 with hvac's GCP helpers: `serve` in a subprocess over the Google TLS
fakes, as an existing Vault client drives Vault's GCP engine."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from dynsecrets.testing.gcp import FakeGoogle

from ._serve import Server, new_token, serving
from .gcp_fixtures import BINDINGS_HCL, PROJECT, SCOPE

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "store.db") as s:
        yield s


def test_hvac_gcp_helpers(server: Server, google: FakeGoogle) -> None:
    c = hvac.Client(url=server.url, token=new_token(server.store, "root"), timeout=60)
    c.sys.enable_secrets_engine(backend_type="gcp", path="gcp")
    config = google.config()
    # hvac's configure() sends Vault's fields; the fakes' endpoints and CA go as plain
    # fields first, and the later write keeps them (a config write merges, as Vault's).
    c.write("gcp/config", **config)
    c.secrets.gcp.configure(credentials=config["credentials"], mount_point="gcp")
    assert "credentials" not in c.secrets.gcp.read_config(mount_point="gcp")["data"]

    c.secrets.gcp.create_or_update_roleset(
        "keys", PROJECT, BINDINGS_HCL, secret_type="service_account_key", mount_point="gcp"
    )
    c.secrets.gcp.create_or_update_roleset(
        "tokens",
        PROJECT,
        BINDINGS_HCL,
        secret_type="access_token",
        token_scopes=[SCOPE],
        mount_point="gcp",
    )
    assert c.secrets.gcp.list_rolesets(mount_point="gcp")["data"]["keys"] == ["keys", "tokens"]
    key = c.secrets.gcp.generate_service_account_key("keys", mount_point="gcp")
    # hvac reads the deprecated gcp/key/<roleset> path: the lease is filed under it.
    assert key["lease_id"].startswith("gcp/key/keys/") and key["renewable"]
    info = json.loads(base64.b64decode(key["data"]["private_key_data"]))
    assert info["client_email"].startswith("ds-keys-")
    assert google.state.calls["CreateServiceAccountKey"] == 1

    token = c.secrets.gcp.generate_oauth2_access_token("tokens", mount_point="gcp")
    assert token["lease_id"] == "" and token["lease_duration"] == 0  # as Vault: no lease
    assert token["data"]["token"] and token["data"]["token_ttl"] > 0

    c.sys.revoke_lease(key["lease_id"])
    assert google.state.calls["DeleteServiceAccountKey"] == 1
    c.secrets.gcp.delete_roleset("tokens", mount_point="gcp")
    assert c.secrets.gcp.list_rolesets(mount_point="gcp")["data"]["keys"] == ["keys"]
