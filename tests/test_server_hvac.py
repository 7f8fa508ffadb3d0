"""Issue 17 with hvac, the Python client nobody here wrote: the AWS helpers, leases,
auth and policies, bad input, and 50 clients at once, against `serve` and moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from dynsecrets.testing.aws import MotoServer

from ._serve import Server, cli, new_token, request, serving
from .conftest import EC2_POLICY, iam_users

pytestmark = [pytest.mark.moto, pytest.mark.slow]

EC2_ONLY = 'path "aws-us-west-2/creds/ec2" {\n  capabilities = ["read"]\n}\n'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "store.db") as s:
        yield s


@pytest.fixture
def root(server: Server) -> str:
    return new_token(server.store, "root")


def client(server: Server, token: str | None) -> hvac.Client:
    return hvac.Client(url=server.url, token=token, timeout=60)


@pytest.fixture
def aws(server: Server, root: str, moto_server: MotoServer) -> hvac.Client:
    """An aws mount at aws-us-west-2/ with role ec2, set up through hvac."""
    c = client(server, root)
    c.sys.enable_secrets_engine(backend_type="aws", path="aws-us-west-2")
    cfg = moto_server.config("us-west-2")
    c.secrets.aws.configure_root_iam_credentials(
        access_key=cfg["access_key"],
        secret_key=cfg["secret_key"],
        region="us-west-2",
        iam_endpoint=cfg["iam_endpoint"],
        sts_endpoint=cfg["sts_endpoint"],
        mount_point="aws-us-west-2",
    )
    c.secrets.aws.create_or_update_role(
        "ec2", "iam_user", policy_document=EC2_POLICY, mount_point="aws-us-west-2"
    )
    c.secrets.aws.create_or_update_role(
        "other", "iam_user", policy_document=EC2_POLICY, mount_point="aws-us-west-2"
    )
    return c


def test_hvac_workflow(aws: hvac.Client, iam: Any) -> None:
    mounts = aws.sys.list_mounted_secrets_engines()["data"]
    assert mounts["aws-us-west-2/"]["type"] == "aws"
    roles = aws.secrets.aws.list_roles(mount_point="aws-us-west-2")["data"]["keys"]
    assert roles == ["ec2", "other"]
    role = aws.secrets.aws.read_role("ec2", mount_point="aws-us-west-2")["data"]
    assert role["credential_type"] == "iam_user"
    creds = aws.secrets.aws.generate_credentials("ec2", mount_point="aws-us-west-2", ttl="15m")
    assert creds["lease_duration"] == 900 and creds["renewable"] is True
    [user] = iam_users(iam)
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert keys[0]["AccessKeyId"] == creds["data"]["access_key"]

    lease_id = creds["lease_id"]
    renewed = aws.sys.renew_lease(lease_id, increment=1800)
    assert renewed["lease_id"] == lease_id and renewed["lease_duration"] == 1800
    looked = aws.sys.read_lease(lease_id)["data"]
    assert looked["id"] == lease_id and looked["renewable"] is True
    listed = aws.sys.list_leases("aws-us-west-2/creds/ec2")["data"]["keys"]
    assert listed == [lease_id.rsplit("/", 1)[1]]
    assert aws.sys.list_leases("aws-us-west-2/creds")["data"]["keys"] == ["ec2/"]
    aws.sys.revoke_lease(lease_id)
    assert iam_users(iam) == []
    aws.sys.revoke_lease(lease_id)  # gone: still a success, as in Vault
    tune = aws.sys.read_mount_configuration("aws-us-west-2")["data"]
    assert tune["default_lease_ttl"] == 768 * 3600
    aws.sys.tune_mount_configuration("aws-us-west-2", default_lease_ttl="1h")
    assert aws.sys.read_mount_configuration("aws-us-west-2")["data"]["default_lease_ttl"] == 3600
    aws.secrets.aws.delete_role("other", mount_point="aws-us-west-2")
    aws.sys.disable_secrets_engine("aws-us-west-2")
    assert "aws-us-west-2/" not in aws.sys.list_mounted_secrets_engines()["data"]


def test_auth_and_policies(server: Server, aws: hvac.Client, iam: Any, root: str) -> None:
    # No token, a wrong token: 403, nothing issued.
    for token in (None, "dst.not-a-token"):
        status, body = request(server.url, "GET", "aws-us-west-2/creds/ec2", token)
        assert status == 403 and body["errors"]
    with pytest.raises(hvac.exceptions.Forbidden):
        client(server, "wrong").secrets.aws.generate_credentials("ec2", mount_point="aws-us-west-2")
    assert iam_users(iam) == []

    cli(server.store, "policy", "write", "ec2-only", "-", stdin=EC2_ONLY)
    token = new_token(server.store, "ec2-only", ttl="2h")
    limited = client(server, token)
    creds = limited.secrets.aws.generate_credentials("ec2", mount_point="aws-us-west-2")
    # The lease may not outlive the token that asked for it.
    assert 7190 <= creds["lease_duration"] <= 7200
    assert len(iam_users(iam)) == 1
    refused = [
        ("GET", "aws-us-west-2/creds/other"),
        ("GET", "aws-us-west-2/config/root"),
        ("POST", "aws-us-west-2/roles/ec2"),
        ("GET", "sys/mounts"),
        ("POST", "sys/leases/revoke-prefix/aws-us-west-2"),
        ("POST", "sys/leases/renew"),
        ("POST", "auth/token/create"),
    ]
    for method, path in refused:
        status, body = request(server.url, method, path, token, {"lease_id": creds["lease_id"]})
        assert (status, body) == (403, {"errors": ["permission denied"]}), path
    assert len(iam_users(iam)) == 1
    caps = limited.sys.get_capabilities(["aws-us-west-2/creds/ec2", "sys/mounts"])["data"]
    assert caps["aws-us-west-2/creds/ec2"] == ["read"] and caps["sys/mounts"] == ["deny"]
    assert limited.lookup_token()["data"]["policies"] == ["ec2-only"]

    # Revoking the token: it stops working at once and its lease is revoked with it.
    accessor = limited.lookup_token()["data"]["accessor"]
    out = cli(server.store, "token", "revoke", "-accessor", accessor)
    assert "1 lease(s)" in out
    assert iam_users(iam) == []
    with pytest.raises(hvac.exceptions.Forbidden):
        limited.lookup_token()

    # An orphan token owns nothing: revoking it leaves its lease to its own TTL.
    orphan = new_token(server.store, "ec2-only", ttl="1h", orphan=True)
    creds = client(server, orphan).secrets.aws.generate_credentials(
        "ec2", mount_point="aws-us-west-2"
    )
    assert creds["lease_duration"] == 768 * 3600
    client(server, orphan).auth.token.revoke_self()
    assert len(iam_users(iam)) == 1
    aws.sys.revoke_lease(creds["lease_id"])


def test_child_tokens_go_with_their_parent(server: Server, aws: hvac.Client, iam: Any) -> None:
    cli(server.store, "policy", "write", "ec2-only", "-", stdin=EC2_ONLY)
    minter = 'path "auth/token/create" {\n  capabilities = ["update"]\n}\n'
    cli(server.store, "policy", "write", "minter", "-", stdin=minter)
    parent_token = new_token(server.store, "root")
    parent = client(server, parent_token)
    child = parent.auth.token.create(policies=["ec2-only", "minter"], ttl="1h")["auth"]
    kid = client(server, child["client_token"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match="policies its parent holds"):
        kid.auth.token.create(policies=["root"])
    grandchild = kid.auth.token.create(policies=["ec2-only"])["auth"]
    assert grandchild["lease_duration"] <= 3600  # never outlives its parent
    kid.secrets.aws.generate_credentials("ec2", mount_point="aws-us-west-2")
    assert len(iam_users(iam)) == 1
    parent.auth.token.revoke_self()
    for orphaned in (kid, client(server, grandchild["client_token"])):
        with pytest.raises(hvac.exceptions.Forbidden):
            orphaned.lookup_token()
    # The sweep that revokes a dead token's leases runs in the server (1 s interval);
    # wait for its effect within a bound, polling the cloud, not sleeping blindly.
    for _ in range(400):
        if not iam_users(iam):
            break
        request(server.url, "GET", "sys/health")  # a pause that is also a request
    assert iam_users(iam) == []


BAD: list[tuple[str, str, Any, int, str]] = [
    ("POST", "aws-us-west-2/roles/x", b"{not json", 400, "failed to decode JSON"),
    ("POST", "aws-us-west-2/roles/x", b"[1, 2]", 400, "expected a JSON object"),
    ("POST", "aws-us-west-2/roles/x", {"credential_type": 5}, 400, "credential_type"),
    (
        "POST",
        "aws-us-west-2/roles/x",
        {"credential_type": "iam_user", "iam_tags": 7},
        400,
        "iam_tags",
    ),
    ("GET", "aws-us-west-2/creds/ec2?ttl=forever", None, 400, "ttl"),
    ("POST", "sys/mounts/x", {"config": {}}, 400, "type"),
    ("POST", "sys/mounts/bad%20path", {"type": "aws"}, 400, "path"),
    ("POST", "sys/mounts/y", {"type": "nosuch"}, 400, "nosuch"),
    ("POST", "sys/leases/renew", {"lease_id": "aws-us-west-2/creds/ec2/nope"}, 400, "nope"),
    ("POST", "sys/leases/renew", {}, 400, "lease_id"),
    ("GET", "aws-us-west-2/nowhere", None, 404, ""),
    ("GET", "nomount/creds/x", None, 404, "nomount"),
    ("GET", "sys/nothing", None, 404, "sys/nothing"),
    ("PATCH", "aws-us-west-2/roles/ec2", {}, 405, "unsupported"),
    ("DELETE", "sys/health", None, 405, "unsupported"),
]


def test_bad_input_gets_vaults_status_codes(
    server: Server, aws: hvac.Client, root: str, iam: Any
) -> None:
    for method, path, body, status, text in BAD:
        got, reply = request(server.url, method, path, root, body)
        assert got == status, (path, reply)
        assert isinstance(reply["errors"], list) and text in " ".join(reply["errors"]), path
        assert "Traceback" not in json.dumps(reply)
    assert iam_users(iam) == []
    assert aws.secrets.aws.list_roles(mount_point="aws-us-west-2")["data"]["keys"] == [
        "ec2",
        "other",
    ]


def test_huge_bodies_are_refused(tmp_path: Path) -> None:
    # A small limit, so the refused body still fits the socket buffers: the client
    # then reads the 413 instead of failing on a write the server never reads.
    with serving(tmp_path / "store.db", "-max-request-size=1024", "-no-worker") as server:
        token = new_token(server.store, "root")
        status, body = request(server.url, "POST", "sys/mounts/f", token, b" " * 4096)
        assert status == 413 and "1024 bytes" in body["errors"][0]
        status, _ = request(server.url, "POST", "sys/mounts/f", token, {"type": "fake"})
        assert status == 204


def test_fifty_clients_issue_and_revoke_at_once(
    server: Server, aws: hvac.Client, root: str, iam: Any
) -> None:
    def one(i: int) -> str:
        c = client(server, root)
        creds = c.secrets.aws.generate_credentials("ec2", mount_point="aws-us-west-2")
        if i % 2:
            c.sys.revoke_lease(creds["lease_id"])
        return str(creds["lease_id"])

    with ThreadPoolExecutor(50) as pool:
        lease_ids = list(pool.map(one, range(50)))
    assert len(set(lease_ids)) == 50
    kept = sorted(lid for i, lid in enumerate(lease_ids) if not i % 2)
    listed = aws.sys.list_leases("aws-us-west-2/creds/ec2")["data"]["keys"]
    assert sorted(f"aws-us-west-2/creds/ec2/{k}" for k in listed) == kept
    assert len(iam_users(iam)) == 25
    aws.sys.revoke_prefix("aws-us-west-2/creds/ec2")
    assert iam_users(iam) == []
    status, _ = request(server.url, "LIST", "sys/leases/lookup/aws-us-west-2/creds/ec2", root)
    assert status == 404


def test_the_tokens_display_name_is_who_asked(server: Server, aws: hvac.Client) -> None:
    made = aws.auth.token.create(policies=["root"], display_name="deploy", ttl="1h")
    c = client(server, made["auth"]["client_token"])
    creds = c.secrets.aws.generate_credentials("ec2", mount_point="aws-us-west-2")
    looked = c.sys.read_lease(creds["lease_id"])["data"]
    accessor = made["auth"]["accessor"]
    assert looked["actor"] == f"deploy (token:{accessor})" and looked["age"] >= 0
    c.sys.revoke_lease(creds["lease_id"])


def test_static_roles_through_hvac(aws: hvac.Client, iam: Any) -> None:
    """hvac has no static-role helpers: its generic read/write reach the same paths."""
    iam.create_user(UserName="static-app")
    aws.write("aws-us-west-2/static-roles/app", username="static-app", rotation_period="24h")
    assert aws.list("aws-us-west-2/static-roles")["data"]["keys"] == ["app"]
    first = aws.read("aws-us-west-2/static-creds/app")["data"]
    keys = iam.list_access_keys(UserName="static-app")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [first["access_key"]]
    assert first["ttl"] > 0 and first["expiration"]
    shown = aws.write("aws-us-west-2/static-roles/app/rotate")["data"]
    assert shown["previous_secret_ids"] == [first["access_key"]]
    second = aws.read("aws-us-west-2/static-creds/app")["data"]
    assert second["access_key"] == shown["secret_id"] != first["access_key"]
    aws.delete("aws-us-west-2/static-roles/app")
    assert iam.list_access_keys(UserName="static-app")["AccessKeyMetadata"] == []
