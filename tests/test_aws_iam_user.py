"""iam_user leases against moto over HTTP; state checked with a separate boto3 client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.errors import (
    DynSecretsError,
    LeaseNotFound,
    PermanentProviderError,
    RevocationFailed,
)
from dynsecrets.lifecycle import issuance
from dynsecrets.providers.aws import credential_process
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY, EC2_READ_ONLY, READ_ONLY, iam_users


def test_seed_inline_policy(aws_mount: Mount, iam: Any) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    assert lease.lease_id.startswith("aws-us-west-2/creds/ec2/") and lease.duration == "768h"
    assert lease.renewable and lease.data["security_token"] is None
    [name] = iam_users(iam)
    assert name.startswith("dynsecrets-ec2-") and len(name) <= 64
    user = iam.get_user(UserName=name)["User"]
    assert user["Path"] == "/"
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
    assert tags == {
        "dynsecrets": "true",
        "dynsecrets:mount": "aws-us-west-2",
        "dynsecrets:role": "ec2",
        "dynsecrets:lease-id": lease.lease_id,
        "dynsecrets:store-id": aws_mount.engine.store_id,
    }
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["ec2"]
    doc = iam.get_user_policy(UserName=name, PolicyName="ec2")["PolicyDocument"]
    assert doc == EC2_POLICY
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [lease.data["access_key"]]
    aws_mount.engine.revoke(lease.lease_id)
    assert iam_users(iam) == []


def test_tags_are_sent_with_create_user(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role(
        "t", credential_type="iam_user", policy_arns=[READ_ONLY], iam_tags={"team": "data"}
    )
    aws_mount.issue("t")
    assert "TagUser" not in aws_faults.calls
    assert aws_faults.calls[:2] == ["CreateUser", "AttachUserPolicy"]


def test_arns_groups_path_boundary(aws_mount: Mount, iam: Any, aws_faults: AWSFaults) -> None:
    iam.create_group(GroupName="ec2-admins")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(EC2_POLICY))[
        "Policy"
    ]["Arn"]
    aws_mount.write_role(
        "full",
        credential_type="iam_user",
        policy_arns=[READ_ONLY, EC2_READ_ONLY],
        iam_groups=["ec2-admins"],
        user_path="/dynsecrets/apps/",
        permissions_boundary_arn=boundary,
        iam_tags={"team": "data"},
    )
    lease = aws_mount.issue("full")
    [name] = iam_users(iam)
    user = iam.get_user(UserName=name)["User"]
    assert user["Path"] == "/dynsecrets/apps/"
    # moto ignores permissions boundaries on users: check what was sent instead.
    [create] = [params for op, params in aws_faults.requests if op == "CreateUser"]
    assert create["PermissionsBoundary"] == boundary and create["Path"] == "/dynsecrets/apps/"
    attached = {
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    }
    assert attached == {READ_ONLY, EC2_READ_ONLY}
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [
        "ec2-admins"
    ]
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
    assert tags["team"] == "data"
    aws_mount.engine.revoke(lease.lease_id)
    assert iam_users(iam) == []
    assert iam.get_group(GroupName="ec2-admins")["Users"] == []


def test_fast_revoke_makes_the_minimum_calls(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    aws_faults.calls.clear()
    aws_mount.engine.revoke(lease.lease_id)
    assert aws_faults.calls == ["DeleteAccessKey", "DeleteUserPolicy", "DeleteUser"]


def test_revoke_sweeps_what_humans_added(aws_mount: Mount, iam: Any, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    [name] = iam_users(iam)
    iam.create_login_profile(UserName=name, Password="Pa55-word-for-console!")
    iam.create_access_key(UserName=name)
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName=name, SerialNumber=mfa, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    iam.put_user_policy(UserName=name, PolicyName="manual", PolicyDocument=json.dumps(EC2_POLICY))
    # Real AWS refuses DeleteUser while such things remain; moto does not, so say it as AWS would.
    aws_faults.error("DeleteUser", "DeleteConflict", status=409, times=2)
    aws_faults.calls.clear()
    aws_mount.engine.revoke(lease.lease_id)
    for op in (
        "ListAccessKeys",
        "DeleteLoginProfile",
        "ListMFADevices",
        "DeactivateMFADevice",
        "ListSigningCertificates",
        "ListSSHPublicKeys",
        "ListServiceSpecificCredentials",
        "ListUserPolicies",
        "ListAttachedUserPolicies",
        "ListGroupsForUser",
    ):
        assert op in aws_faults.calls, op
    assert aws_faults.calls.count("DeleteAccessKey") == 2  # the fast path's, then the hand-made one
    assert aws_faults.calls[-1] == "DeleteUser" and aws_faults.calls.count("DeleteUser") == 3
    assert iam_users(iam) == []


def test_revoke_is_idempotent_and_paginates(aws_mount: Mount, iam: Any, aws_engine: Engine) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    [name] = iam_users(iam)
    for i in range(120):  # more than one page of inline policies (Vault does not paginate)
        iam.put_user_policy(
            UserName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(EC2_POLICY)
        )
    rec = aws_engine.store.get_lease(lease.lease_id)
    assert rec is not None
    config = aws_engine.mount(aws_mount.path).root_config()
    aws_mount.provider.revoke(config, rec.plan, None)  # the full sweep, paged
    assert iam_users(iam) == []
    aws_mount.provider.revoke(config, rec.plan, None)  # again: NoSuchEntity is success
    aws_mount.provider.revoke(config, rec.plan, rec.revocation)
    aws_engine.revoke(lease.lease_id)
    with pytest.raises(LeaseNotFound):
        aws_engine.revoke(lease.lease_id)


def test_renew_and_revoke_prefix(aws_mount: Mount, iam: Any, aws_clock: ManualClock) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_mount.write_role("ec2-read-only", credential_type="iam_user", policy_arns=[READ_ONLY])
    leases = [aws_mount.issue("ec2", ttl="1h") for _ in range(3)]
    other = aws_mount.issue("ec2-read-only")
    aws_clock.advance(600)
    info = aws_mount.engine.renew(leases[0].lease_id, increment="2h")
    assert info.expires_at == pytest.approx(aws_clock.now() + 7200)
    summary = aws_mount.engine.revoke_prefix("aws-us-west-2/creds/ec2")
    assert summary.revoked == 3 and not summary.failed
    assert len(iam_users(iam)) == 1
    aws_mount.engine.revoke(other.lease_id)
    assert iam_users(iam) == []


def test_expiry_revokes_the_user(aws_mount: Mount, iam: Any, aws_clock: ManualClock) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_mount.issue("ec2", ttl="15m")
    aws_clock.advance(901)
    assert aws_mount.engine.expire_due() == 1
    assert iam_users(iam) == []


ISSUE_CALLS = [
    "CreateUser",
    "AttachUserPolicy",
    "PutUserPolicy",
    "AddUserToGroup",
    "CreateAccessKey",
]


@pytest.fixture
def full_role(aws_mount: Mount, iam: Any) -> str:
    iam.create_group(GroupName="g1")
    aws_mount.write_role(
        "full",
        credential_type="iam_user",
        policy_document=EC2_POLICY,
        policy_arns=[READ_ONLY],
        iam_groups=["g1"],
    )
    return "full"


@pytest.mark.parametrize("failing", ISSUE_CALLS)
def test_error_at_each_call_rolls_back(
    aws_mount: Mount, iam: Any, aws_faults: AWSFaults, full_role: str, failing: str
) -> None:
    aws_faults.error(failing, "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match=f"AWS {failing} failed: AccessDenied"):
        aws_mount.issue(full_role)
    assert iam_users(iam) == [] and aws_mount.engine.leases() == []
    assert iam.get_group(GroupName="g1")["Users"] == []


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even rollback."""


