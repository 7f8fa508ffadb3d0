"""AliCloud input rules (Alibaba's real limits), STS, error mapping, TLS, signatures,
secrets in logs, the RAM permission list, and the lazy SDK import."""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.errors import (
    InvalidTTL,
    PermanentProviderError,
    TransientProviderError,
    ValidationError,
)
from dynsecrets.providers.alicloud import PERMISSIONS
from dynsecrets.providers.alicloud.errors import classify
from dynsecrets.providers.alicloud.permissions import VERIFY_PERMISSIONS
from dynsecrets.testing.alicloud import FakeAliCloud, SignatureError, verify

from ._alicloud import (  # noqa: F401
    OSS_POLICY,
    ROOT,
    ali,
    ali_clock,
    ali_engine,
    ali_mount,
    nothing_left,
    role_arn,
    run_env,
    users,
)

BIG = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": [f"oss:Get{i:05d}" for i in range(500)], "Resource": "*"}
    ],
}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"inline_policies": "{not json"}, "inline_policies", "JSON"),
        ({"inline_policies": {"Version": "1"}}, "inline_policies", "Statement"),
        ({"inline_policies": {**OSS_POLICY, "Version": "2012-10-17"}}, "inline_policies", '"1"'),
        ({"inline_policies": []}, "inline_policies", "empty"),
        ({"inline_policies": BIG}, "inline_policies", "6144"),
        (
            {"inline_policies": {"Statement": [{"Effect": "Maybe", "Action": "*"}]}},
            "inline_policies",
            "Effect",
        ),
        ({"remote_policies": "name:AliyunOSSReadOnlyAccess"}, "remote_policies", "type"),
        ({"remote_policies": "name:Bad_Name,type:System"}, "remote_policies", "1-128"),
        ({"remote_policies": "name:X,type:Managed"}, "remote_policies", "System or"),
        ({"remote_policies": "AliyunOSSReadOnlyAccess"}, "remote_policies", "name:X"),
        (
            {"remote_policies": ["name:A,type:System", "name:A,type:System"]},
            "remote_policies",
            "twice",
        ),
        ({"remote_policies": [{"name": "A", "kind": "System"}]}, "remote_policies", "kind"),
        ({"role_arn": "arn:aws:iam::123:role/x"}, "role_arn", "RAM role ARN"),
        ({"role_arn": "acs:ram::123:role/bad name"}, "role_arn", "RAM role ARN"),
        (
            {"role_arn": "acs:ram::1234567890123456:role/ops", "inline_policies": OSS_POLICY},
            "inline_policies",
            "role_arn",
        ),
        (
            {
                "role_arn": "acs:ram::1234567890123456:role/ops",
                "remote_policies": "name:A,type:System",
            },
            "remote_policies",
            "role_arn",
        ),
        ({}, "inline_policies", "role_arn"),
        ({"role_arn": "acs:ram::1234567890123456:role/ops", "ttl": 600}, "ttl", "900"),
        ({"role_arn": "acs:ram::1234567890123456:role/ops", "max_ttl": "13h"}, "max_ttl", "43200"),
    ],
)
def test_bad_roles_are_refused_before_any_call(
    ali_mount: Mount, ali: FakeAliCloud, fields: dict[str, Any], field: str, words: str
) -> None:
    ali.faults.clear()
    with pytest.raises(ValidationError) as info:
        ali_mount.write_role("bad", **fields)
    assert info.value.field == field, info.value
    assert words in str(info.value)
    assert "bad" not in ali_mount.roles() and ali.faults.calls == []


