"""The root credential against the fake identity platform over TLS: the default chain
(azure-identity's environment credential through the provider's public config), and
token refusals told apart by the reply's OAuth ``error`` and AADSTS ``error_codes``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import PermanentProviderError, ProviderError, TransientProviderError
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    READER,
    assert_nothing_left,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    dynsecrets_apps,
    roles_json,
    sub_scope,
)

__all__ = ["azure", "azure_clock", "azure_engine", "azure_entry_point"]

#: Variables that would steer the chain elsewhere (workload or managed identity, a
#: credential selection) on a machine that happens to have them.
_OTHER_CHAIN_VARS = (
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_AUTHORITY_HOST",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
)


def _mount(engine: Engine, azure: AzureFakes, path: str, **change: Any) -> Mount:
    """A mount on the fakes with a fresh provider (no token cached yet)."""
    mount = engine.enable(path, "azure")
    config = {k: v for k, v in {**azure.config(), **change}.items() if v is not None}
    mount.configure(**config)
    mount.write_role("r", azure_roles=roles_json({"role_id": READER, "scope": sub_scope(azure)}))
    return mount


@pytest.fixture
def env_root(azure: AzureFakes, monkeypatch: pytest.MonkeyPatch) -> str:
    """The root application in the environment, as EnvironmentCredential reads it."""
    for name in _OTHER_CHAIN_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CLIENT_ID", azure.root["app"]["appId"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", azure.root["client_secret"])
    monkeypatch.setenv("AZURE_TENANT_ID", azure.directory.tenant_id)
    return str(azure.root["app"]["appId"])


def test_default_chain_uses_the_environment_authority_and_ca(
    azure_engine: Engine, azure: AzureFakes, env_root: str
) -> None:
    mount = _mount(azure_engine, azure, "az", client_id=None, client_secret=None)
    assert mount.root_config()["client_secret"] is None
    azure.faults.calls.clear()
    lease = mount.issue("r")
    # The token came from the fake authority (configured, over TLS with ca_bundle),
    # for the root application named in the environment.
    assert azure.faults.calls[:2] == ["OpenIdConfiguration", "Token"]
    holders = {app for app, audience, _ in azure.directory.tokens.values()}
    assert env_root in holders
    assert len(dynsecrets_apps(azure)) == 1
    azure_engine.revoke(lease.lease_id)
    assert_nothing_left(azure)


def test_default_chain_without_the_ca_refuses_the_fake_certificate(
    azure_engine: Engine, azure: AzureFakes, env_root: str
) -> None:
    """Nothing in the chain's path turns verification off: without ``ca_bundle`` the
    throwaway CA is not trusted and no token is requested."""
    mount = _mount(azure_engine, azure, "az", client_id=None, client_secret=None, ca_bundle=None)
    azure.faults.calls.clear()
    with pytest.raises(ProviderError) as info:
        mount.issue("r")
    # DefaultAzureCredential reports its chain's failures as text only.
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.__cause__)
    assert "Token" not in azure.faults.calls
    assert dynsecrets_apps(azure) == [] and azure_engine.leases() == []


@pytest.mark.parametrize(
    ("change", "code", "aadsts"),
    [
        ({"client_id": str(uuid.uuid4())}, "ClientNotFound", "700016"),
        ({"tenant_id": str(uuid.uuid4())}, "TenantNotFound", "90002"),
    ],
)
def test_unknown_client_or_tenant_is_permanent_and_says_what_to_fix(
    azure_engine: Engine, azure: AzureFakes, change: dict[str, str], code: str, aadsts: str
) -> None:
    mount = _mount(azure_engine, azure, "az", **change)
    azure.faults.calls.clear()
    with pytest.raises(PermanentProviderError) as info:
        mount.issue("r")
    assert info.value.code == code
    field = next(iter(change))
    assert field in str(info.value) and aadsts in str(info.value)
    # Refused at once: one try, nothing created, no lease.
    asked = "OpenIdConfiguration" if field == "tenant_id" else "Token"
    assert azure.faults.calls.count(asked) == 1
    assert dynsecrets_apps(azure) == [] and azure_engine.leases() == []


def test_wrong_secret_is_retried_until_the_deadline_then_explained(
    azure_engine: Engine, azure: AzureFakes
) -> None:
    mount = _mount(azure_engine, azure, "az", client_secret="not-the-secret")
    azure.faults.calls.clear()
    with pytest.raises(TransientProviderError) as info:
        mount.issue("r")
    assert info.value.code == "InvalidClientSecret"
    assert "client_secret" in str(info.value) and "not-the-secret" not in str(info.value)
    assert azure.faults.calls.count("Token") > 1  # retried, as a new secret may need
    assert dynsecrets_apps(azure) == [] and azure_engine.leases() == []


def test_a_new_secret_not_yet_accepted_succeeds_within_the_deadline(
    azure_engine: Engine, azure: AzureFakes
) -> None:
    mount = _mount(azure_engine, azure, "az")
    azure.faults.error("Token", 401, "AADSTS7000215", times=2)
    azure.faults.calls.clear()
    lease = mount.issue("r")
    # Three tries for Graph's token, then one for ARM's (the role assignment).
    assert azure.faults.calls.count("Token") == 4
    azure_engine.revoke(lease.lease_id)
    assert_nothing_left(azure)


@pytest.mark.parametrize(
    ("status", "code", "kind", "expected"),
    [
        (401, "AADSTS7000222", PermanentProviderError, "ClientSecretExpired"),
        (400, "invalid_scope", PermanentProviderError, "invalid_scope"),
        (503, "temporarily_unavailable", TransientProviderError, "temporarily_unavailable"),
    ],
)
def test_other_refusals_follow_the_oauth_error_field(
    azure_engine: Engine,
    azure: AzureFakes,
    status: int,
    code: str,
    kind: type[ProviderError],
    expected: str,
) -> None:
    mount = _mount(azure_engine, azure, "az")
    azure.faults.error("Token", status, code, times=10_000)
    with pytest.raises(kind) as info:
        mount.issue("r")
    assert info.value.code == expected
    assert dynsecrets_apps(azure) == []
