"""The GCP provider against FakeGoogle over TLS, with the real Google SDKs:
every kind and secret type, keys that work and stop working, bindings that keep
other members and conditions, the 10-key limit and the pool, faults."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import (
    Conflict,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    ValidationError,
)
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import (
    BINDINGS_HCL,
    KEY_ROLESET,
    PROJECT,
    PROJECT_RESOURCE,
    SCOPE,
    TOKEN_ROLESET,
    fake_session,
    token_with_key,
)


def _account(google: FakeGoogle, email: str) -> dict[str, Any] | None:
    return google.state.accounts.get(email)


# -- every kind and secret type ---------------------------------------------------------
def test_roleset_key_works_then_is_refused_after_revoke(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    lease = gcp_engine.read("gcp/roleset/my-set/key")
    assert lease.lease_id.startswith("gcp/roleset/my-set/key/") and lease.renewable
    assert lease.data["key_algorithm"] == "KEY_ALG_RSA_2048"
    info = json.loads(base64.b64decode(lease.data["private_key_data"]))
    assert info["client_email"].startswith("ds-my-set-") and info["token_uri"] == google.token_uri
    token = token_with_key(google, info)
    # The key's own token calls iamcredentials, as a workload would.
    reply = fake_session(google).post(
        f"{google.rest_url}/v1/projects/-/serviceAccounts/{info['client_email']}:generateAccessToken",
        json={"scope": [SCOPE]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.json()["accessToken"]
    gcp_engine.revoke(lease.lease_id)
    from google.auth.exceptions import RefreshError

    with pytest.raises(RefreshError):
        token_with_key(google, info)
    assert google.state.calls["CreateServiceAccountKey"] == 1  # one call per credential
    assert google.state.calls["DeleteServiceAccountKey"] == 1


def test_google_credentials_and_environ(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    lease = gcp_engine.read("gcp/roleset/my-set/key")
    creds = lease.google_credentials(ca_bundle=google.ca_path)
    assert creds.valid and creds.service_account_email.startswith("ds-my-set-")
    path = lease.environ()["GOOGLE_APPLICATION_CREDENTIALS"]
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as f:
            assert json.load(f)["client_email"] == creds.service_account_email
    finally:
        os.unlink(path)
    assert "BEGIN PRIVATE KEY" not in repr(lease)


def test_pkcs12_key(gcp_engine: Engine, gcp_mount: Mount) -> None:
    gcp_engine.write("gcp/roleset/p12", **KEY_ROLESET)
    lease = gcp_engine.read("gcp/roleset/p12/key", key_type="TYPE_PKCS12_FILE")
    from cryptography.hazmat.primitives.serialization import pkcs12

    key, _, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(lease.data["private_key_data"]), b"notasecret"
    )
    assert key is not None and lease.data["key_type"] == "TYPE_PKCS12_FILE"
    gcp_engine.revoke(lease.lease_id)


@pytest.mark.parametrize("path", ["gcp/roleset/tok/token", "gcp/token/tok"])
def test_roleset_token_has_no_lease(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, path: str
) -> None:
    gcp_engine.write("gcp/roleset/tok", **TOKEN_ROLESET)
    lease = gcp_engine.read(path)
    assert lease.lease_id == "" and lease.lease_duration == 0
    assert not lease.renewable and not lease.revocable
    assert lease.data["token_ttl"] == 3600 and lease.data["expires_at_seconds"] > 0
    assert google.state.principal(lease.data["token"]).startswith("ds-tok-")
    assert gcp_engine.leases() == []  # nothing stored for it
    assert lease.data["token"] not in repr(lease)
    assert google.state.calls["CreateServiceAccountKey"] == 0  # no key behind a token
    with gcp_mount.lease("tok") as scoped:  # the block ends; there is no lease to revoke
        assert scoped.lease_id == "" and scoped.data["token"]


def test_deprecated_key_path_and_wrong_secret_type(gcp_engine: Engine, gcp_mount: Mount) -> None:
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    lease = gcp_engine.read("gcp/key/my-set")
    assert lease.lease_id.startswith("gcp/key/my-set/")
    with pytest.raises(ValidationError) as info:
        gcp_engine.read("gcp/roleset/my-set/token")
    assert info.value.field == "secret_type" and "roleset/my-set/key" in str(info.value)
    gcp_engine.revoke(lease.lease_id)


def test_static_account_key_and_token_with_bindings(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    email = google.service_account("existing-app")
    gcp_engine.write(
        "gcp/static-account/app",
        service_account_email=email,
        secret_type="service_account_key",
        bindings={"buckets/data-bucket": ["roles/storage.objectViewer"]},
    )
    assert (
        f"serviceAccount:{email}"
        in google.state.members("b/data-bucket")["roles/storage.objectViewer"]
    )
    lease = gcp_engine.read("gcp/static-account/app/key")
    assert lease.data["service_account_email"] == email
    gcp_engine.revoke(lease.lease_id)
    gcp_engine.write(
        "gcp/static-account/app-tok",
        service_account_email=email,
        secret_type="access_token",
        token_scopes=[SCOPE],
    )
    token = gcp_engine.read("gcp/static-account/app-tok/token")
    assert token.lease_id == "" and google.state.principal(token.data["token"]) == email
    gcp_mount.delete_role("app")
    assert google.state.members("b/data-bucket") == {}
    assert _account(google, email) is not None  # a static account is never deleted


def test_impersonated_account_token(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    email = google.service_account("impersonate-me")
    gcp_engine.write(
        "gcp/impersonated-account/imp", service_account_email=email, token_scopes=[SCOPE], ttl="10m"
    )
    token = gcp_engine.read("gcp/impersonated-account/imp/token")
    assert token.data["token_ttl"] == 600 and token.lease_id == ""
    assert google.state.calls["CreateServiceAccountKey"] == 0
    with pytest.raises(ValidationError) as info:
        gcp_engine.write(
            "gcp/impersonated-account/bad",
            service_account_email=email,
            token_scopes=[SCOPE],
            bindings={PROJECT_RESOURCE: ["roles/viewer"]},
        )
    assert info.value.field == "bindings"


# -- the 10-key limit and the pool ----------------------------------------------------------
def test_ten_key_limit_is_a_typed_error_and_the_pool_spreads(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("one", **KEY_ROLESET)
    leases = [gcp_mount.issue("one") for _ in range(10)]
    with pytest.raises(PermanentProviderError, match="max_accounts") as info:
        gcp_mount.issue("one")
    assert info.value.code == "KEY_LIMIT"
    assert len(gcp_engine.leases()) == 10  # the refused one left nothing
    gcp_mount.write_role("pool", **{**KEY_ROLESET, "max_accounts": 3})
    pool = [gcp_mount.issue("pool") for _ in range(25)]
    used = {lease.data["service_account_email"] for lease in pool}
    assert len(used) == 3 and len(gcp_mount.read_role("pool")["service_accounts"]) == 3
    gcp_engine.revoke_prefix("gcp/")
    assert len(leases) == 10 and google.state.keys.keys() == {
        k for k, v in google.state.keys.items() if v["email"].startswith("dynsecrets-root")
    }


# -- faults -------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"])
def test_transient_faults_are_retried(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, status: str
) -> None:
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    google.faults.fail("CreateServiceAccountKey", status, times=2)
    lease = gcp_mount.issue("my-set")
    assert google.state.calls["CreateServiceAccountKey"] == 3
    gcp_engine.revoke(lease.lease_id)


def test_permission_denied_is_permanent_and_leaves_nothing(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    google.faults.fail("CreateServiceAccountKey", "PERMISSION_DENIED")
    with pytest.raises(PermanentProviderError) as info:
        gcp_mount.issue("my-set")
    assert info.value.code == "PERMISSION_DENIED" and "README" in str(info.value)
    assert not isinstance(info.value.__cause__, ProviderError)  # chained, not leaked
    assert gcp_engine.leases() == []


def test_outage_is_bounded_by_the_deadline(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    google.faults.fail("CreateServiceAccountKey", "UNAVAILABLE", times=10_000)
    with pytest.raises(TransientProviderError):
        gcp_mount.issue("my-set")
    assert gcp_engine.leases() in ([],) or all(x.state != "active" for x in gcp_engine.leases())


def test_new_account_not_yet_visible_is_retried(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    google.faults.fail("projects.setIamPolicy", "INVALID_ARGUMENT", times=2)
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    email = gcp_mount.read_role("my-set")["service_account_email"]
    assert f"serviceAccount:{email}" in google.state.members(f"projects/{PROJECT}")["roles/viewer"]


def test_failed_roleset_write_leaves_nothing(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    google.faults.fail("buckets.setIamPolicy", "PERMISSION_DENIED")
    with pytest.raises(PermanentProviderError):
        gcp_engine.write(
            "gcp/roleset/my-set",
            project=PROJECT,
            secret_type="service_account_key",
            bindings=BINDINGS_HCL,
        )
    assert "my-set" not in gcp_mount.roles() and gcp_engine.leases() == []
    assert [e for e in google.state.accounts if e.startswith("ds-")] == []
    assert google.state.members(f"projects/{PROJECT}") == {}


def test_delete_refused_while_keys_live(gcp_engine: Engine, gcp_mount: Mount) -> None:
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    gcp_mount.issue("my-set")
    with pytest.raises(Conflict, match="revoke_leases"):
        gcp_engine.delete("gcp/roleset/my-set")


def test_rotate_root(gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle) -> None:
    old_id = json.loads(gcp_mount.root_config()["credentials"])["private_key_id"]
    gcp_engine.write("gcp/config/rotate-root")
    new_id = json.loads(gcp_mount.root_config()["credentials"])["private_key_id"]
    assert new_id != old_id and old_id not in google.state.keys and new_id in google.state.keys
    gcp_mount.write_role("my-set", **KEY_ROLESET)
    gcp_engine.revoke(gcp_mount.issue("my-set").lease_id)


def test_rotate_root_never_persists_an_unproven_key(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    before = gcp_mount.root_config()["credentials"]
    google.faults.fail("token", "invalid_grant", times=100)
    with pytest.raises(ProviderError):
        gcp_mount.rotate_root()
    google.faults.clear()
    assert gcp_mount.root_config()["credentials"] == before
    root = json.loads(before)["client_email"]
    assert [k for k, v in google.state.keys.items() if v["email"] == root] == [
        json.loads(before)["private_key_id"]
    ]


def test_import_loads_no_google_module() -> None:
    code = "import sys, dynsecrets; print([m for m in sys.modules if m.startswith(('google', 'grpc'))])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rotate_key_holds_no_key(gcp_engine: Engine, gcp_mount: Mount) -> None:
    # roleset/<n>/rotate replaces the account: tests/test_gcp_roleset_rotate.py.
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    assert gcp_engine.write("gcp/roleset/my-set/rotate-key")["rotated"] is False


def test_tokens_are_audited_and_secrets_never_logged(
    google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from dynsecrets import ManualClock

    seen: list[dict[str, Any]] = []
    caplog.set_level(logging.DEBUG)
    with Engine.open("memory://", clock=ManualClock(), audit=seen.append) as engine:
        mount = engine.enable("gcp", "gcp")
        mount.configure(**google.config())
        engine.write("gcp/roleset/tok", **TOKEN_ROLESET)
        engine.write("gcp/roleset/key", **KEY_ROLESET)
        token = engine.read("gcp/roleset/tok/token")
        key = engine.read("gcp/roleset/key/key")
    issued = [e for e in seen if e["operation"] == "lease.issue"]
    assert len(issued) == 2 and issued[0].get("lease_id") in ("", None)
    text = json.dumps(seen, default=str) + caplog.text
    assert token.data["token"] not in text
    assert key.data["private_key_data"] not in text and "BEGIN PRIVATE KEY" not in text


@pytest.mark.parametrize(
    ("method", "status", "transient"),
    [
        ("CreateServiceAccountKey", "UNAVAILABLE", True),
        ("CreateServiceAccountKey", "RESOURCE_EXHAUSTED", True),
        ("CreateServiceAccountKey", "INVALID_ARGUMENT", False),
        ("CreateServiceAccountKey", "UNAUTHENTICATED", False),
        ("generateAccessToken", "PERMISSION_DENIED", False),
        ("generateAccessToken", "RESOURCE_EXHAUSTED", True),
        ("generateAccessToken", "INTERNAL", True),
        ("generateAccessToken", "NOT_FOUND", False),
    ],
)
def test_every_error_is_mapped_by_status(
    gcp_engine: Engine,
    gcp_mount: Mount,
    google: FakeGoogle,
    method: str,
    status: str,
    transient: bool,
) -> None:
    from dynsecrets.errors import DynSecretsError

    gcp_mount.write_role("key", **KEY_ROLESET)
    gcp_mount.write_role("tok", **TOKEN_ROLESET)
    google.faults.fail(method, status, times=10_000)
    role = "key" if method == "CreateServiceAccountKey" else "tok"
    with pytest.raises(DynSecretsError) as info:
        gcp_mount.issue(role)
    assert isinstance(info.value, TransientProviderError if transient else PermanentProviderError)
    assert info.value.code == status
    # Nothing from google.api_core, grpc or requests escapes: only chained.
    assert type(info.value).__module__ == "dynsecrets.errors"
    assert gcp_engine.leases() == []
