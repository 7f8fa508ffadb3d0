"""config/root role_arn: every call is made with temporary credentials of that role,
refreshed on the injected clock before they expire; STS fallback endpoints. Checked
against moto, which keeps one state per account, so the role's account is really used."""

from __future__ import annotations

import math
import socket
import time
from typing import Any

import boto3
import pytest

from dynsecrets import ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, ValidationError
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY, iam_users

OTHER = "111111111111"
ROOT_ROLE = f"arn:aws:iam::{OTHER}:role/dynsecrets-root"


def _other_iam(moto: MotoServer) -> Any:
    creds = moto.client("sts").assume_role(RoleArn=ROOT_ROLE, RoleSessionName="test-view")[
        "Credentials"
    ]
    return boto3.client(
        "iam",
        endpoint_url=moto.url,
        region_name="us-west-2",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _dead_url() -> str:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _assumes(faults: AWSFaults) -> list[dict[str, Any]]:
    return [params for op, params in faults.requests if op == "AssumeRole"]


def test_every_call_uses_the_assumed_role(
    aws_mount: Mount, moto_server: MotoServer, iam: Any, aws_faults: AWSFaults
) -> None:
    aws_mount.configure(
        **moto_server.config("us-west-2"),
        role_arn=ROOT_ROLE,
        external_id="ext-root",
        role_session_name="dynsecrets-prod",
    )
    assert aws_mount.read_config()["role_arn"] == ROOT_ROLE
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    other = _other_iam(moto_server)
    [name] = iam_users(other)  # made in the role's account ...
    assert iam_users(iam) == []  # ... not in the base credential's
    assert [
        k["AccessKeyId"] for k in other.list_access_keys(UserName=name)["AccessKeyMetadata"]
    ] == [lease.data["access_key"]]
    [assume] = _assumes(aws_faults)
    assert assume["RoleArn"] == ROOT_ROLE and assume["ExternalId"] == "ext-root"
    assert assume["RoleSessionName"] == "dynsecrets-prod" and assume["DurationSeconds"] == 3600
    aws_mount.engine.revoke(lease.lease_id)
    assert iam_users(other) == []


def test_credentials_are_refreshed_before_they_expire(
    aws_mount: Mount, moto_server: MotoServer, aws_faults: AWSFaults, aws_clock: ManualClock
) -> None:
    aws_mount.configure(**moto_server.config("us-west-2"), role_arn=ROOT_ROLE)
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_mount.issue("ec2")
    aws_mount.issue("ec2")
    assert len(_assumes(aws_faults)) == 1  # one session serves every call
    assert _assumes(aws_faults)[0]["RoleSessionName"] == "dynsecrets"  # the default name
    aws_clock.advance(30 * 60)  # 30 min of the hour left: still good
    aws_mount.issue("ec2")
    assert len(_assumes(aws_faults)) == 1
    aws_clock.advance(21 * 60)  # 9 min left: refreshed before the next call is signed
    aws_mount.issue("ec2")
    assert len(_assumes(aws_faults)) == 2
    aws_mount.issue("ec2")
    assert len(_assumes(aws_faults)) == 2  # the new session is good for another hour


def test_refresh_failure_is_a_typed_error_naming_the_role(
    aws_mount: Mount, moto_server: MotoServer, aws_faults: AWSFaults, aws_clock: ManualClock
) -> None:
    aws_mount.configure(**moto_server.config("us-west-2"), role_arn=ROOT_ROLE)
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_faults.error("AssumeRole", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match=rf"cannot assume {ROOT_ROLE} \(role_arn\)"):
        aws_mount.issue("ec2")
    assert iam_users(_other_iam(moto_server)) == []
    assert aws_mount.issue("ec2").data["access_key"]  # allowed again: works


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"role_arn": "arn:aws:iam::123:role/x"}, "role_arn"),
        ({"role_arn": "arn:aws:iam::123456789012:user/x"}, "role_arn"),
        ({"external_id": "abc"}, "external_id"),
        ({"role_session_name": "abc"}, "role_session_name"),
        ({"role_arn": ROOT_ROLE, "role_session_name": "a"}, "role_session_name"),
        ({"role_arn": ROOT_ROLE, "external_id": "a b"}, "external_id"),
        ({"sts_region": "mars"}, "sts_region"),
        ({"sts_fallback_endpoints": ["http://127.0.0.1:1"]}, "sts_fallback_regions"),
        ({"sts_fallback_regions": ["us-east-1"]}, "sts_fallback_regions"),
        (
            {"sts_fallback_endpoints": ["ftp://x"], "sts_fallback_regions": ["us-east-1"]},
            "sts_fallback_endpoints",
        ),
        (
            {"sts_fallback_endpoints": ["http://x:1"], "sts_fallback_regions": ["nowhere"]},
            "sts_fallback_regions",
        ),
    ],
)
def test_bad_root_config_names_the_field(
    aws_mount: Mount, moto_server: MotoServer, fields: dict[str, Any], field: str
) -> None:
    before = aws_mount.read_config()
    with pytest.raises(ValidationError) as info:
        aws_mount.configure(**moto_server.config("us-west-2"), **fields)
    assert info.value.field == field
    assert aws_mount.read_config() == before


