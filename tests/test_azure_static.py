"""Static roles on an existing application's password: the four provider calls the
engine's rotation makes, against the TLS fakes with the real azure-identity and
azure-core, and what they did checked through a separate Graph client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from dynsecrets import ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, TransientProviderError, ValidationError
from dynsecrets.lifecycle.rotation import SKEW
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.base import ProviderContext
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    Observer,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    observer,
    secret_works,
)

__all__ = [
    "azure",
    "azure_clock",
    "azure_engine",
    "azure_entry_point",
    "azure_mount",
    "observer",
]
STORE = "8d3c2b8e-0000-4000-8000-000000000001"
YEAR = 365 * 86400


@pytest.fixture
def provider(azure_clock: ManualClock) -> Iterator[AzureProvider]:
    found = AzureProvider(ProviderContext(clock=azure_clock, store_id=STORE))
    yield found
    found.close()


@pytest.fixture
def config(provider: AzureProvider, azure: AzureFakes) -> dict[str, Any]:
    return provider.validate_config(azure.config())


@pytest.fixture
def existing(azure: AzureFakes) -> dict[str, Any]:
    """An application someone made, with a password of their own."""
    app = azure.directory.add_application("payments-api")
    azure.directory.add_service_principal(app, [])
    first = azure.directory.add_password(app, "made by hand", None)
    return {"app": app, "secret": first["secretText"], "key_id": first["keyId"]}


def static_role(provider: AzureProvider, **fields: Any) -> dict[str, Any]:
    schema = provider.static_role_schema
    assert schema is not None
    return schema.validate(fields)


def test_schema_names_the_field(provider: AzureProvider) -> None:
    with pytest.raises(ValidationError) as info:
        static_role(provider)
    assert info.value.field == "application_object_id"
    with pytest.raises(ValidationError) as info:
        static_role(provider, application_object_id="payments-api")
    assert info.value.field == "application_object_id"
    assert "GUID" in str(info.value)
    role = static_role(provider, application_object_id="AAAAAAAA-0000-4000-8000-000000000000")
    assert role["application_object_id"] == "aaaaaaaa-0000-4000-8000-000000000000"
    assert role["secret_expiry"] == 2 * YEAR
    assert provider.min_rotation_period >= 60


def test_unknown_application_is_a_validation_error_and_creates_nothing(
    provider: AzureProvider, config: dict[str, Any], azure: AzureFakes
) -> None:
    role = static_role(provider, application_object_id="aaaaaaaa-0000-4000-8000-000000000000")
    for call in (provider.static_secrets, provider.static_create):
        with pytest.raises(ValidationError) as info:
            call(config, role)
        assert info.value.field == "application_object_id"
    assert "AddPassword" not in azure.faults.calls


def test_expiry_shorter_than_the_schedule_is_refused_before_any_call(
    provider: AzureProvider, config: dict[str, Any], azure: AzureFakes, existing: dict[str, Any]
) -> None:
    role = {
        **static_role(provider, application_object_id=existing["app"]["id"], secret_expiry="24h"),
        "rotation_period": 86400,
        "rotation_grace_period": 3600,
    }
    azure.faults.calls.clear()
    for call in (provider.static_secrets, provider.static_create):
        with pytest.raises(ValidationError) as info:
            call(config, role)
        assert info.value.field == "secret_expiry"
    assert azure.faults.calls == []


def test_rotation_calls(
    provider: AzureProvider,
    config: dict[str, Any],
    azure: AzureFakes,
    azure_clock: ManualClock,
    existing: dict[str, Any],
    observer: Observer,
) -> None:
    app = existing["app"]
    role = static_role(provider, application_object_id=app["id"].upper(), secret_expiry="400d")
    (before,) = provider.static_secrets(config, role)
    assert before.id == existing["key_id"]
    assert before.created_at == pytest.approx(azure_clock.now(), abs=1)

    azure_clock.advance(10.25)
    new = provider.static_create(config, role)
    assert new.data["client_id"] == app["appId"]
    assert new.data["tenant_id"] == azure.directory.tenant_id
    assert new.secret_keys == frozenset({"client_secret"})
    assert new.env["AZURE_CLIENT_SECRET"] == new.data["client_secret"]
    assert new.env["AZURE_CLIENT_ID"] == app["appId"]
    assert new.data["client_secret"] not in repr(new)
    # Graph's startDateTime has sub-second digits: the engine compares it with its intent.
    assert new.created_at == pytest.approx(azure_clock.now(), abs=0.01)

    seen = {p["keyId"]: p for p in observer.passwords(app["id"])}
    assert set(seen) == {existing["key_id"], new.id}
    assert seen[new.id]["displayName"] == f"dynsecrets static-role store={STORE}"
    assert seen[new.id]["secretText"] is None  # never served back
    end = dt.datetime.fromisoformat(seen[new.id]["endDateTime"].replace("Z", "+00:00"))
    assert end.timestamp() == pytest.approx(azure_clock.now() + 400 * 86400, abs=1)
    provider.static_check(config, role, new)
    assert secret_works(azure, app["appId"], new.data["client_secret"])
    assert secret_works(azure, app["appId"], existing["secret"])  # grace: both work
    assert {s.id for s in provider.static_secrets(config, role)} == set(seen)

    provider.static_delete(config, role, existing["key_id"])
    assert not secret_works(azure, app["appId"], existing["secret"])
    assert secret_works(azure, app["appId"], new.data["client_secret"])
    assert [p["keyId"] for p in observer.passwords(app["id"])] == [new.id]
    # Idempotent: an unknown keyId, and an application deleted since, are success.
    provider.static_delete(config, role, existing["key_id"])
    azure.directory.delete_application(app["id"])
    provider.static_delete(config, role, new.id)


def test_check_polls_until_the_secret_is_accepted(
    provider: AzureProvider, config: dict[str, Any], azure: AzureFakes, existing: dict[str, Any]
) -> None:
    role = static_role(provider, application_object_id=existing["app"]["id"])
    new = provider.static_create(config, role)
    # Entra ID refuses a new secret for a while (AADSTS7000215), then accepts it.
    azure.faults.error("Token", 401, "AADSTS7000215", times=3)
    azure.faults.calls.clear()
    provider.static_check(config, role, new)
    assert azure.faults.calls.count("Token") == 4
    azure.faults.error("Token", 401, "AADSTS7000215", times=100_000)
    with pytest.raises(TransientProviderError) as info:
        provider.static_check(config, role, new)
    assert info.value.code == "SecretNotUsable"


def test_create_is_never_retried_blindly(
    provider: AzureProvider,
    config: dict[str, Any],
    azure: AzureFakes,
    existing: dict[str, Any],
    observer: Observer,
) -> None:
    app_id = existing["app"]["id"]
    role = static_role(provider, application_object_id=app_id)
    azure.faults.lose_reply("AddPassword")
    azure.faults.calls.clear()
    with pytest.raises(TransientProviderError) as info:
        provider.static_create(config, role)
    assert not info.value.nothing_created
    # Sent once; the password it made is there for the engine to find and delete.
    assert azure.faults.calls.count("AddPassword") == 1
    listed = {s.id for s in provider.static_secrets(config, role)}
    assert len(listed) == 2 and {p["keyId"] for p in observer.passwords(app_id)} == listed
    # Refused outright: nothing was made, and the error says so.
    azure.faults.error("AddPassword", 403, "Authorization_RequestDenied")
    with pytest.raises(PermanentProviderError) as refused:
        provider.static_create(config, role)
    assert refused.value.nothing_created
    assert len(observer.passwords(app_id)) == 2


def test_lease_passwords_on_the_same_application_are_not_the_static_roles(
    azure_mount: Mount, azure: AzureFakes, existing: dict[str, Any]
) -> None:
    app_id = existing["app"]["id"]
    azure_mount.write_role("lease-on-it", application_object_id=app_id)
    lease = azure_mount.issue("lease-on-it")
    provider = azure_mount.provider
    config = azure_mount.root_config()
    role = static_role(provider, application_object_id=app_id)  # type: ignore[arg-type]
    assert [s.id for s in provider.static_secrets(config, role)] == [existing["key_id"]]
    azure_mount.engine.revoke(lease.lease_id)


def test_a_lost_create_is_reconciled_the_way_the_engine_does(
    provider: AzureProvider,
    config: dict[str, Any],
    azure: AzureFakes,
    azure_clock: ManualClock,
    existing: dict[str, Any],
    observer: Observer,
) -> None:
    """The engine's recipe (providers/static.py): store the known ids and the time
    (the intent), create; after an unclear failure, delete the one secret it does not
    know that was created after the intent, then create again."""
    app = existing["app"]
    role = static_role(provider, application_object_id=app["id"])
    known = {s.id for s in provider.static_secrets(config, role)}
    azure_clock.advance(1)
    intent = azure_clock.now()
    azure.faults.lose_reply("AddPassword")
    with pytest.raises(TransientProviderError):
        provider.static_create(config, role)
    unknown = [
        s
        for s in provider.static_secrets(config, role)
        if s.id not in known and s.created_at is not None and s.created_at >= intent - SKEW
    ]
    assert len(unknown) == 1
    provider.static_delete(config, role, unknown[0].id)
    new = provider.static_create(config, role)
    provider.static_check(config, role, new)
    assert {p["keyId"] for p in observer.passwords(app["id"])} == {existing["key_id"], new.id}
    assert secret_works(azure, app["appId"], existing["secret"])
    assert secret_works(azure, app["appId"], new.data["client_secret"])