@pytest.mark.parametrize("after", ISSUE_CALLS)
def test_crash_after_each_call_is_recovered(
    moto_server: MotoServer,
    iam: Any,
    tmp_path: Any,
    aws_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    iam.create_policy(PolicyName="ReadOnly", PolicyDocument=json.dumps(EC2_POLICY))
    first = Engine.open(url, clock=aws_clock)
    mount = first.enable("aws", "aws")
    mount.configure(**moto_server.config())
    iam.create_group(GroupName="g1")
    mount.write_role(
        "full",
        credential_type="iam_user",
        policy_document=EC2_POLICY,
        policy_arns=[READ_ONLY],
        iam_groups=["g1"],
    )
    faults = AWSFaults()
    mount.provider.clients.instrument(faults.attach)  # type: ignore[attr-defined]

    def die() -> None:
        raise Crash

    faults.after(after, die)
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)
    with pytest.raises(Crash):
        mount.issue("full")
    monkeypatch.undo()
    assert len(iam_users(iam)) == 1
    assert len(first.leases(state=LeaseState.PENDING)) == 1

    aws_clock.advance(first.claim_ttl + 1)
    with Engine.open(url, clock=aws_clock) as second:  # a restart recovers it
        assert second.leases() == []
    assert iam_users(iam) == []
    assert iam.get_group(GroupName="g1")["Users"] == []
    first.close()


