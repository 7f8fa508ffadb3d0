"""GCP static roles' provider hooks (an existing account's keys, rotated by the
engine) against FakeGoogle over TLS with the real SDKs; the cloud is checked
through a separate IAMClient, keys through a separate google-auth client."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dynsecrets import ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, TransientProviderError, ValidationError
from dynsecrets.providers.gcp import GCPProvider
from dynsecrets.testing.gcp import MAX_KEYS, FakeGoogle

from .gcp_fixtures import PROJECT, auditor, token_with_key, user_key_ids

ROOT = f"dynsecrets-root@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture
def app(google: FakeGoogle) -> str:
    """An existing account, made outside dynsecrets, with one key of its own."""
    email = google.service_account("billing-app")
    google.key_json(email)
    return email


def _hooks(mount: Mount) -> tuple[GCPProvider, dict[str, Any]]:
    provider = mount.provider
    assert isinstance(provider, GCPProvider)
    return provider, dict(mount.root_config())


# -- the role's one field ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("email", "why"),
    [
        ("abcde@fake-project.iam.gserviceaccount.com", "account id"),  # 5 characters
        ("a" * 31 + "@fake-project.iam.gserviceaccount.com", "account id"),
        ("1app-name@fake-project.iam.gserviceaccount.com", "account id"),
        ("app-name-@fake-project.iam.gserviceaccount.com", "account id"),
        ("App-Name@fake-project.iam.gserviceaccount.com", "account id"),
        ("app-name@proj.iam.gserviceaccount.com", "project id"),  # 4 characters
        ("app-name@Fake-Project.iam.gserviceaccount.com", "project id"),
        ("app-name@fake-project.gserviceaccount.com", "service account"),
        ("someone@example.com", "service account"),
        ("app@name@fake-project.iam.gserviceaccount.com", "service account"),
    ],
)
def test_schema_refuses_what_google_would(gcp_mount: Mount, email: str, why: str) -> None:
    schema = GCPProvider.static_role_schema
    assert schema is not None
    with pytest.raises(ValidationError) as caught:
        schema.validate({"service_account_email": email})
    assert caught.value.field == "service_account_email"
    assert why in str(caught.value)


def test_schema_accepts_the_real_limits() -> None:
    schema = GCPProvider.static_role_schema
    assert schema is not None
    for account in ("abcdef", "a" * 30, "a-1-b-2-c"):
        email = f"{account}@my-project-123.iam.gserviceaccount.com"
        assert schema.validate({"service_account_email": email}) == {"service_account_email": email}
    with pytest.raises(ValidationError) as caught:
        schema.validate({})
    assert caught.value.field == "service_account_email"
    assert GCPProvider.static_secret_limit == MAX_KEYS == 10


# -- the four hooks --------------------------------------------------------------------
def test_list_create_check_delete(gcp_mount: Mount, google: FakeGoogle, app: str) -> None:
    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    client = auditor(google)
    before = provider.static_secrets(config, role)
    assert {s.id for s in before} == user_key_ids(client, app) and len(before) == 1
    assert all(s.created_at for s in before)

    secret = provider.static_create(config, role)
    assert secret.id in user_key_ids(client, app) and secret.id not in {s.id for s in before}
    assert secret.secret_keys == frozenset({"private_key_data"})
    assert "PRIVATE KEY" not in repr(secret) and secret.data["private_key_data"] not in repr(secret)
    info = json.loads(base64.b64decode(secret.data["private_key_data"]))
    assert info["private_key_id"] == secret.id and info["client_email"] == app
    assert secret.data["key_type"] == "TYPE_GOOGLE_CREDENTIALS_FILE"
    listed = {s.id: s for s in provider.static_secrets(config, role)}
    assert listed[secret.id].created_at == secret.created_at

    provider.static_check(config, role, secret)
    assert token_with_key(google, info)  # a separate google-auth client gets a token

    provider.static_delete(config, role, secret.id)
    assert user_key_ids(client, app) == {s.id for s in before}
    from google.auth.exceptions import RefreshError

    with pytest.raises(RefreshError):
        token_with_key(google, info)
    provider.static_delete(config, role, secret.id)  # NOT_FOUND is success


def test_missing_account_is_a_field_error(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": f"not-there@{PROJECT}.iam.gserviceaccount.com"}
    with pytest.raises(ValidationError) as caught:
        provider.static_secrets(config, role)
    assert caught.value.field == "service_account_email"
    with pytest.raises(ValidationError) as caught:
        provider.static_create(config, role)
    assert caught.value.field == "service_account_email"
    # Deleting a key of an account that is gone: nothing to do.
    provider.static_delete(config, role, "0" * 40)
    with pytest.raises(ValidationError) as caught:
        provider.static_delete(config, role, "../../other/keys/x")
    assert caught.value.field == "secret_id"


def test_key_limit_is_a_typed_error(gcp_mount: Mount, google: FakeGoogle, app: str) -> None:
    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    for _ in range(MAX_KEYS - 1):
        provider.static_create(config, role)
    with pytest.raises(PermanentProviderError) as caught:
        provider.static_create(config, role)
    assert caught.value.code == "KEY_LIMIT" and caught.value.nothing_created
    assert "gcloud iam service-accounts keys list" in str(caught.value)
    assert len(user_key_ids(auditor(google), app)) == MAX_KEYS


def test_refused_create_made_nothing(gcp_mount: Mount, google: FakeGoogle, app: str) -> None:
    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    google.state.access.deny(ROOT, "iam.serviceAccountKeys.create")
    with pytest.raises(PermanentProviderError) as caught:
        provider.static_create(config, role)
    assert caught.value.code == "PERMISSION_DENIED" and caught.value.nothing_created
    assert len(user_key_ids(auditor(google), app)) == 1


def test_create_is_not_retried_blindly(gcp_mount: Mount, google: FakeGoogle, app: str) -> None:
    """A lost reply surfaces (the engine reconciles by listing); no second create."""
    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    provider.static_secrets(config, role)
    calls = google.state.calls["CreateServiceAccountKey"]
    google.faults.lose_reply("CreateServiceAccountKey")
    with pytest.raises(TransientProviderError):
        provider.static_create(config, role)
    assert google.state.calls["CreateServiceAccountKey"] == calls + 1
    assert len(provider.static_secrets(config, role)) == 2  # the engine finds the unknown one


# -- proving a new key works, on the injected clock ----------------------------------------
def test_check_waits_until_google_accepts_the_key(
    gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock, app: str
) -> None:
    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    secret = provider.static_create(config, role)
    # Google refuses a brand-new key for a while (invalid_grant): three refusals.
    google.faults.fail("token", "invalid_grant", times=3)
    start, calls = gcp_clock.now(), google.state.calls["token"]
    provider.static_check(config, role, secret)
    assert google.state.calls["token"] == calls + 4
    # Polls 0.1, 0.2, 0.4 s apart: back within 0.5 s of the key working.
    assert 0.6 < gcp_clock.now() - start < 1.0


def test_check_gives_up_at_the_deadline(
    gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock, app: str
) -> None:
    from dynsecrets.retry import operation_deadline

    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    secret = provider.static_create(config, role)
    google.faults.fail("token", "invalid_grant", times=1000)
    start = gcp_clock.now()
    with operation_deadline(20, gcp_clock, "rotate"), pytest.raises(TransientProviderError) as e:
        provider.static_check(config, role, secret)
    assert e.value.code == "NOT_USABLE"
    # A quarter of the deadline (at most 15 s) is left for deleting the key.
    assert 14 < gcp_clock.now() - start <= 15
    google.faults.clear()


def test_check_fails_at_once_on_a_tls_error(
    gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock, app: str
) -> None:
    import trustme

    provider, config = _hooks(gcp_mount)
    role = {"service_account_email": app}
    secret = provider.static_create(config, role)
    other = trustme.CA()
    path = google.ca_path + ".other.pem"
    other.cert_pem.write_to_path(path)
    start = gcp_clock.now()
    with pytest.raises(PermanentProviderError) as caught:
        provider.static_check({**config, "ca_bundle": path}, role, secret)
    assert caught.value.code == "TLS" and gcp_clock.now() == start
