"""STS credential types against moto: assumed_role, federation_token, session_token."""

from __future__ import annotations

import json
import re
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
    """app-a allows AWS's longest session (12 h); app-b keeps the default of 1 h."""
    return [
        iam.create_role(
            RoleName=n, AssumeRolePolicyDocument=json.dumps(TRUST), MaxSessionDuration=limit
        )["Role"]["Arn"]
        for n, limit in (("app-a", 43200), ("app-b", 3600))
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
    # The lease ends with the token: AWS's expiry, read against the test's ManualClock
    # (started before moto's first reply, hence the slack).
    assert abs(lease.lease_duration - 1800) <= 10
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
    assert abs(lease.lease_duration - 3600) <= 10
    assert lease.warnings == ("TTL 18000s was lowered to 3600s, the role's max_sts_ttl",)
    short = aws_mount.issue("r", ttl="1m")
    assert short.warnings == ("TTL 60s was raised to 900s, the shortest credential AWS STS issues",)
    aws_mount.write_role("long", credential_type="assumed_role", role_arns=role_arns[:1])
    capped = aws_mount.issue("long", ttl="20h")
    assert abs(capped.lease_duration - 12 * 3600) <= 10
    # One event, one warning: the engine's clamp to AWS's 12 h, not repeated here.
    assert capped.warnings == ("TTL of 72000s exceeded the effective max_ttl; clamped to 43200s",)
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
    # As much of the role as fits next to 8 random characters, not the role dropped.
    assert len(sent["Name"]) == 32 and sent["DurationSeconds"] == 7200
    assert re.fullmatch(r"dynsecrets-fed-role-wit-[a-z0-9]{8}", sent["Name"]), sent["Name"]
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


# -- issue 13: defaults, Vault's response shape, MaxSessionDuration -------------------------
@pytest.mark.parametrize(
    "role",
    [
        {"credential_type": "session_token"},
        {"credential_type": "federation_token", "policy_document": EC2_POLICY},
        {"credential_type": "assumed_role"},
    ],
)
def test_sts_lease_without_ttl_lasts_an_hour_with_no_warning(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults, role: dict[str, Any]
) -> None:
    if role["credential_type"] == "assumed_role":
        role = {**role, "role_arns": role_arns[:1]}
    aws_mount.write_role("r", **role)
    lease = aws_mount.issue("r")  # the mount's default is 768h: not what STS uses
    assert lease.warnings == ()
    assert abs(lease.lease_duration - 3600) <= 10
    assert [p["DurationSeconds"] for _, p in aws_faults.requests if "DurationSeconds" in p] == [
        3600
    ]
    assert lease.data["ttl"] == 3600


def test_default_sts_ttl_is_the_default(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults
) -> None:
    aws_mount.write_role("r", credential_type="session_token", default_sts_ttl="2h")
    lease = aws_mount.issue("r")
    assert lease.warnings == () and abs(lease.lease_duration - 7200) <= 10
    aws_mount.write_role("capped", credential_type="session_token", max_sts_ttl="30m")
    capped = aws_mount.issue("capped")
    assert capped.warnings == () and abs(capped.lease_duration - 1800) <= 10


def test_sts_responses_have_vaults_shape(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults
) -> None:
    aws_mount.write_role("ar", credential_type="assumed_role", role_arns=role_arns[:1])
    aws_mount.write_role("st", credential_type="session_token")
    assumed, session = aws_mount.issue("ar", ttl="30m"), aws_mount.issue("st", ttl="30m")
    for lease in (assumed, session):
        assert {"access_key", "secret_key", "security_token", "ttl"} <= set(lease.data)
        assert lease.data["ttl"] == 1800
        env = lease.environ()
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"
    assert assumed.data["arn"].startswith("arn:aws:sts::123456789012:assumed-role/app-a/")
    assert "arn" not in session.data


def test_assumed_role_is_clamped_to_max_session_duration(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults, aws_clock: Any
) -> None:
    aws_mount.write_role("b", credential_type="assumed_role", role_arns=role_arns[1:])
    lease = aws_mount.issue("b", ttl="3h")
    assert abs(lease.lease_duration - 3600) <= 10
    [warning] = lease.warnings
    assert "10800s was lowered to 3600s, the MaxSessionDuration of " + role_arns[1] in warning
    again = aws_mount.issue("b", ttl="2h")
    assert again.warnings and abs(again.lease_duration - 3600) <= 10
    assert aws_faults.calls.count("GetRole") == 1  # cached per role ARN
    aws_clock.advance(301)
    aws_mount.issue("b", ttl="2h")
    assert aws_faults.calls.count("GetRole") == 2  # the cache entry expired
    durations = [p["DurationSeconds"] for op, p in aws_faults.requests if op == "AssumeRole"]
    assert durations == [3600, 3600, 3600]


@pytest.mark.parametrize(("ttl", "field"), [("3h", "ttl"), (None, "max_sts_ttl")])
def test_max_session_duration_refusal_is_typed_when_get_role_is_denied(
    aws_mount: Mount,
    role_arns: list[str],
    aws_faults: AWSFaults,
    ttl: str | None,
    field: str,
) -> None:
    from dynsecrets.errors import InvalidTTL

    aws_mount.write_role(
        "b", credential_type="assumed_role", role_arns=role_arns[1:], default_sts_ttl="2h"
    )
    aws_faults.error("GetRole", "AccessDenied", status=403)
    aws_faults.error(
        "AssumeRole",
        "ValidationError",
        message="The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
    with pytest.raises(InvalidTTL) as info:
        aws_mount.issue("b", ttl=ttl)
    assert info.value.field == field
    assert "MaxSessionDuration" in str(info.value) and "max_sts_ttl" in str(info.value)
    assert aws_mount.engine.leases() == []
    # The denial is remembered (no GetRole per issue); a short enough ttl then works.
    lease = aws_mount.issue("b", ttl="1h")
    assert lease.warnings == () and aws_faults.calls.count("GetRole") == 1


def test_other_assume_role_validation_errors_stay_provider_errors(
    aws_mount: Mount, role_arns: list[str], aws_faults: AWSFaults
) -> None:
    from dynsecrets.errors import PermanentProviderError

    aws_mount.write_role("a", credential_type="assumed_role", role_arns=role_arns[:1])
    aws_faults.error("AssumeRole", "ValidationError", message="Policy is too large")
    with pytest.raises(PermanentProviderError, match="Policy is too large"):
        aws_mount.issue("a")


def test_federation_name_from_a_custom_template(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    config = {**aws_mount.read_config(), "secret_key": "moto-testing-secret"}
    aws_mount.configure(**{**config, "username_template": "{role}_{unix_time}_{random}"})
    aws_mount.write_role(
        "a-role-name-that-is-far-too-long-for-32",
        credential_type="federation_token",
        policy_arns=[READ_ONLY],
    )
    aws_mount.issue("a-role-name-that-is-far-too-long-for-32")
    [sent] = [p for op, p in aws_faults.requests if op == "GetFederationToken"]
    assert re.fullmatch(r"a-role-name-_\d{10}_[a-z0-9]{8}", sent["Name"]), sent["Name"]


def test_template_too_long_for_a_federation_name(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    config = {**aws_mount.read_config(), "secret_key": "moto-testing-secret"}
    long = "my-company-platform-{unix_time}-{role}-{random}"  # fits 64, never 32
    aws_mount.configure(**{**config, "username_template": long})
    provider = aws_mount.provider
    fed = {"credential_type": "federation_token", "policy_arns": [READ_ONLY]}
    with pytest.raises(ValidationError) as info:
        provider.check_mount({"username_template": long}, {"fed": fed})
    assert info.value.field == "username_template" and "'fed'" in str(info.value)
    provider.check_mount({"username_template": long}, {"u": {"credential_type": "iam_user"}})
    provider.check_mount(None, {"fed": fed})
    # The engine calls check_mount on write_role: refused before anything is stored.
    with pytest.raises(ValidationError) as info:
        aws_mount.write_role("fed", **fed)
    assert info.value.field == "username_template"
    assert aws_faults.calls == [] and aws_mount.roles() == []


# -- rules across config and roles (Provider.check_mount) --------------------------------


def test_sts_role_with_a_short_max_ttl_and_no_default(aws_mount: Mount) -> None:
    aws_mount.write_role("s", credential_type="session_token", max_ttl="30m")
    assert aws_mount.read_role("s")["max_ttl"] == 1800


def test_template_too_long_for_federation_refused_at_configure(aws_mount: Mount) -> None:
    aws_mount.write_role("fed", credential_type="federation_token", policy_arns=[READ_ONLY])
    config = {**aws_mount.read_config(), "secret_key": "moto-testing-secret"}
    with pytest.raises(ValidationError) as info:
        aws_mount.configure(
            **{**config, "username_template": "my-company-platform-{unix_time}-{role}-{random}"}
        )
    assert info.value.field == "username_template"


def test_federation_role_refused_when_the_template_cannot_fit(aws_mount: Mount) -> None:
    config = {**aws_mount.read_config(), "secret_key": "moto-testing-secret"}
    aws_mount.configure(
        **{**config, "username_template": "my-company-platform-{unix_time}-{role}-{random}"}
    )
    with pytest.raises(ValidationError) as info:
        aws_mount.write_role("fed", credential_type="federation_token", policy_arns=[READ_ONLY])
    assert info.value.field == "username_template" and aws_mount.roles() == []
