"""RAM user leases through the real V2.0 SDK against the TLS fake: the seed's role,
the minimum of calls, DeleteConflict refusals, faults, crashes and recovery."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, RevocationFailed
from dynsecrets.lifecycle import issuance
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import (  # noqa: F401
    ECS_POLICY,
    OSS_POLICY,
    ali,
    ali_clock,
    ali_engine,
    ali_mount,
    nothing_left,
    registry,
    users,
)

REMOTE = ["name:AliyunOSSReadOnlyAccess,type:System", "name:AliyunRDSReadOnlyAccess,type:System"]


@pytest.fixture
def full_role(ali_mount: Mount) -> str:
    ali_mount.write_role(
        "policy-based", inline_policies=[OSS_POLICY, ECS_POLICY], remote_policies=REMOTE
    )
    return "policy-based"


def test_seed_role_issue_and_revoke(
    ali_mount: Mount, ali: FakeAliCloud, full_role: str, ali_engine: Engine
) -> None:
    lease = ali_mount.issue(full_role)
    assert lease.renewable and lease.revocable and lease.data["security_token"] is None
    assert lease.lease_id.startswith("ali/creds/policy-based/")
    [name] = users(ali)
    assert name.startswith("dynsecrets-policy-based-") and len(name) <= 64
    user = ali.account.users[name]
    assert user.keys == [lease.data["access_key"]]
    assert user.comments == f"dynsecrets store={ali_engine.store_id} mount=ali"
    assert user.display_name == lease.lease_id[len("ali/") :].replace("/", "@")
    custom = sorted(n for k, n in user.policies if k == "Custom")
    assert custom == [f"{name}-p0", f"{name}-p1"]
    assert {n for k, n in user.policies if k == "System"} == {
        "AliyunOSSReadOnlyAccess",
        "AliyunRDSReadOnlyAccess",
    }
    assert ali.account.policies[f"{name}-p0"].description.endswith(
        f"lease={lease.lease_id} store={ali_engine.store_id}"
    )
    env = lease.environ()
    assert env["ALIBABA_CLOUD_ACCESS_KEY_ID"] == lease.data["access_key"]
    assert env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] == lease.data["secret_key"]
    assert "ALIBABA_CLOUD_SECURITY_TOKEN" not in env
    ali_engine.revoke(lease.lease_id)
    assert nothing_left(ali)


def test_calls_are_the_minimum(ali_mount: Mount, ali: FakeAliCloud, full_role: str) -> None:
    ali.faults.clear()
    lease = ali_mount.issue(full_role)
    assert ali.faults.calls == [
        "CreateUser",
        *["CreatePolicy", "AttachPolicyToUser"] * 2,
        "AttachPolicyToUser",
        "AttachPolicyToUser",
        "CreateAccessKey",
    ]
    ali.faults.clear()
    ali_mount.engine.revoke(lease.lease_id)
    assert ali.faults.calls == [
        "DeleteAccessKey",
        *["DetachPolicyFromUser", "DeletePolicy"] * 2,
        "DetachPolicyFromUser",
        "DetachPolicyFromUser",
        "DeleteUser",
    ]


def test_inline_policy_users_are_deleted(ali_mount: Mount, ali: FakeAliCloud) -> None:
    """Vault's open bug: users with inline policies are never deleted (it deletes the
    policy while still attached, which RAM refuses). Here, with the fast path and
    with the sweep alike."""
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    lease = ali_mount.issue("inline")
    ali_mount.engine.revoke(lease.lease_id)
    assert nothing_left(ali)
    lease = ali_mount.issue("inline")
    rec = ali_mount.engine.store.get_lease(lease.lease_id)
    assert rec is not None
    ali_mount.provider.revoke(ali_mount.root_config(), rec.plan, None)  # the sweep
    assert nothing_left(ali)


def test_fake_refuses_what_ram_refuses(ali_mount: Mount, ali: FakeAliCloud) -> None:
    """DeleteConflict-style refusals are real in the fake, so the order above matters."""
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali_mount.issue("inline")
    [name] = users(ali)
    acct = ali.account
    for action, params, code in (
        ("DeleteUser", {"UserName": name}, "DeleteConflict.User.AccessKey"),
        ("DeletePolicy", {"PolicyName": f"{name}-p0"}, "DeleteConflict.Policy.User"),
        ("CreateUser", {"UserName": name}, "EntityAlreadyExists.User"),
        ("GetUser", {"UserName": "nobody"}, "EntityNotExist.User"),
    ):
        with pytest.raises(Exception) as info:
            acct.handle(action, params, ali.root_key.key_id)
        assert info.value.code == code  # type: ignore[attr-defined]
    acct.add_key(name)
    with pytest.raises(Exception) as info:
        acct.handle("CreateAccessKey", {"UserName": name}, ali.root_key.key_id)
    assert info.value.code == "LimitExceeded.User.AccessKey"  # type: ignore[attr-defined]


def test_revoke_sweeps_what_humans_added(
    ali_mount: Mount, ali: FakeAliCloud, full_role: str
) -> None:
    lease = ali_mount.issue(full_role)
    [name] = users(ali)
    acct = ali.account
    acct.add_key(name)  # a second key
    acct.groups.add("admins")
    acct.users[name].groups.add("admins")
    acct.users[name].login_profile = True
    acct.users[name].mfa_device = f"acs:ram::{acct.account_id}:mfa/{name}"
    acct.handle(
        "AttachPolicyToUser",
        {"PolicyType": "System", "PolicyName": "ReadOnlyAccess", "UserName": name},
        ali.root_key.key_id,
    )
    ali.faults.clear()
    ali_mount.engine.revoke(lease.lease_id)
    calls = ali.faults.calls
    # The fast path stops at the first refusal (DeleteConflict, or any step error on a
    # loaded machine), then the sweep lists and removes each blocker.
    assert calls.count("DeleteUser") in (1, 2), calls
    for action in (
        "ListAccessKeys",
        "ListPoliciesForUser",
        "ListGroupsForUser",
        "RemoveUserFromGroup",
        "DeleteLoginProfile",
        "UnbindMFADevice",
    ):
        assert action in calls, action
    assert nothing_left(ali)


@pytest.mark.parametrize(
    "failing",
    ["CreateUser", "CreatePolicy", "AttachPolicyToUser", "CreateAccessKey"],
)
def test_forbidden_at_each_call_rolls_back(
    ali_mount: Mount, ali: FakeAliCloud, full_role: str, failing: str
) -> None:
    ali.faults.error(failing, "NoPermission", status=403)
    with pytest.raises(PermanentProviderError, match=f"AliCloud {failing} failed: NoPermission"):
        ali_mount.issue(full_role)
    assert nothing_left(ali) and ali_mount.engine.leases() == []


def test_throttling_and_5xx_are_retried(ali_mount: Mount, ali: FakeAliCloud) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali.faults.error("CreateUser", "Throttling.User", times=3)
    ali.faults.error("CreatePolicy", "ServiceUnavailable", status=503, times=2)
    ali.faults.error("CreateAccessKey", "InternalError", status=500)
    lease = ali_mount.issue("inline")
    assert ali.faults.calls.count("CreateUser") == 4
    assert ali.faults.calls.count("CreatePolicy") == 3
    # A 5xx on CreateAccessKey may have made a key: the user's keys are listed first.
    i = ali.faults.calls.index("CreateAccessKey")
    assert ali.faults.calls[i + 1 : i + 3] == ["ListAccessKeys", "CreateAccessKey"]
    [name] = users(ali)
    assert ali.account.users[name].keys == [lease.data["access_key"]]
    ali_mount.engine.revoke(lease.lease_id)
    assert nothing_left(ali)


def test_lost_create_reply_is_reconciled(ali_mount: Mount, ali: FakeAliCloud) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali.faults.lose_reply("CreateAccessKey")
    lease = ali_mount.issue("inline")
    [name] = users(ali)
    # The key whose reply was lost is deleted before the retry: one key, the one given out.
    i = ali.faults.calls.index("CreateAccessKey")
    assert ali.faults.calls[i:] == [
        "CreateAccessKey",
        "ListAccessKeys",
        "DeleteAccessKey",
        "CreateAccessKey",
    ]
    assert ali.account.users[name].keys == [lease.data["access_key"]]


def test_lost_create_user_reply_is_recognised(ali_mount: Mount, ali: FakeAliCloud) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali.faults.lose_reply("CreateUser")
    ali.faults.lose_reply("CreatePolicy")
    lease = ali_mount.issue("inline")
    assert ali.faults.calls[:4] == ["CreateUser", "CreateUser", "GetUser", "CreatePolicy"]
    assert "GetPolicy" in ali.faults.calls
    ali_mount.engine.revoke(lease.lease_id)
    assert nothing_left(ali)


def test_failed_revoke_keeps_the_lease(ali_mount: Mount, ali: FakeAliCloud) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    lease = ali_mount.issue("inline")
    ali.faults.error("DeleteUser", "NoPermission", status=403, times=2)  # fast path, sweep
    with pytest.raises(RevocationFailed, match="NoPermission"):
        ali_mount.engine.revoke(lease.lease_id)
    assert ali_mount.engine.lookup(lease.lease_id).attempts == 1
    assert len(users(ali)) == 1
    ali_mount.engine.revoke(lease.lease_id)
    assert nothing_left(ali)


def test_renew_revoke_prefix_and_expiry(
    ali_mount: Mount, ali: FakeAliCloud, ali_clock: ManualClock
) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    leases = [ali_mount.issue("inline", ttl="1h") for _ in range(3)]
    ali_clock.advance(600)
    info = ali_mount.engine.renew(leases[0].lease_id, increment="2h")
    assert info.expires_at == pytest.approx(ali_clock.now() + 7200)
    ali_clock.advance(3601 - 600)
    assert ali_mount.engine.expire_due() == 2  # the two not renewed
    assert len(users(ali)) == 1
    assert ali_mount.engine.revoke_prefix("ali/creds/inline").revoked == 1
    assert nothing_left(ali)


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even rollback."""


