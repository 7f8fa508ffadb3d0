"""Azure static roles through `serve` with hvac, as a Vault client drives Vault's
``static-roles``/``static-creds`` paths; the secret checked with azure-identity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from dynsecrets.testing.azure import AzureFakes

from ._azure import azure, azure_clock, secret_works
from ._serve import Server, new_token, serving

pytestmark = pytest.mark.slow
__all__ = ["azure", "azure_clock"]  # fixtures this module uses by name


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "store.db") as s:
        yield s


def test_static_role_over_http(server: Server, azure: AzureFakes) -> None:
    app = azure.directory.add_application("payments-api")
    azure.directory.add_service_principal(app, [])
    c = hvac.Client(url=server.url, token=new_token(server.store, "root"), timeout=60)
    c.sys.enable_secrets_engine(backend_type="azure", path="azure-prod")
    c.write("azure-prod/config", **azure.config())
    c.write(
        "azure-prod/static-roles/pay",
        application_object_id=app["id"],
        rotation_period="1h",
        rotation_grace_period="5m",
    )
    first = c.read("azure-prod/static-creds/pay")["data"]
    assert first["client_id"] == app["appId"]
    assert secret_works(azure, first["client_id"], first["client_secret"])
    c.write("azure-prod/static-roles/pay/rotate")
    second = c.read("azure-prod/static-creds/pay")["data"]
    assert second["client_secret"] != first["client_secret"]
    for creds in (first, second):  # the old one within its grace period
        assert secret_works(azure, creds["client_id"], creds["client_secret"])
    c.delete("azure-prod/static-roles/pay")
    assert not secret_works(azure, second["client_id"], second["client_secret"])
