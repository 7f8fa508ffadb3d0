"""config/rotate-root when Google's reply to the create is lost: reconciled against
the keys the root account had, never repeated blindly (no extra root key left)."""

from __future__ import annotations

import json

import pytest

from dynsecrets import ExpiryWorker, ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, ValidationError
from dynsecrets.testing.gcp import MAX_KEYS, FakeGoogle

from .gcp_fixtures import KEY_ROLESET, auditor, user_key_ids


def test_lost_create_reply_leaves_one_root_key(gcp_mount: Mount, google: FakeGoogle) -> None:
    root = json.loads(gcp_mount.root_config()["credentials"])["client_email"]
    client = auditor(google)
    assert len(user_key_ids(client, root)) == 1
    google.faults.lose_reply("CreateServiceAccountKey")
    gcp_mount.rotate_root()
    new_id = json.loads(gcp_mount.root_config()["credentials"])["private_key_id"]
    assert user_key_ids(client, root) == {new_id}
    assert google.state.calls["CreateServiceAccountKey"] == 2
    gcp_mount.write_role("my-set", **KEY_ROLESET)  # the mount works on the new key
    with gcp_mount.lease("my-set") as lease:
        assert lease.data["private_key_data"]


def test_full_root_account_is_a_typed_error(gcp_mount: Mount, google: FakeGoogle) -> None:
    before = gcp_mount.root_config()["credentials"]
    root = json.loads(before)["client_email"]
    for _ in range(MAX_KEYS - 1):
        google.key_json(root)
    with pytest.raises(PermanentProviderError) as caught:
        gcp_mount.rotate_root()
    assert caught.value.code == "KEY_LIMIT" and "gcloud iam" in str(caught.value)
    assert gcp_mount.root_config()["credentials"] == before


def test_scheduled_root_rotation(
    gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock
) -> None:
    before = json.loads(gcp_mount.root_config()["credentials"])
    gcp_mount.configure(**{**gcp_mount.root_config(), "rotation_period": "2h"})
    worker = ExpiryWorker(gcp_mount.engine)
    gcp_clock.advance(7199)
    worker.run_once()
    assert json.loads(gcp_mount.root_config()["credentials"]) == before
    gcp_clock.advance(1)
    assert worker.run_once() == 1
    after = json.loads(gcp_mount.root_config()["credentials"])
    assert after["private_key_id"] != before["private_key_id"]
    assert user_key_ids(auditor(google), before["client_email"]) == {after["private_key_id"]}
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    with gcp_mount.lease("my-set") as lease:  # the mount works on the new key
        assert lease.data["private_key_data"]


def test_a_schedule_is_refused_for_application_default_credentials(gcp_mount: Mount) -> None:
    config = {k: v for k, v in gcp_mount.root_config().items() if k != "credentials"}
    with pytest.raises(ValidationError) as caught:
        gcp_mount.configure(**config, rotation_period="24h")
    assert caught.value.field == "rotation_period"
