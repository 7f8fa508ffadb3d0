"""Issue 17 with hvac's Azure helpers: `serve` in a subprocess over the Azure TLS
fakes, as an existing Vault client would drive Vault's Azure engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from dynsecrets.testing.azure import AzureFakes

from ._azure import READER, azure, azure_clock, dynsecrets_apps, sub_scope
from ._serve import Server, new_token, serving

pytestmark = pytest.mark.slow
__all__ = ["azure", "azure_clock"]  # fixtures this module uses by name


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "store.db") as s:
        yield s


def test_hvac_azure_helpers(server: Server, azure: AzureFakes) -> None:
    c = hvac.Client(url=server.url, token=new_token(server.store, "root"), timeout=60)
    c.sys.enable_secrets_engine(backend_type="azure", path="azure-prod")
    config = azure.config()
    # hvac's configure() knows Vault's four fields; the endpoint overrides and the CA of
    # a private cloud go through the same path as plain fields, as `vault write` does.
    c.write("azure-prod/config", **config)
    c.secrets.azure.configure(
        subscription_id=config["subscription_id"],
        tenant_id=config["tenant_id"],
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        mount_point="azure-prod",
    )
    read = c.secrets.azure.read_config(mount_point="azure-prod")
    assert read["client_id"] == config["client_id"] and "client_secret" not in read
    c.secrets.azure.create_or_update_role(
        "app",
        [{"role_id": READER, "scope": sub_scope(azure)}],
        ttl="1h",
        mount_point="azure-prod",
    )
    assert c.secrets.azure.list_roles(mount_point="azure-prod")["keys"] == ["app"]
    creds = c.secrets.azure.generate_credentials("app", mount_point="azure-prod")
    assert {"client_id", "client_secret"} <= set(creds)
    (app,) = dynsecrets_apps(azure)
    assert app["appId"] == creds["client_id"]
    c.sys.revoke_prefix("azure-prod/creds/app")
    assert dynsecrets_apps(azure) == [] and azure.directory.role_assignments == {}
