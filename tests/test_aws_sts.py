"""STS credential types against moto: assumed_role, federation_token, session_token."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.errors import LeaseNotFound, LeaseNotRenewable, ValidationError
from dynsecrets.testing.aws import AWSFaults

from .conftest import EC2_POLICY, READ_ONLY

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def role_arns(iam: Any) -> list[str]:
    return [
        iam.create_role(RoleName=n, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        for n in ("app-a", "app-b")
    ]


def test_assumed_role(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults, iam: Any
) -> None:
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn=READ_ONLY)
    iam.put_group_policy(
        GroupName="readers", PolicyName="inline", PolicyDocument=json.dumps(EC2_POLICY)
    )
    aws_mount.write_role(
        "deploy",
        credential_type="assumed_role",
        role_arns=role_arns[:1],
        policy_document=EC2_POLICY,
        iam_groups=["readers"],
        external_id="ext-123",
        session_tags={"team": "data"},
        default_sts_ttl="30m",
        max_sts_ttl="2h",
    )
    lease = aws_mount.issue("deploy")
    assert lease.data["security_token"] and lease.data["access_key"].startswith("ASIA")
    assert lease.data["arn"].startswith(
        "arn:aws:sts::123456789012:assumed-role/app-a/dynsecrets-deploy-"
    )
    assert 1790 <= lease.lease_duration <= 1800
    assert not lease.renewable and not lease.revocable
    [sent] = [p for op, p in aws_faults.requests if op == "AssumeRole"]
    assert (
        sent["RoleArn"] == role_arns[0]
        and sent["DurationSeconds"] == 1800
        and sent["ExternalId"] == "ext-123"
    )
    assert sent["Tags.member.1.Key"] == "team" and sent["PolicyArns.member.1.arn"] == READ_ONLY
    policy = json.loads(sent["Policy"])
    assert len(policy["Statement"]) == 2  # the role's own statement and the group's inline one
    assert len(sent["RoleSessionName"]) <= 64
    assert lease.environ()["AWS_SESSION_TOKEN"] == lease.data["security_token"]
    with pytest.raises(LeaseNotRenewable):
        aws_mount.engine.renew(lease.lease_id)
    aws_mount.engine.revoke(lease.lease_id)  # ends the lease; AWS cannot revoke the session
    with pytest.raises(LeaseNotFound):
        aws_mount.engine.lookup(lease.lease_id)


def test_role_arn_choice(aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults) -> None:
    aws_mount.write_role("two", credential_type="assumed_role", role_arns=role_arns)
    with pytest.raises(ValidationError, match="has 2 role_arns") as info:
        aws_mount.issue("two")
    assert info.value.field == "role_arn"
    with pytest.raises(ValidationError, match="not one of"):
        aws_mount.issue("two", role_arn="arn:aws:iam::123456789012:role/other")
    lease = aws_mount.issue("two", role_arn=role_arns[1], role_session_name="my-session")
    assert lease.data["arn"].endswith("assumed-role/app-b/my-session")
    assert "AssumeRole" in aws_faults.calls


def test_sts_ttl_clamps_are_reported(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults
) -> None:
    aws_mount.write_role(
        "r", credential_type="assumed_role", role_arns=role_arns[:1], max_sts_ttl="1h"
    )
    lease = aws_mount.issue("r", ttl="5h")
    assert 3590 <= lease.lease_duration <= 3600
    assert any("max_sts_ttl" in w for w in lease.warnings)
    short = aws_mount.issue("r", ttl="1m")
    assert any("900s" in w for w in short.warnings)
    aws_mount.write_role("long", credential_type="assumed_role", role_arns=role_arns[:1])
    capped = aws_mount.issue("long", ttl="20h")
    assert 12 * 3600 - 10 <= capped.lease_duration <= 12 * 3600
    assert capped.warnings
    durations = [p["DurationSeconds"] for op, p in aws_faults.requests if op == "AssumeRole"]
    assert durations == [3600, 900, 43200]


def test_federation_token(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role(
        "fed-role-with-a-long-name",
        credential_type="federation_token",
        policy_document=EC2_POLICY,
        policy_arns=[READ_ONLY],
    )
    lease = aws_mount.issue("fed-role-with-a-long-name", ttl="2h")
    [sent] = [p for op, p in aws_faults.requests if op == "GetFederationToken"]
    assert 2 <= len(sent["Name"]) <= 32 and sent["DurationSeconds"] == 7200
    assert lease.data["security_token"] and "federated-user" in lease.data["arn"]
    assert not lease.renewable


def test_session_token_with_mfa(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    serial = "arn:aws:iam::123456789012:mfa/operator"
    aws_mount.write_role("st", credential_type="session_token", mfa_serial_number=serial)
    with pytest.raises(ValidationError) as info:
        aws_mount.issue("st")
    assert info.value.field == "mfa_code"
    with pytest.raises(ValidationError):
        aws_mount.issue("st", mfa_code="12ab56")
    lease = aws_mount.issue("st", mfa_code="123456")
    [sent] = [p for op, p in aws_faults.requests if op == "GetSessionToken"]
    assert (
        sent["SerialNumber"] == serial
        and sent["TokenCode"] == "123456"
        and sent["DurationSeconds"] == 3600
    )
    assert lease.data["security_token"]
    assert aws_mount.engine.leases()[0].renewable is False


def test_sts_error_mapping(aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults) -> None:
    from dynsecrets.errors import PermanentProviderError

    aws_mount.write_role("r", credential_type="assumed_role", role_arns=role_arns[:1])
    aws_faults.error("AssumeRole", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="AssumeRole failed: AccessDenied") as info:
        aws_mount.issue("r")
    assert info.value.code == "AccessDenied" and aws_mount.engine.leases() == []
