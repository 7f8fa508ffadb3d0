"""GCP static roles end to end through the engine's path API: an existing
account's keys, rotated on schedule (injected clock, worker run_once) and by hand,
against FakeGoogle over TLS. Keys are tried with a separate google-auth client and
the account's keys listed with a separate IAMClient."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock, Mount
from dynsecrets.errors import MissingPermissions, TransientProviderError, ValidationError
from dynsecrets.testing.gcp import MAX_KEYS, FakeGoogle

from .gcp_fixtures import PROJECT, auditor, token_with_key, user_key_ids

ROOT = f"dynsecrets-root@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture
def app(google: FakeGoogle) -> tuple[str, str]:
    """An existing account (made outside dynsecrets) and the id of its own key."""
    email = google.service_account("billing-app")
    own = json.loads(google.key_json(email))["private_key_id"]
    return email, own


def _info(creds: Any) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(creds.data["private_key_data"])))


def _works(google: FakeGoogle, creds: Any) -> bool:
    from google.auth.exceptions import RefreshError

    try:
        return bool(token_with_key(google, _info(creds)))
    except RefreshError:
        return False


def test_static_creds_is_a_working_key_and_the_accounts_own_key_stays(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, own = app
    shown = gcp_engine.write(
        "gcp/static-roles/billing", service_account_email=email, rotation_period="24h"
    )
    assert shown["service_account_email"] == email and shown["rotation_period"] == 86400
    creds = gcp_engine.read("gcp/static-creds/billing")
    info = _info(creds)
    assert info["client_email"] == email and info["private_key_id"] == shown["secret_id"]
    assert _works(google, creds)
    assert creds.data["private_key_data"] not in repr(creds) and creds.lease_id == ""
    assert user_key_ids(auditor(google), email) == {own, shown["secret_id"]}
    row = gcp_engine.store.get_role("gcp", "static-roles/billing")
    assert info["private_key"] not in repr(row)  # sealed in the store


def test_scheduled_rotation_keeps_the_old_key_through_the_grace_period(
    gcp_engine: Engine,
    gcp_mount: Mount,
    google: FakeGoogle,
    gcp_clock: ManualClock,
    app: tuple[str, str],
) -> None:
    email, own = app
    gcp_engine.write(
        "gcp/static-roles/billing",
        service_account_email=email,
        rotation_period="1h",
        rotation_grace_period="10m",
    )
    first = gcp_engine.read("gcp/static-creds/billing")
    client = auditor(google)
    worker = ExpiryWorker(gcp_engine)
    gcp_clock.advance(1800)
    assert worker.run_once() == 0
    gcp_clock.advance(1800)
    assert worker.run_once() == 1
    second = gcp_engine.read("gcp/static-creds/billing")
    assert _info(second)["private_key_id"] != _info(first)["private_key_id"]
    assert _works(google, first) and _works(google, second)  # grace period
    ids = user_key_ids(client, email)
    assert {_info(first)["private_key_id"], _info(second)["private_key_id"]} <= ids
    gcp_clock.advance(599)
    worker.run_once()
    assert _works(google, first)
    gcp_clock.advance(1)
    assert worker.run_once() == 1
    assert not _works(google, first)
    # The account's own key went with the first rotation's grace period too (the
    # import said so); only the current key is left.
    assert user_key_ids(client, email) == {_info(second)["private_key_id"]}
    assert own not in user_key_ids(client, email)


def test_manual_rotate_and_delete(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, own = app
    gcp_engine.write("gcp/static-roles/billing", service_account_email=email, rotation_period="1h")
    a = gcp_engine.read("gcp/static-creds/billing")
    shown = gcp_engine.write("gcp/static-roles/billing/rotate")
    b = gcp_engine.read("gcp/static-creds/billing")
    assert shown["secret_id"] == _info(b)["private_key_id"]
    assert _info(a)["private_key_id"] in shown["previous_secret_ids"]
    # The first rotation after the import retires the account's own key (after
    # its grace period), as the import said.
    assert own in shown["previous_secret_ids"]
    assert _works(google, a) and _works(google, b)
    gcp_engine.delete("gcp/static-roles/billing")
    assert user_key_ids(auditor(google), email) == set()
    assert email in google.state.accounts  # the account is not ours to delete


def test_delete_before_any_rotation_keeps_the_accounts_own_key(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, own = app
    gcp_engine.write("gcp/static-roles/billing", service_account_email=email, rotation_period="1h")
    gcp_engine.delete("gcp/static-roles/billing")
    assert user_key_ids(auditor(google), email) == {own}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (
            {"service_account_email": "bad@fake-project.iam.gserviceaccount.com"},
            "service_account_email",
        ),
        ({"service_account_email": "x@example.com"}, "service_account_email"),
        (
            {"service_account_email": f"not-there@{PROJECT}.iam.gserviceaccount.com"},
            "service_account_email",
        ),
        (
            {
                "service_account_email": "billing-app@fake-project.iam.gserviceaccount.com",
                "rotation_period": "30s",
            },
            "rotation_period",
        ),
    ],
)
def test_bad_input_is_typed_and_creates_nothing(
    gcp_engine: Engine,
    gcp_mount: Mount,
    google: FakeGoogle,
    app: tuple[str, str],
    fields: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        gcp_engine.write("gcp/static-roles/billing", **{"rotation_period": "1h", **fields})
    assert caught.value.field == field
    assert google.state.calls["CreateServiceAccountKey"] == 0
    assert gcp_engine.list("gcp/static-roles") == []


def test_account_at_googles_key_limit_is_refused_at_import(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, _ = app
    for _ in range(MAX_KEYS - 1):
        google.key_json(email)
    with pytest.raises(ValidationError) as caught:
        gcp_engine.write(
            "gcp/static-roles/billing", service_account_email=email, rotation_period="1h"
        )
    assert caught.value.field == "service_account_email" and "limit" in str(caught.value)
    assert len(user_key_ids(auditor(google), email)) == MAX_KEYS


def test_verify_names_the_missing_permission_and_creates_nothing(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, own = app
    google.state.access.deny(ROOT, "iam.serviceAccountKeys.delete")
    with pytest.raises(MissingPermissions) as caught:
        gcp_engine.write(
            "gcp/static-roles/billing",
            service_account_email=email,
            rotation_period="1h",
            verify=True,
        )
    assert caught.value.permissions == ["iam.serviceAccountKeys.delete"]
    assert user_key_ids(auditor(google), email) == {own}
    assert gcp_engine.list("gcp/static-roles") == []


def test_lost_create_reply_is_reconciled(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, own = app
    gcp_engine.write("gcp/static-roles/billing", service_account_email=email, rotation_period="1h")
    current = gcp_engine.read("gcp/static-creds/billing")
    google.faults.lose_reply("CreateServiceAccountKey")
    with pytest.raises(TransientProviderError):
        gcp_engine.write("gcp/static-roles/billing/rotate")
    client = auditor(google)
    assert len(user_key_ids(client, email)) == 3  # the lost key exists, unknown to the store
    assert gcp_engine.read("gcp/static-roles/billing")["rotation_failing"]
    shown = gcp_engine.write("gcp/static-roles/billing/rotate")
    assert user_key_ids(client, email) == {
        own,
        _info(current)["private_key_id"],
        shown["secret_id"],
    }
    assert _works(google, gcp_engine.read("gcp/static-creds/billing"))


def test_a_key_google_never_accepts_is_deleted_and_the_old_one_stays(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, app: tuple[str, str]
) -> None:
    email, own = app
    gcp_engine.write("gcp/static-roles/billing", service_account_email=email, rotation_period="1h")
    current = gcp_engine.read("gcp/static-creds/billing")
    google.faults.fail("token", "invalid_grant", times=100_000)
    with pytest.raises(TransientProviderError) as caught:
        gcp_engine.write("gcp/static-roles/billing/rotate")
    google.faults.clear()
    assert caught.value.code == "NOT_USABLE"
    assert user_key_ids(auditor(google), email) == {own, _info(current)["private_key_id"]}
    after = gcp_engine.read("gcp/static-creds/billing")
    assert after.data["private_key_data"] == current.data["private_key_data"]