def test_role_forms(ali_mount: Mount) -> None:
    structured = ali_mount.write_role(
        "s",
        inline_policies=json.dumps([OSS_POLICY, OSS_POLICY]),
        remote_policies=[{"name": "AliyunOSSReadOnlyAccess", "type": "system"}],
    )
    vault = ali_mount.write_role(
        "v",
        inline_policies=OSS_POLICY,
        # What the CLI passes for name:A,type:System,name:B,type:Custom (split at commas).
        remote_policies="name:AliyunOSSReadOnlyAccess,type:System,name:Mine,type:Custom",
    )
    assert structured.fields["remote_policies"] == ["name:AliyunOSSReadOnlyAccess,type:System"]
    assert vault.fields["remote_policies"] == [
        "name:AliyunOSSReadOnlyAccess,type:System",
        "name:Mine,type:Custom",
    ]
    assert len(json.loads(structured.fields["inline_policies"])) == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ram_endpoint": "http://127.0.0.1:8080"}, "ram_endpoint"),
        ({"sts_endpoint": "https://host/path"}, "sts_endpoint"),
        ({"ram_endpoint": "user:pw@host"}, "ram_endpoint"),
        ({"ram_endpoint": "127.0.0.1:99999"}, "ram_endpoint"),
        ({"ca_bundle": "/no/such/file.pem"}, "ca_bundle"),
        ({"access_key": "LTAI has space", "secret_key": "x"}, "access_key"),
        ({"access_key": "LTAIabc", "secret_key": ""}, "secret_key"),
        ({"region": "Hangzhou"}, "region"),
    ],
)
def test_bad_config_is_refused(
    ali_mount: Mount, ali: FakeAliCloud, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ali_mount.configure(**{**ali.config(), **fields})
    assert info.value.field == field
    assert ali.config()["secret_key"] not in str(info.value)


def test_bad_ca_bundle_file(ali_mount: Mount, ali: FakeAliCloud, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValidationError) as info:
        ali_mount.configure(**{**ali.config(), "ca_bundle": str(junk)})
    assert info.value.field == "ca_bundle"


def test_names_fit_alibaba_limits(ali_mount: Mount, ali: FakeAliCloud, role_arn: str) -> None:
    long = "r" * 64
    ali_mount.write_role(long, inline_policies=[OSS_POLICY, OSS_POLICY])
    ali_mount.write_role("s" * 64, role_arn=role_arn)
    plans = set()
    for _ in range(20):
        plan = ali_mount.provider.plan(ali_mount.root_config(), _request(ali_mount, long))
        assert re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", plan["user_name"])
        for p in plan["inline"]:
            assert re.fullmatch(r"[A-Za-z0-9-]{1,128}", p["name"])
        assert len(plan["display_name"]) <= 128 and len(plan["comments"]) <= 128
        plans.add(plan["user_name"])
    assert len(plans) == 20  # random enough never to collide
    sts = ali_mount.provider.plan(ali_mount.root_config(), _request(ali_mount, "s" * 64))
    assert re.fullmatch(r"[A-Za-z0-9_.@-]{2,64}", sts["session_name"])
    with ali_mount.lease(long) as lease:
        assert lease.data["access_key"]
    assert nothing_left(ali)


def _request(mount: Mount, role: str) -> Any:
    from dynsecrets.providers.base import IssueRequest

    return IssueRequest(
        mount=mount.path,
        role_name=role,
        role=mount.read_role(role).fields,
        lease_id=f"{mount.path}/creds/{role}/" + "x" * 24,
        ttl=3600,
        now=0.0,
        store_id=mount.engine.store_id,
    )


# -- STS -----------------------------------------------------------------------------------
def test_sts_lease(ali_mount: Mount, ali: FakeAliCloud, role_arn: str) -> None:
    ali_mount.write_role("sts", role_arn=role_arn)
    ali.faults.clear()
    lease = ali_mount.issue("sts")
    assert ali.faults.calls == ["AssumeRole"]
    assert not lease.renewable and not lease.revocable
    assert lease.data["security_token"] and lease.data["access_key"].startswith("STS.")
    assert abs(lease.expires_at - lease.issued_at - 3600) <= 2  # the token's own TTL
    env = lease.environ()
    assert env["ALIBABA_CLOUD_SECURITY_TOKEN"] == lease.data["security_token"]
    for secret in (lease.data["secret_key"], lease.data["security_token"]):
        assert secret not in repr(lease) + str(lease)
    ali_mount.engine.revoke(lease.lease_id)  # only the lease goes: STS cannot revoke
    assert ali.faults.calls == ["AssumeRole"]


def test_sts_ttl_is_bounded(ali_mount: Mount, ali: FakeAliCloud, role_arn: str) -> None:
    ali_mount.write_role("sts", role_arn=role_arn, max_ttl="2h")
    lease = ali_mount.issue("sts", ttl="5h")
    assert lease.data["ttl"] == 7200
    short = ali_mount.issue("sts", ttl="5m")
    assert short.data["ttl"] == 900 and any("raised to 900s" in w for w in short.warnings)
    ali_mount.write_role("longer", role_arn=role_arn, max_ttl="4h")
    with pytest.raises(InvalidTTL, match="MaxSessionDuration"):  # the RAM role allows 2 h
        ali_mount.issue("longer", ttl="3h")
    assert ali_mount.engine.leases("ali/creds/longer/") == []


def test_sts_unknown_role_is_permanent(ali_mount: Mount) -> None:
    ali_mount.write_role("nope", role_arn="acs:ram::1234567890123456:role/missing")
    with pytest.raises(PermanentProviderError, match="EntityNotExist.Role"):
        ali_mount.issue("nope")
    assert ali_mount.engine.leases() == []


# -- errors, TLS, signatures -------------------------------------------------------------------
class _Coded(Exception):
    def __init__(self, code: str | None, status: int | None = None) -> None:
        super().__init__("message text is never read")
        self.code, self.status_code = code, status


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("Throttling.User", 400, True),
        ("Throttling", 400, True),
        ("ServiceUnavailable", 503, True),
        ("InternalError", 500, True),
        ("SomethingNew", 502, True),
        ("InvalidAccessKeyId.NotFound", 404, False),
        ("Forbidden.RAM", 403, False),
        ("InvalidParameter.UserName.Length", 400, False),
        ("EntityNotExist.Policy", 404, False),
        ("LimitExceeded.User.AccessKey", 409, False),
    ],
)
def test_error_codes_decide(code: str, status: int, transient: bool) -> None:
    err = classify(_Coded(code, status), "CreateUser")
    assert isinstance(err, TransientProviderError if transient else PermanentProviderError)
    assert err.code == code and "message text" not in str(err)


