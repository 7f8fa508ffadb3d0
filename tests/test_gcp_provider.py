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
import requests

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


def _session(google: FakeGoogle) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = google.ca_path
    return s


def _token_with_key(google: FakeGoogle, info: dict[str, Any]) -> str:
    """Fetch a token with a key file, as any Google client would."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    creds.refresh(Request(_session(google)))
    return str(creds.token)


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
    token = _token_with_key(google, info)
    # The key's own token calls iamcredentials, as a workload would.
    reply = _session(google).post(
        f"{google.rest_url}/v1/projects/-/serviceAccounts/{info['client_email']}:generateAccessToken",
        json={"scope": [SCOPE]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.json()["accessToken"]
    gcp_engine.revoke(lease.lease_id)
    from google.auth.exceptions import RefreshError

    with pytest.raises(RefreshError):
        _token_with_key(google, info)
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
    _token_with_key(google, json.loads(base64.b64decode(lease.data["private_key_data"])))
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


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"project": "Bad_Project"}, "project"),
        ({"project": "abc"}, "project"),
        ({"secret_type": "access_token", "token_scopes": ["cloud-platform"]}, "token_scopes"),
        ({"secret_type": "access_token"}, "token_scopes"),
        ({"max_accounts": 21}, "max_accounts"),
        ({"max_accounts": 0}, "max_accounts"),
        ({"service_account_email": "x@p.iam.gserviceaccount.com"}, "service_account_email"),
    ],
)
def test_role_validation(
    gcp_mount: Mount, google: FakeGoogle, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        gcp_mount.write_role("bad", **{**KEY_ROLESET, **fields})
    assert info.value.field == field
    assert google.state.calls["CreateServiceAccount"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"credentials": "not json"}, "credentials"),
        ({"credentials": json.dumps({"type": "authorized_user"})}, "credentials"),
        ({"endpoints": {"iamcredentials": "http://127.0.0.1:1"}}, "endpoints"),
        ({"endpoints": {"nosuch": "https://x"}}, "endpoints"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
    ],
)
def test_config_validation_never_echoes_secrets(
    gcp_mount: Mount, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        gcp_mount.configure(**fields)
    assert info.value.field == field
    assert "not json" not in str(info.value)


def test_account_ids_fit_google_limits() -> None:
    from dynsecrets.providers.gcp.names import ACCOUNT_ID, account_id

    names = {account_id("r" * 64) for _ in range(1000)} | {account_id("A_b.c") for _ in range(10)}
    assert all(ACCOUNT_ID.fullmatch(n) and 6 <= len(n) <= 30 for n in names)
    assert len(names) == 1010  # 8 random characters: no same-second collisions
    assert account_id("---").startswith("ds-")


def test_token_ttl_is_capped_at_google_limit(gcp_engine: Engine, gcp_mount: Mount) -> None:
    gcp_engine.write("gcp/roleset/tok", **TOKEN_ROLESET)
    token = gcp_engine.read("gcp/roleset/tok/token", ttl="5h")
    assert token.data["token_ttl"] == 3600
    assert any("clamped" in w for w in token.warnings)


def test_read_config_hides_the_key(gcp_mount: Mount) -> None:
    shown = gcp_mount.read_config()
    assert "credentials" not in shown and "PRIVATE KEY" not in json.dumps(shown)


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


def test_unsupported_rotate_says_what_to_do(gcp_engine: Engine, gcp_mount: Mount) -> None:
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    with pytest.raises(PermanentProviderError, match="revoke_leases=True") as caught:
        gcp_engine.write("gcp/roleset/my-set/rotate")
    assert caught.value.code == "NotSupported"
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
