"""Who asked: the ``dynsecrets:actor`` tag on iam_user credentials (read back with a
separate client) and ``SourceIdentity`` on AssumeRole. moto ignores SourceIdentity, so
that one is checked in the request body as sent (AWSFaults records the serialized
parameters): the assertions fail if the parameter is missing."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.aws.names import actor_tag, source_identity
from dynsecrets.testing.aws import AWSFaults, MotoServer
from dynsecrets.testing.aws_policy import PolicyFront

from .conftest import EC2_POLICY, iam_users

ROLE_ARN = "arn:aws:iam::123456789012:role/app"


def _tags(iam: Any) -> dict[str, str]:
    [name] = iam_users(iam)
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}


def _assume_bodies(faults: AWSFaults) -> list[dict[str, Any]]:
    return [params for op, params in faults.requests if op == "AssumeRole"]


@pytest.mark.parametrize(
    ("actor", "tag"),
    [
        ("alice", "alice"),
        ("alice@example.com", "alice@example.com"),
        ("Jürgen Müller", "Jürgen Müller"),  # letters of any script and spaces are allowed
        ("山田 太郎", "山田 太郎"),
        ("ci\tbot <ci@x.io>; #7", "ci_bot _ci@x.io__ _7"),
        ("line\nbreak", "line_break"),
        ("a" * 300, "a" * 256),
    ],
)
def test_actor_tag_rules(actor: str, tag: str) -> None:
    assert actor_tag(actor) == tag


@pytest.mark.parametrize(
    ("actor", "identity"),
    [
        ("alice", "alice"),
        ("alice@example.com", "alice@example.com"),
        ("Jürgen Müller", "Jurgen_Muller"),  # accents dropped, space made _
        ("svc:deploy/prod", "svc_deploy_prod"),
        ("aws:x", "aws_x"),  # AWS refuses a SourceIdentity starting with aws:
        ("a" * 100, "a" * 64),
        ("山田", None),  # nothing of it is left: omitted, not "__"
        ("x", None),  # too short for AWS
        ("", None),
    ],
)
def test_source_identity_rules(actor: str, identity: str | None) -> None:
    assert source_identity(actor) == identity


def test_actor_is_tagged_on_the_user(aws_mount: Mount, iam: Any, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2", actor="alice@example.com")
    assert _tags(iam)["dynsecrets:actor"] == "alice@example.com"
    assert "TagUser" not in aws_faults.calls  # in CreateUser, as every other tag
    aws_mount.engine.revoke(lease.lease_id)


def test_odd_and_long_actors_are_sanitised(aws_mount: Mount, iam: Any) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2", actor="ci\tbot <ci@x.io>; " + "z" * 300)
    tag = _tags(iam)["dynsecrets:actor"]
    assert tag.startswith("ci_bot _ci@x.io__ z") and len(tag) == 256
    aws_mount.engine.revoke(lease.lease_id)


def test_no_actor_no_tag(aws_mount: Mount, iam: Any) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_mount.issue("ec2", actor="")
    assert "dynsecrets:actor" not in _tags(iam)


def test_actor_gives_way_to_a_role_with_45_tags(aws_mount: Mount, iam: Any) -> None:
    tags = {f"k{i}": "v" for i in range(45)}
    aws_mount.write_role(
        "ec2", credential_type="iam_user", policy_document=EC2_POLICY, iam_tags=tags
    )
    aws_mount.issue("ec2", actor="alice")
    got = _tags(iam)
    assert len(got) == 50 and "dynsecrets:actor" not in got  # AWS's limit; issue still works


def test_source_identity_on_assume_role(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("app", credential_type="assumed_role", role_arns=[ROLE_ARN])
    lease = aws_mount.issue("app", actor="Jürgen Müller")
    assert lease.data["security_token"] and not lease.warnings
    [body] = _assume_bodies(aws_faults)
    assert body["SourceIdentity"] == "Jurgen_Muller"
    aws_mount.issue("app", actor="山田")
    assert "SourceIdentity" not in _assume_bodies(aws_faults)[1]  # nothing valid: omitted


def test_denied_source_identity_is_retried_without_it_and_warned(
    aws_mount: Mount, aws_faults: AWSFaults
) -> None:
    """A trust policy without sts:SetSourceIdentity denies the whole AssumeRole: the
    lease is made without it (it worked so before) and says what to allow."""
    aws_mount.write_role("app", credential_type="assumed_role", role_arns=[ROLE_ARN])
    aws_faults.error("AssumeRole", "AccessDenied", status=403)
    lease = aws_mount.issue("app", actor="alice")
    assert lease.data["security_token"]
    assert any("sts:SetSourceIdentity" in w for w in lease.warnings)
    first, second = _assume_bodies(aws_faults)
    assert first["SourceIdentity"] == "alice" and "SourceIdentity" not in second


def test_denied_twice_is_the_real_error(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("app", credential_type="assumed_role", role_arns=[ROLE_ARN])
    aws_faults.error("AssumeRole", "AccessDenied", status=403, times=2)
    with pytest.raises(PermanentProviderError, match="AccessDenied"):
        aws_mount.issue("app", actor="alice")
    assert len(_assume_bodies(aws_faults)) == 2
    aws_faults.error("AssumeRole", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="AccessDenied"):
        aws_mount.issue("app", actor="")  # no SourceIdentity: nothing to retry without
    assert len(_assume_bodies(aws_faults)) == 3


def test_source_identity_reaches_the_server(aws_mount: Mount, moto_server: MotoServer) -> None:
    """What went over the wire, as the server received it (PolicyFront records every
    request's parameters), not only what botocore serialized."""
    with PolicyFront(moto_server.url) as front:
        aws_mount.configure(**front.config("us-west-2"))
        aws_mount.write_role("app", credential_type="assumed_role", role_arns=[ROLE_ARN])
        aws_mount.issue("app", actor="deploy-bot@ci")
        [received] = front.received("AssumeRole")
    assert received["SourceIdentity"] == "deploy-bot@ci"
    assert received["RoleArn"] == ROLE_ARN


def test_acting_as_through_the_path_api(aws_mount: Mount, iam: Any) -> None:
    engine = aws_mount.engine
    engine.write("aws-us-west-2/roles/ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    with engine.acting_as("svc:deploy"):
        lease = engine.read("aws-us-west-2/creds/ec2")
    assert _tags(iam)["dynsecrets:actor"] == "svc:deploy"
    engine.revoke(lease.lease_id)
