"""AWS role and config validation: Vault's rules plus the real AWS limits moto ignores."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import ValidationError
from dynsecrets.providers.aws.names import render

from .conftest import EC2_POLICY, READ_ONLY, iam_users

ROLE_ARN = "arn:aws:iam::123456789012:role/app"


@pytest.fixture
def mount(aws_engine: Engine) -> Mount:
    m = aws_engine.enable("aws", "aws")
    m.configure(region="us-west-2")
    return m


def test_policy_document_dict_or_string_is_stored_compacted(mount: Mount) -> None:
    a = mount.write_role("a", credential_type="iam_user", policy_document=EC2_POLICY)
    b = mount.write_role(
        "b", credential_type="iam_user", policy_document=json.dumps(EC2_POLICY, indent=4)
    )
    assert (
        a["policy_document"]
        == b["policy_document"]
        == json.dumps(EC2_POLICY, separators=(",", ":"))
    )
    assert a["user_path"] == "/"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({}, "credential_type", "required"),
        ({"credential_type": "iam_admin"}, "credential_type", "one of"),
        ({"credential_type": "iam_user"}, "policy_document", "needs policy_document"),
        (
            {"credential_type": "iam_user", "policy_document": "{nope"},
            "policy_document",
            "not valid JSON",
        ),
        (
            {"credential_type": "iam_user", "policy_document": {"Version": "2012-10-17"}},
            "policy_document",
            "no Statement",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_document": {"Statement": [{"Sid": "x" * 2100}]},
            },
            "policy_document",
            "2048",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": ["ReadOnlyAccess"]},
            "policy_arns",
            "not an IAM policy ARN",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": [READ_ONLY, READ_ONLY]},
            "policy_arns",
            "twice",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_arns": [READ_ONLY, "arn:aws-cn:iam::aws:policy/X"],
            },
            "policy_arns",
            "mixes AWS partitions",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_arns": [f"arn:aws:iam::aws:policy/P{i}" for i in range(21)],
            },
            "policy_arns",
            "at most 20",
        ),
        (
            {"credential_type": "iam_user", "iam_groups": [f"g{i}" for i in range(11)]},
            "iam_groups",
            "at most 10",
        ),
        (
            {"credential_type": "iam_user", "iam_groups": ["bad group"]},
            "iam_groups",
            "ASCII letters",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": [READ_ONLY], "user_path": "no-slash"},
            "user_path",
            "start and end",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": [READ_ONLY], "user_path": "/a b/"},
            "user_path",
            "start and end",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_arns": [READ_ONLY],
                "permissions_boundary_arn": ROLE_ARN,
            },
            "permissions_boundary_arn",
            "policy ARN",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": [READ_ONLY], "iam_tags": {"aws:x": "1"}},
            "iam_tags",
            "AWS reserves",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_arns": [READ_ONLY],
                "iam_tags": {f"k{i}": "v" for i in range(46)},
            },
            "iam_tags",
            "at most 45",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_arns": [READ_ONLY],
                "iam_tags": {"k": "v" * 257},
            },
            "iam_tags",
            "256",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": [READ_ONLY], "role_arns": [ROLE_ARN]},
            "role_arns",
            "does not apply",
        ),
        (
            {"credential_type": "iam_user", "policy_arns": [READ_ONLY], "default_sts_ttl": "1h"},
            "default_sts_ttl",
            "does not apply",
        ),
        (
            {
                "credential_type": "iam_user",
                "policy_arns": [READ_ONLY],
                "mfa_serial_number": "arn:aws:iam::123456789012:mfa/me",
            },
            "mfa_serial_number",
            "does not apply",
        ),
        ({"credential_type": "assumed_role"}, "role_arns", "at least one"),
        (
            {"credential_type": "assumed_role", "role_arns": ["arn:aws:iam::123456789012:user/x"]},
            "role_arns",
            "not an IAM role ARN",
        ),
        (
            {"credential_type": "assumed_role", "role_arns": [ROLE_ARN], "user_path": "/x/"},
            "user_path",
            "does not apply",
        ),
        (
            {
                "credential_type": "assumed_role",
                "role_arns": [ROLE_ARN],
                "default_sts_ttl": "2h",
                "max_sts_ttl": "1h",
            },
            "default_sts_ttl",
            "longer than max_sts_ttl",
        ),
        (
            {"credential_type": "assumed_role", "role_arns": [ROLE_ARN], "external_id": "x"},
            "external_id",
            "2-1224",
        ),
        (
            {
                "credential_type": "assumed_role",
                "role_arns": [ROLE_ARN],
                "policy_arns": [f"arn:aws:iam::aws:policy/P{i}" for i in range(11)],
            },
            "policy_arns",
            "at most 10",
        ),
        ({"credential_type": "federation_token"}, "policy_document", "needs policy_document"),
        (
            {
                "credential_type": "federation_token",
                "policy_arns": [READ_ONLY],
                "session_tags": {"a": "b"},
            },
            "session_tags",
            "does not apply",
        ),
        (
            {"credential_type": "session_token", "policy_arns": [READ_ONLY]},
            "policy_arns",
            "does not apply",
        ),
        ({"credential_type": "session_token", "iam_groups": ["g"]}, "iam_groups", "does not apply"),
        (
            {"credential_type": "session_token", "mfa_serial_number": "x"},
            "mfa_serial_number",
            "MFA device",
        ),
    ],
)
def test_role_rules(mount: Mount, fields: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        mount.write_role("r", **fields)
    assert info.value.field == field, info.value
    assert words in str(info.value)
    assert mount.roles() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"access_key": "AKIAEXAMPLE0000000"}, "secret_key"),
        ({"secret_key": "s"}, "access_key"),
        ({"region": "mars-1"}, "region"),
        ({"iam_endpoint": "ftp://x"}, "iam_endpoint"),
        ({"max_retries": -2}, "max_retries"),
        ({"username_template": "static-name"}, "username_template"),
        ({"username_template": "x-{random}-{nope}"}, "username_template"),
        ({"username_template": "bad name {random}"}, "username_template"),
        ({"username_template": "{random}" + "x" * 60}, "username_template"),
        ({"session_token": "x"}, "session_token"),
    ],
)
def test_config_rules(mount: Mount, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        mount.configure(**fields)
    assert info.value.field == field


def test_read_config_never_returns_the_secret(mount: Mount) -> None:
    mount.configure(
        access_key="AKIAEXAMPLE0000000", secret_key="very-secret-value", region="us-west-2"
    )
    cfg = mount.read_config()
    assert "secret_key" not in cfg and "very-secret-value" not in repr(cfg)
    assert cfg["access_key"] == "AKIAEXAMPLE0000000"


def test_region_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    from dynsecrets.providers.aws.config import partition_of, resolve_region

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert resolve_region({}) == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert resolve_region({}) == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert resolve_region({}) == "ap-south-1"
    assert resolve_region({"region": "us-west-2"}) == "us-west-2"
    assert [partition_of(r) for r in ("cn-north-1", "us-gov-west-1", "eu-west-1")] == [
        "aws-cn",
        "aws-us-gov",
        "aws",
    ]


# -- names -------------------------------------------------------------------------------
def test_names_fit_and_keep_randomness() -> None:
    template = "dynsecrets-{role}-{unix_time}-{random}"
    long = render(template, role="r" * 64, mount="m", unix_time=1_700_000_000, limit=64)
    assert len(long) == 64
    assert long.endswith(long.rsplit("-", 1)[1]) and len(long.rsplit("-", 1)[1]) == 12
    fed = render(template, role="ec2-read-only", mount="m", unix_time=1_700_000_000, limit=32)
    assert len(fed) <= 32 and len(fed.rsplit("-", 1)[1]) >= 8
    with_mount = render(
        "{mount}-{role}-{random}", role="r" * 64, mount="m" * 64, unix_time=0, limit=32
    )
    assert len(with_mount) <= 32 and len(with_mount.rsplit("-", 1)[1]) >= 8


def test_two_thousand_names_in_one_second_do_not_collide() -> None:
    template = "dynsecrets-{role}-{unix_time}-{random}"
    for limit in (64, 32):
        names = {
            render(
                template,
                role="a-rather-long-role-name-for-a-test",
                mount="m",
                unix_time=1_700_000_000,
                limit=limit,
            ).lower()
            for _ in range(2000)
        }
        assert len(names) == 2000  # IAM names are case-insensitive


def test_partition_mismatch_is_caught_before_any_call(aws_mount: Mount, iam: Any) -> None:
    aws_mount.write_role(
        "cn", credential_type="iam_user", policy_arns=["arn:aws-cn:iam::aws:policy/ReadOnlyAccess"]
    )
    with pytest.raises(ValidationError, match="partition aws-cn") as info:
        aws_mount.issue("cn")
    assert info.value.field == "policy_arns"
    assert iam_users(iam) == [] and aws_mount.engine.leases() == []