def test_fallback_lengths_message(aws_mount: Mount, moto_server: MotoServer) -> None:
    with pytest.raises(ValidationError, match="has 0 regions for 1 sts_fallback_endpoints"):
        aws_mount.configure(
            **moto_server.config("us-west-2"), sts_fallback_endpoints="http://127.0.0.1:1"
        )


def test_rotate_root_refuses_a_role_without_keys(aws_mount: Mount, moto_server: MotoServer) -> None:
    config = moto_server.config("us-west-2")
    del config["access_key"], config["secret_key"]
    aws_mount.configure(**config, role_arn=ROOT_ROLE)
    with pytest.raises(PermanentProviderError, match="nothing to rotate") as info:
        aws_mount.rotate_root()
    assert info.value.code == "NothingToRotate" and info.value.operation == "rotate_root"


def test_rotate_root_with_a_role_rotates_the_base_key(
    aws_mount: Mount, moto_server: MotoServer, iam: Any
) -> None:
    iam.create_user(UserName="base")
    key = iam.create_access_key(UserName="base")["AccessKey"]
    aws_mount.configure(
        **{
            **moto_server.config("us-west-2"),
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
            "role_arn": ROOT_ROLE,
        }
    )
    out = aws_mount.rotate_root()
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="base")["AccessKeyMetadata"]]
    assert keys == [out["access_key"]] != [key["AccessKeyId"]]
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_mount.issue("ec2")  # the new base key assumes the role as before
    assert len(iam_users(_other_iam(moto_server))) == 1


def test_sts_falls_back_when_an_endpoint_is_unreachable(
    aws_mount: Mount, moto_server: MotoServer, aws_faults: AWSFaults
) -> None:
    dead = _dead_url()
    aws_mount.configure(
        **{
            **moto_server.config("us-west-2"),
            "sts_endpoint": dead,
            "sts_fallback_endpoints": [dead, moto_server.url],
            "sts_fallback_regions": ["us-east-1", "eu-west-1"],
            "role_arn": ROOT_ROLE,
        }
    )
    aws_mount.write_role("app", credential_type="assumed_role", role_arns=[ROOT_ROLE])
    lease = aws_mount.issue("app")
    assert lease.data["security_token"]
    # Two AssumeRole calls (the root session, then the lease) each tried three endpoints.
    assert aws_faults.calls.count("AssumeRole") == 6


def test_sts_falls_back_on_5xx_but_not_on_a_refusal(
    aws_mount: Mount, moto_server: MotoServer, aws_faults: AWSFaults
) -> None:
    aws_mount.configure(
        **moto_server.config("us-west-2"),
        sts_fallback_endpoints=[moto_server.url],
        sts_fallback_regions=["us-west-2"],
    )
    aws_mount.write_role("app", credential_type="assumed_role", role_arns=[ROOT_ROLE])
    aws_faults.error("AssumeRole", "ServiceUnavailable", status=503)
    assert aws_mount.issue("app").data["security_token"]
    assert aws_faults.calls.count("AssumeRole") == 2
    aws_faults.calls.clear()
    aws_faults.error("AssumeRole", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="AccessDenied"):
        aws_mount.issue("app")
    assert aws_faults.calls.count("AssumeRole") == 1  # another endpoint would say the same


def test_sts_types_that_refuse_temporary_credentials(
    aws_mount: Mount, moto_server: MotoServer
) -> None:
    aws_mount.write_role("fed", credential_type="federation_token", policy_document=EC2_POLICY)
    with pytest.raises(ValidationError, match="federation_token role 'fed' cannot") as info:
        aws_mount.configure(**moto_server.config("us-west-2"), role_arn=ROOT_ROLE)
    assert info.value.field == "role_arn"
    aws_mount.delete_role("fed")
    aws_mount.configure(**moto_server.config("us-west-2"), role_arn=ROOT_ROLE)
    with pytest.raises(ValidationError, match="GetSessionToken") as info:
        aws_mount.write_role("st", credential_type="session_token")
    assert info.value.field == "role_arn"


def test_role_chaining_caps_assumed_role_leases_at_one_hour(
    aws_mount: Mount, moto_server: MotoServer, aws_faults: AWSFaults, aws_clock: ManualClock
) -> None:
    aws_mount.configure(**moto_server.config("us-west-2"), role_arn=ROOT_ROLE)
    aws_mount.write_role(
        "app", credential_type="assumed_role", role_arns=[ROOT_ROLE], max_sts_ttl="4h"
    )
    lease = aws_mount.issue("app", ttl="3h")
    # moto stamps the expiry on the real clock; the engine's clock stood still
    # since the fixture started, so it sees up to that much more than the hour.
    behind = math.ceil(time.time() - aws_clock.now())
    assert 3600 - 60 <= lease.lease_duration <= 3600 + behind
    assert any("assumed role (config role_arn)" in w for w in lease.warnings)
    _root_session, lease_session = _assumes(aws_faults)
    assert lease_session["DurationSeconds"] == 3600
