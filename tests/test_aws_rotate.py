"""rotate-root against moto: the new key is proven usable before it is stored, and a key
AWS never accepts is deleted again while the old one stays configured (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import ManualClock, Mount
from dynsecrets.errors import PermanentProviderError
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY

ROOT = "dynsecrets-root"


@pytest.fixture
def old_key(aws_mount: Mount, iam: Any, moto_server: MotoServer) -> str:
    """Configure the mount with a real key of an IAM user, as rotate-root needs."""
    iam.create_user(UserName=ROOT)
    key = iam.create_access_key(UserName=ROOT)["AccessKey"]
    aws_mount.configure(
        **{
            **moto_server.config("us-west-2"),
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
            "usable_timeout": "20s",
        }
    )
    return str(key["AccessKeyId"])


def _keys(iam: Any) -> list[str]:
    return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=ROOT)["AccessKeyMetadata"]]


def test_new_key_is_proven_before_it_is_stored(
    aws_mount: Mount, iam: Any, old_key: str, aws_faults: AWSFaults
) -> None:
    stored_while_probing: list[str] = []
    aws_faults.after(
        "GetCallerIdentity",
        lambda: stored_while_probing.append(aws_mount.read_config()["access_key"]),
    )
    aws_faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=2)
    out = aws_mount.rotate_root()
    assert aws_faults.calls == [
        "GetUser",
        "ListAccessKeys",
        "CreateAccessKey",
        "GetCallerIdentity",
        "GetCallerIdentity",
        "GetCallerIdentity",
        "DeleteAccessKey",
    ]
    assert stored_while_probing == [old_key]  # not persisted until AWS accepted it
    assert _keys(iam) == [out["access_key"]] != [old_key]
    assert aws_mount.read_config()["access_key"] == out["access_key"]
    [(_, deleted)] = [p for p in aws_faults.requests if p[0] == "DeleteAccessKey"]
    assert deleted["AccessKeyId"] == old_key


def test_key_never_usable_is_deleted_and_the_old_one_kept(
    aws_mount: Mount, iam: Any, old_key: str, aws_faults: AWSFaults, aws_clock: ManualClock
) -> None:
    aws_faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=10_000)
    start = aws_clock.now()
    with pytest.raises(PermanentProviderError, match="not accepted by AWS within 20s") as info:
        aws_mount.rotate_root()
    assert info.value.code == "KeyNotUsable" and info.value.operation == "rotate_root"
    assert "old key stays configured" in str(info.value)
    assert 15 <= aws_clock.now() - start <= 20  # waited on the injected clock, not in real time
    assert _keys(iam) == [old_key]  # the new key is gone again
    assert aws_mount.read_config()["access_key"] == old_key
    [(_, deleted)] = [p for p in aws_faults.requests if p[0] == "DeleteAccessKey"]
    assert deleted["AccessKeyId"] != old_key
    aws_faults.clear()
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    assert aws_mount.issue("ec2").data["access_key"]  # the mount still works


def test_unusable_key_that_cannot_be_deleted_is_named(
    aws_mount: Mount, iam: Any, old_key: str, aws_faults: AWSFaults
) -> None:
    aws_faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=10_000)
    aws_faults.error("DeleteAccessKey", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="by hand") as info:
        aws_mount.rotate_root()
    [new_key] = [k for k in _keys(iam) if k != old_key]
    assert new_key in str(info.value) and info.value.code == "KeyNotUsable"
    assert aws_mount.read_config()["access_key"] == old_key


def test_old_key_delete_failure_after_persist_says_rotated(
    aws_mount: Mount, iam: Any, old_key: str, aws_faults: AWSFaults
) -> None:
    aws_faults.error("DeleteAccessKey", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="rotated: the new key") as info:
        aws_mount.rotate_root()
    assert old_key in str(info.value) and info.value.code == "AccessDenied"
    stored = aws_mount.read_config()["access_key"]
    assert stored != old_key and sorted(_keys(iam)) == sorted([old_key, stored])