def test_throttling_is_retried(aws_mount: Mount, iam: Any, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_faults.error("CreateUser", "Throttling", times=3)
    aws_faults.error("CreateAccessKey", "ServiceUnavailable", status=503, times=2)
    lease = aws_mount.issue("ec2")
    assert aws_faults.calls.count("CreateUser") == 4
    assert len(iam_users(iam)) == 1
    aws_mount.engine.revoke(lease.lease_id)


def test_failed_revoke_keeps_the_lease(aws_mount: Mount, iam: Any, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    lease = aws_mount.issue("ec2")
    aws_faults.error(
        "DeleteUser", "AccessDenied", status=403, times=3
    )  # fast path, sweep, after extras
    with pytest.raises(RevocationFailed, match="AccessDenied"):
        aws_mount.engine.revoke(lease.lease_id)
    assert aws_mount.engine.lookup(lease.lease_id).attempts == 1
    assert len(iam_users(iam)) == 1
    aws_mount.engine.revoke(lease.lease_id)
    assert iam_users(iam) == []


def test_wait_until_usable(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    aws_faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=3)
    lease = aws_mount.issue("ec2", wait_until_usable=True)
    assert aws_faults.calls.count("GetCallerIdentity") == 4 and lease.warnings == ()
    aws_faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=10_000)
    late = aws_mount.issue("ec2", wait_until_usable=True)
    assert any("not yet accepted" in w for w in late.warnings)
    assert aws_mount.engine.lookup(late.lease_id).state == LeaseState.ACTIVE


def test_wait_until_usable_returns_soon_after_the_key_works(
    aws_mount: Mount, aws_clock: ManualClock
) -> None:
    from dynsecrets.testing.aws import _Http

    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    usable_at = aws_clock.now() + 7.3  # AWS starts accepting the key at this moment
    accepted: list[float] = []

    def refuse_until_usable(model: Any, **_: Any) -> Any:
        if model.name != "GetCallerIdentity":
            return None
        if aws_clock.now() < usable_at:
            return _Http(403), {
                "Error": {"Code": "InvalidClientTokenId", "Message": "not yet"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        accepted.append(aws_clock.now())
        return None

    aws_mount.provider.clients.instrument(  # type: ignore[attr-defined]
        lambda c: c.meta.events.register("before-call.*.*", refuse_until_usable)
    )
    lease = aws_mount.issue("ec2", wait_until_usable=True)
    assert lease.warnings == ()
    assert 0 <= accepted[0] - usable_at <= 0.5


def test_rotate_root(aws_mount: Mount, iam: Any, moto_server: MotoServer) -> None:
    iam.create_user(UserName="dynsecrets-root")
    key = iam.create_access_key(UserName="dynsecrets-root")["AccessKey"]
    aws_mount.configure(
        **{
            **moto_server.config("us-west-2"),
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
        }
    )
    out = aws_mount.rotate_root()
    keys = [
        k["AccessKeyId"]
        for k in iam.list_access_keys(UserName="dynsecrets-root")["AccessKeyMetadata"]
    ]
    assert keys == [out["access_key"]] and out["access_key"] != key["AccessKeyId"]
    assert "secret_key" not in out
    assert aws_mount.read_config()["access_key"] == out["access_key"]
    iam.create_access_key(UserName="dynsecrets-root")
    with pytest.raises(DynSecretsError, match="already has two access keys"):
        aws_mount.rotate_root()
    assert aws_mount.read_config()["access_key"] == out["access_key"]


def test_rotate_root_needs_explicit_keys(aws_engine: Engine, moto_server: MotoServer) -> None:
    m = aws_engine.enable("chain", "aws")
    m.configure(iam_endpoint=moto_server.url, sts_endpoint=moto_server.url)
    with pytest.raises(PermanentProviderError, match="default chain"):
        m.rotate_root()


def test_list_managed_finds_only_this_mounts_users(
    aws_mount: Mount, iam: Any, aws_engine: Engine, moto_server: MotoServer
) -> None:
    other = aws_engine.enable("other", "aws")
    other.configure(**moto_server.config())
    for m in (aws_mount, other):
        m.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    mine = aws_mount.issue("ec2")
    other.issue("ec2")
    iam.create_user(UserName="dynsecrets-human")  # our prefix, but not ours
    config = aws_engine.mount(aws_mount.path).root_config()
    found = aws_mount.provider.list_managed(config, aws_mount.path)
    assert [f.lease_id for f in found] == [mine.lease_id]
    aws_mount.provider.delete_managed(config, found[0])
    assert len(iam_users(iam)) == 2


def test_helpers(aws_mount: Mount, moto_server: MotoServer) -> None:
    import boto3

    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    with aws_mount.lease("ec2", ttl="15m") as lease:
        env = lease.environ()
        assert (
            env["AWS_ACCESS_KEY_ID"] == lease.data["access_key"]
            and env["AWS_REGION"] == "us-west-2"
        )
        assert "AWS_SESSION_TOKEN" not in env
        proc = json.loads(credential_process(lease))
        assert proc["Version"] == 1 and proc["AccessKeyId"] == lease.data["access_key"]
        sts = boto3.client(
            "sts", endpoint_url=moto_server.url, region_name="us-west-2", **lease.boto3_kwargs()
        )
        assert sts.get_caller_identity()["Arn"].endswith(
            f"user/{iam_users(moto_server.client('iam'))[0]}"
        )
        assert lease.data["secret_key"] not in repr(lease)


def test_tidy_finds_and_deletes_orphans(aws_mount: Mount, iam: Any, aws_engine: Engine) -> None:
    aws_mount.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
    kept = aws_mount.issue("ec2")
    lost = aws_mount.issue("ec2")
    aws_engine.store.delete_lease(lost.lease_id)  # a lease the store lost: its user is an orphan
    iam.create_user(UserName="dynsecrets-by-hand")  # our prefix, no tags: not ours
    iam.create_user(UserName="alice")
    report = aws_mount.tidy()
    assert report.dry_run and [o.lease_id for o in report.orphans] == [lost.lease_id]
    assert len(iam_users(iam)) == 4
    report = aws_mount.tidy(dry_run=False)
    assert len(report.deleted) == 1 and not report.errors
    names = iam_users(iam)
    assert len(names) == 3 and "alice" in names and "dynsecrets-by-hand" in names
    aws_engine.revoke(kept.lease_id)
    assert sorted(iam_users(iam)) == ["alice", "dynsecrets-by-hand"]