def test_transport_errors() -> None:
    refused = _Coded(None)
    refused.__context__ = ConnectionRefusedError()
    assert isinstance(classify(refused, "X"), PermanentProviderError)
    reset = _Coded(None)
    reset.__context__ = ConnectionResetError()
    assert isinstance(classify(reset, "X"), TransientProviderError)
    untrusted = _Coded(None)
    untrusted.__context__ = ssl.SSLCertVerificationError()
    assert classify(untrusted, "X").code == "CertificateVerifyFailed"


def test_tls_is_verified(ali: FakeAliCloud, tmp_path: Path) -> None:
    """Without the CA the fake's certificate is refused, in a fresh process (the SDK
    keeps one TLS context per host and port for the life of a process)."""
    code = f"""
from dynsecrets import Engine, ProviderRegistry
from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.alicloud import AliCloudProvider
reg = ProviderRegistry(); reg.register(AliCloudProvider)
e = Engine.open("memory://", registry=reg)
m = e.enable("ali", "alicloud")
cfg = {ali.config()!r}
del cfg["ca_bundle"]
m.configure(**cfg)
m.write_role("r", inline_policies='{json.dumps(OSS_POLICY)}')
try:
    m.issue("r")
except PermanentProviderError as exc:
    print(exc.code)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=run_env(tmp_path),
        timeout=60,
    )
    assert out.stdout.strip() == "CertificateVerifyFailed", out.stderr
    assert users(ali) == []


def test_signature_is_checked(ali_mount: Mount, ali: FakeAliCloud) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali_mount.issue("inline")
    assert ali.last_request is not None
    method, path, query, headers, body = ali.last_request
    assert headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=")
    secret = ali.account.secret_for
    assert verify(method, path, query, headers, body, secret) == ali.root_key.key_id
    for changed in (
        (method, path, query + "&Extra=1", headers, body),
        (method, path, query, {**headers, "x-acs-action": "DeleteUser"}, body),
        (method, path, query, headers, b"UserName=other"),
    ):
        with pytest.raises(SignatureError) as info:
            verify(*changed, secret)
        assert info.value.code == "SignatureDoesNotMatch"
    # Replayed as it was: the nonce was used already.
    ctx = ssl.create_default_context(cafile=ali.ca_bundle)
    conn = http.client.HTTPSConnection(ali.host, ali.port, context=ctx, timeout=10)
    conn.request(method, f"{path}?{query}", body=body, headers=headers)
    reply = conn.getresponse()
    assert reply.status == 400 and json.loads(reply.read())["Code"] == "SignatureNonceUsed"
    conn.close()


def test_secrets_never_logged(
    ali_mount: Mount, ali: FakeAliCloud, caplog: pytest.LogCaptureFixture, role_arn: str
) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali_mount.write_role("sts", role_arn=role_arn)
    with caplog.at_level(logging.DEBUG):
        ram = ali_mount.issue("inline")
        sts = ali_mount.issue("sts")
        ali_mount.rotate_root()
        ali_mount.engine.revoke(ram.lease_id)
    text = caplog.text
    assert caplog.records  # the engine did log the operations
    for secret in (ram.data["secret_key"], sts.data["secret_key"], sts.data["security_token"]):
        assert secret not in text
    assert ali.root_key.secret not in text


# -- permissions, import ---------------------------------------------------------------------
def test_permission_list_covers_every_call() -> None:
    package = ROOT / "dynsecrets" / "providers" / "alicloud"
    called = set()
    for source in package.glob("*.py"):
        called |= set(re.findall(r"\.(?:call|attempt|run)\(\s*\"(\w+)\"", source.read_text()))
    assert called, "no calls found: the scan is broken"
    # verify=true also reads the root user's groups' policies (ram:ListPoliciesForGroup).
    listed = {p.split(":", 1)[1] for p in PERMISSIONS + VERIFY_PERMISSIONS}
    assert called == listed, (sorted(called - listed), sorted(listed - called))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## AliCloud") :]
    for permission in PERMISSIONS:
        assert f"`{permission}`" in section, permission


def test_import_loads_no_alibaba_module(tmp_path: Path) -> None:
    code = (
        "import sys, dynsecrets; dynsecrets.Engine; import dynsecrets.providers.alicloud; "
        "print([m for m in sys.modules if m.startswith(('alibabacloud', 'Tea', 'darabonba'))])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=run_env(tmp_path),
        timeout=60,
    )
    assert out.stdout.strip() == "[]", out.stderr