ISSUE_CALLS = ["CreateUser", "CreatePolicy", "AttachPolicyToUser", "CreateAccessKey"]


@pytest.mark.parametrize(
    ("after", "nth"), [(c, 1) for c in ISSUE_CALLS] + [("AttachPolicyToUser", 2)]
)
def test_crash_after_each_call_is_recovered(
    ali: FakeAliCloud,
    tmp_path: Any,
    ali_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
    nth: int,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = Engine.open(url, clock=ali_clock, registry=registry())
    mount = first.enable("ali", "alicloud")
    mount.configure(**ali.config())
    mount.write_role(
        "full",
        inline_policies=OSS_POLICY,
        remote_policies="name:AliyunOSSReadOnlyAccess,type:System",
    )
    seen = {"n": 0}

    def die(action: str) -> None:
        if action == after:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash

    mount.provider.clients.observers.append(die)  # type: ignore[attr-defined]
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)
    with pytest.raises(Crash):
        mount.issue("full")
    monkeypatch.undo()
    assert len(users(ali)) == 1 and len(first.leases(state=LeaseState.PENDING)) == 1
    if after == "CreatePolicy":  # a policy created but attached to nobody
        assert len(ali.account.policies) == 1
    ali_clock.advance(first.claim_ttl + 1)
    with Engine.open(url, clock=ali_clock, registry=registry()) as second:  # recovers
        assert second.leases() == []
    assert nothing_left(ali)
    first.close()


