"""``verify`` for GCP: the root credential works, and Google's testIamPermissions
says which of the permissions the provider's calls need it lacks (by name)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import MissingPermissions, PermanentProviderError, ValidationError
from dynsecrets.providers.gcp import GCPProvider
from dynsecrets.providers.gcp.resources import TYPES
from dynsecrets.providers.gcp.verify import PERMISSION_PREFIX, needed
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET, PROJECT, PROJECT_RESOURCE, SCOPE, TOKEN_ROLESET

ROOT = f"dynsecrets-root@{PROJECT}.iam.gserviceaccount.com"
BUCKET = "//storage.googleapis.com/buckets/data-bucket"


def _setup(mount: Mount) -> tuple[GCPProvider, dict[str, Any]]:
    provider = mount.provider
    assert isinstance(provider, GCPProvider)
    return provider, dict(mount.root_config())


def _role(provider: GCPProvider, kind: str, **fields: Any) -> dict[str, Any]:
    return provider.validate_role("r", {"kind": kind, **fields})


def test_everything_allowed_reports_nothing(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config = _setup(gcp_mount)
    app = google.service_account("billing-app")
    roles = [
        None,
        _role(provider, "roleset", **KEY_ROLESET),
        _role(provider, "roleset", **TOKEN_ROLESET),
        _role(
            provider, "static-account", service_account_email=app, secret_type="service_account_key"
        ),
        _role(provider, "impersonated-account", service_account_email=app, token_scopes=[SCOPE]),
        {"service_account_email": app, "rotation_period": 86400},  # a static role
    ]
    for role in roles:
        assert provider.verify(config, role) == []
    assert google.state.calls["projects.testIamPermissions"] >= 3
    assert google.state.calls["TestIamPermissions"] >= 4


def test_missing_permission_is_reported_by_name(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config = _setup(gcp_mount)
    app = google.service_account("billing-app")
    google.state.access.deny(ROOT, "iam.serviceAccountKeys.create", "storage.buckets.setIamPolicy")
    static_role = {"service_account_email": app, "rotation_period": 86400}
    assert provider.verify(config, static_role) == ["iam.serviceAccountKeys.create"]
    roleset = _role(
        provider,
        "roleset",
        project=PROJECT,
        secret_type="service_account_key",
        bindings={PROJECT_RESOURCE: ["roles/viewer"], BUCKET: ["roles/storage.objectViewer"]},
    )
    assert provider.verify(config, roleset) == [
        "iam.serviceAccountKeys.create",
        f"storage.buckets.setIamPolicy on {BUCKET}",
    ]
    # What verify reported is what the real call is refused for.
    with pytest.raises(PermanentProviderError) as caught:
        provider.static_create(config, static_role)
    assert caught.value.code == "PERMISSION_DENIED"
    assert "iam.serviceAccountKeys.create" in str(caught.value)


def test_permission_granted_on_one_account_only(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config = _setup(gcp_mount)
    mine = google.service_account("billing-app")
    other = google.service_account("payroll-app")
    google.state.access.restrict(ROOT, [])
    keys = [
        "iam.serviceAccountKeys.create",
        "iam.serviceAccountKeys.list",
        "iam.serviceAccountKeys.delete",
    ]
    google.state.access.grant(ROOT, keys, on=mine)
    assert provider.verify(config, {"service_account_email": mine, "rotation_period": 60}) == []
    assert provider.verify(config, {"service_account_email": other, "rotation_period": 60}) == keys
    # Config level: tidy's calls on the project and rotate-root's on the root account.
    assert provider.verify(config, None) == [
        "iam.serviceAccounts.list",
        "iam.serviceAccounts.get",
        "iam.serviceAccounts.delete",
        "iam.serviceAccountKeys.list",
        "iam.serviceAccountKeys.create",
        "iam.serviceAccountKeys.delete",
    ]


def test_broken_credential_raises(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config = _setup(gcp_mount)
    text = google.key_json(ROOT)
    google.state.keys.pop(json.loads(text)["private_key_id"])  # Google deleted the key
    with pytest.raises(PermanentProviderError) as caught:
        provider.verify({**config, "credentials": text}, None)
    assert caught.value.code == "UNAUTHENTICATED"


def test_missing_account_is_a_field_error(gcp_mount: Mount) -> None:
    provider, config = _setup(gcp_mount)
    role = {"service_account_email": f"not-there@{PROJECT}.iam.gserviceaccount.com"}
    with pytest.raises(ValidationError) as caught:
        provider.verify(config, {**role, "rotation_period": 60})
    assert caught.value.field == "service_account_email"


def test_every_resource_type_has_its_permission() -> None:
    assert {t.name for t in TYPES} == set(PERMISSION_PREFIX)


def test_verify_covers_every_permission_a_workflow_uses(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    """Whatever the provider calls, verify asks Google about first."""
    provider, config = _setup(gcp_mount)
    app = google.service_account("billing-app")
    bindings = {PROJECT_RESOURCE: ["roles/viewer"], BUCKET: ["roles/storage.objectViewer"]}
    fields: list[tuple[str, dict[str, Any]]] = [
        ("roleset", {**KEY_ROLESET, "bindings": bindings}),
        ("roleset", dict(TOKEN_ROLESET)),
        ("static-account", {"service_account_email": app, "secret_type": "service_account_key"}),
        ("impersonated-account", {"service_account_email": app, "token_scopes": [SCOPE]}),
    ]
    asked: set[str] = set()
    for kind, f in fields:
        role = _role(provider, kind, **f)
        binds = json.loads(role["bindings"]) if role.get("bindings") else {}
        asked |= {p for _, perms, _ in needed(config, role, binds) for p in perms}
    asked |= {p for _, perms, _ in needed(config, None, {}) for p in perms}
    google.state.permissions_used.clear()
    for i, (kind, f) in enumerate(fields):
        path = f"gcp/{kind}/r{i}"
        gcp_engine.write(path, **f)
        what = "key" if f.get("secret_type") == "service_account_key" else "token"
        lease = gcp_engine.read(f"{path}/{what}")
        if lease.lease_id:
            gcp_engine.revoke(lease.lease_id)
        gcp_engine.delete(path)
    gcp_mount.rotate_root()
    assert google.state.permissions_used - asked == set()


def test_verify_true_on_config_and_role_writes(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    """Through the engine: a missing permission refuses the write, names the
    permission, and nothing is stored or created."""
    config = dict(gcp_mount.root_config())
    gcp_engine.write("gcp/config", **config, verify=True)  # all allowed
    google.state.access.deny(ROOT, "iam.serviceAccounts.create")
    accounts = set(google.state.accounts)
    with pytest.raises(MissingPermissions) as caught:
        gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET, verify=True)
    assert caught.value.permissions == ["iam.serviceAccounts.create"]
    assert set(google.state.accounts) == accounts and gcp_mount.roles() == []
    google.state.access.reset()
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET, verify=True)
    google.state.access.deny(ROOT, "iam.serviceAccounts.list")  # tidy's
    stored = gcp_mount.root_config()["credentials"]
    other = google.config()  # a new key: the write would change the stored one
    with pytest.raises(MissingPermissions) as caught:
        gcp_engine.write("gcp/config", **other, verify=True)
    assert caught.value.permissions == ["iam.serviceAccounts.list"]
    assert gcp_mount.root_config()["credentials"] == stored
