"""GCP bindings against FakeGoogle over TLS: other members and IAM conditions
survive create, edit and delete; a concurrent policy change is retried; bad
bindings are refused before any call; a static account switch releases the old
account's bindings. (Split from test_gcp_provider.py.)"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import (
    ValidationError,
)
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import (
    BINDINGS_HCL,
    KEY_ROLESET,
    PROJECT,
    PROJECT_RESOURCE,
    token_with_key,
)

CONDITION = {"expression": "request.time < timestamp('2030-01-01T00:00:00Z')", "title": "until2030"}
OTHERS = {
    "version": 3,
    "bindings": [
        {"role": "roles/viewer", "members": ["user:alice@example.com"]},
        {"role": "roles/viewer", "members": ["user:bob@example.com"], "condition": CONDITION},
        {"role": "roles/owner", "members": ["user:root@example.com"]},
    ],
}


def _account(google: FakeGoogle, email: str) -> dict[str, Any] | None:
    return google.state.accounts.get(email)


# -- bindings -------------------------------------------------------------------------
def test_bindings_keep_other_members_and_conditions(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    google.add_resource(f"projects/{PROJECT}", OTHERS)
    gcp_engine.write(
        "gcp/roleset/my-set",
        project=PROJECT,
        secret_type="service_account_key",
        bindings=BINDINGS_HCL,
    )
    email = gcp_mount.read_role("my-set")["service_account_email"]
    lease = gcp_mount.issue("my-set")
    policy = google.state.policies[f"projects/{PROJECT}"]
    assert CONDITION in [b.get("condition") for b in policy["bindings"]]
    viewer = google.state.members(f"projects/{PROJECT}")["roles/viewer"]
    assert {"user:alice@example.com", f"serviceAccount:{email}"} <= set(viewer)
    assert policy["version"] == 3
    # Edit in place: same account, the live key keeps working.
    gcp_engine.write(
        "gcp/roleset/my-set",
        project=PROJECT,
        secret_type="service_account_key",
        bindings={PROJECT_RESOURCE: ["roles/editor"]},
    )
    assert gcp_mount.read_role("my-set")["service_account_email"] == email
    members = google.state.members(f"projects/{PROJECT}")
    assert f"serviceAccount:{email}" in members["roles/editor"]
    assert f"serviceAccount:{email}" not in members["roles/viewer"]
    assert google.state.members("b/data-bucket") == {}
    token_with_key(google, json.loads(base64.b64decode(lease.data["private_key_data"])))
    gcp_mount.delete_role("my-set", revoke_leases=True)
    assert _account(google, email) is None
    after = google.state.policies[f"projects/{PROJECT}"]
    assert [b for b in after["bindings"] if b["role"] != "roles/editor"] == OTHERS["bindings"]
    assert not any("deleted:" in m for b in after["bindings"] for m in b["members"])


def test_concurrent_policy_change_is_retried(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    google.add_resource(f"projects/{PROJECT}", OTHERS)

    def someone_else() -> None:  # changes the policy between our read and our write
        policy = google.state.get_policy(f"projects/{PROJECT}", 3)
        policy["bindings"].append({"role": "roles/browser", "members": ["user:carol@example.com"]})
        google.state.set_policy(f"projects/{PROJECT}", policy)

    google.faults.before("projects.setIamPolicy", someone_else)
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    members = google.state.members(f"projects/{PROJECT}")
    assert members["roles/browser"] == ["user:carol@example.com"]
    email = gcp_mount.read_role("my-set")["service_account_email"]
    assert f"serviceAccount:{email}" in members["roles/viewer"]
    assert google.state.calls["projects.setIamPolicy"] == 2  # ABORTED once, then re-read


@pytest.mark.parametrize(
    ("bindings", "expected"),
    [
        ({"//example.googleapis.com/things/x": ["roles/viewer"]}, "supported: project"),
        ({"projects/p/instances/i": ["roles/viewer"]}, "ambiguous"),
        ({PROJECT_RESOURCE: ["viewer"]}, "not a role name"),
        ('resource "x" { oops }', "cannot read"),
    ],
)
def test_bad_bindings_are_refused_before_any_call(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, bindings: Any, expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected) as info:
        gcp_mount.write_role(
            "bad", project=PROJECT, secret_type="service_account_key", bindings=bindings
        )
    assert info.value.field == "bindings"
    assert google.state.calls["CreateServiceAccount"] == 0


def test_static_account_switch_releases_the_old_bindings(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    first, second = google.service_account("first-app"), google.service_account("second-app")
    bindings = {"buckets/data-bucket": ["roles/storage.objectViewer"]}
    gcp_engine.write(
        "gcp/static-account/app",
        service_account_email=first,
        secret_type="service_account_key",
        bindings=bindings,
    )
    gcp_engine.write(
        "gcp/static-account/app",
        service_account_email=second,
        secret_type="service_account_key",
        bindings=bindings,
    )
    assert google.state.members("b/data-bucket") == {
        "roles/storage.objectViewer": [f"serviceAccount:{second}"]
    }
    assert _account(google, first) is not None