def test_tidy_finds_and_deletes_orphans(
    ali_mount: Mount, ali: FakeAliCloud, ali_engine: Engine
) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    kept = ali_mount.issue("inline")
    lost = ali_mount.issue("inline")
    ali_engine.store.delete_lease(lost.lease_id)
    ali.account.add_user("dynsecrets-by-hand")  # our prefix, no marker: not ours
    other = ali_engine.enable("other", "alicloud")
    other.configure(**ali.config())
    other.write_role("inline", inline_policies=OSS_POLICY)
    other.issue("inline")  # another mount's user: not this mount's orphan
    report = ali_mount.tidy()
    assert [o.lease_id for o in report.orphans] == [lost.lease_id]
    report = ali_mount.tidy(dry_run=False)
    assert len(report.deleted) == 1 and not report.errors
    assert len(users(ali)) == 3  # kept, by hand, other mount's
    # The orphan's Custom policy went with it, though tidy has no plan.
    assert len(ali.account.policies) == 2
    ali_engine.revoke(kept.lease_id)
    ali_engine.revoke_prefix("other/")
    assert users(ali) == ["dynsecrets-by-hand"]


def test_rotate_root(ali_mount: Mount, ali: FakeAliCloud) -> None:
    old = ali.root_key.key_id
    ali.faults.clear()
    out = ali_mount.rotate_root()
    root = ali.account.users["dynsecrets-root"]
    assert root.keys == [out["access_key"]] and out["access_key"] != old
    assert "secret_key" not in out and ali_mount.read_config()["access_key"] == out["access_key"]
    # Proven usable with the new key before it was stored; the old one deleted last.
    assert ali.faults.calls[-2:] == ["GetCallerIdentity", "DeleteAccessKey"]
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    with ali_mount.lease("inline") as lease:  # the mount works with the new key
        assert lease.data["access_key"]
    ali.account.add_key("dynsecrets-root")
    with pytest.raises(PermanentProviderError, match="already has two access keys"):
        ali_mount.rotate_root()
    assert ali_mount.read_config()["access_key"] == out["access_key"]
    assert len(root.keys) == 2


def test_rotate_root_discards_a_key_that_does_not_work(ali_mount: Mount, ali: FakeAliCloud) -> None:
    before = ali_mount.read_config()["access_key"]

    def refuse_the_new_key(action: str) -> None:
        if action == "CreateAccessKey":  # the probe with the new key is refused
            ali.faults.error("GetCallerIdentity", "InvalidAccessKeyId.Inactive")

    ali_mount.provider.clients.observers.append(refuse_the_new_key)  # type: ignore[attr-defined]
    with pytest.raises(PermanentProviderError) as info:
        ali_mount.rotate_root()
    assert info.value.code == "KeyNotUsable"
    assert ali_mount.read_config()["access_key"] == before
    assert ali.account.users["dynsecrets-root"].keys == [before]
