"""verify on AliCloud: GetCallerIdentity, then the root user's RAM policies (its own
and its groups') evaluated for every call the provider makes; the real V2.0 SDK
against the TLS fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dynsecrets import ManualClock
from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.alicloud import AliCloudProvider
from dynsecrets.providers.alicloud.evaluate import decide, statements
from dynsecrets.providers.base import ProviderContext
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ali  # noqa: F401

ROOT = "dynsecrets-root"


@pytest.fixture
def provider() -> Iterator[AliCloudProvider]:
    p = AliCloudProvider(ProviderContext(clock=ManualClock(1_800_000_000.0)))
    yield p
    p.close()


@pytest.fixture
def config(provider: AliCloudProvider, ali: FakeAliCloud) -> dict[str, Any]:
    return provider.validate_config(ali.config())


@pytest.fixture
def roles(provider: AliCloudProvider, ali: FakeAliCloud) -> dict[str, dict[str, Any]]:
    arn = ali.account.add_role("ops")
    return {
        "ram": provider.validate_role("ram", {"inline_policies": OSS_POLICY}),
        "remote": provider.validate_role(
            "remote", {"remote_policies": ["name:AliyunOSSReadOnlyAccess,type:System"]}
        ),
        "sts": provider.validate_role("sts", {"role_arn": arn}),
    }


def custom(ali: FakeAliCloud, name: str, *statement: dict[str, Any]) -> None:
    document = json.dumps({"Version": "1", "Statement": list(statement)})
    ali.account.handle("CreatePolicy", {"PolicyName": name, "PolicyDocument": document}, "")


def replace_root_policies(ali: FakeAliCloud, *statement: dict[str, Any]) -> None:
    acct = ali.account
    for policy in ("AliyunRAMFullAccess", "AliyunSTSAssumeRoleAccess"):
        acct.handle(
            "DetachPolicyFromUser",
            {"UserName": ROOT, "PolicyType": "System", "PolicyName": policy},
            "",
        )
    custom(ali, "root-policy", *statement)
    acct.attach(ROOT, "root-policy", kind="Custom")


def test_the_fakes_root_may_do_everything(
    provider: AliCloudProvider,
    config: dict[str, Any],
    roles: dict[str, dict[str, Any]],
    ali: FakeAliCloud,
) -> None:
    ali.account.add_user("app")
    assert provider.verify(config, None) == []
    for role in roles.values():
        assert provider.verify(config, role) == []
    assert provider.verify(config, {"username": "app"}) == []
    assert ali.managed_users() == ["app"]  # verify creates nothing


def test_a_missing_permission_is_reported_by_name(
    provider: AliCloudProvider,
    config: dict[str, Any],
    roles: dict[str, dict[str, Any]],
    ali: FakeAliCloud,
) -> None:
    replace_root_policies(
        ali,
        {"Effect": "Allow", "Action": ["ram:*", "sts:AssumeRole"], "Resource": "*"},
        {"Effect": "Deny", "Action": "ram:DeleteUser", "Resource": "*"},
        {"Effect": "Deny", "Action": "ram:*Policy", "Resource": "acs:ram:*:*:policy/*"},
    )
    assert provider.verify(config, roles["ram"]) == [
        "ram:DeleteUser",
        "ram:CreatePolicy",
        "ram:GetPolicy",
        "ram:DeletePolicy",
    ]
    assert provider.verify(config, roles["remote"]) == ["ram:DeleteUser"]
    assert provider.verify(config, roles["sts"]) == []
    assert provider.verify(config, None) == ["ram:DeleteUser", "ram:DeletePolicy"]


def test_assume_role_is_checked_against_the_roles_arn(
    provider: AliCloudProvider,
    config: dict[str, Any],
    roles: dict[str, dict[str, Any]],
    ali: FakeAliCloud,
) -> None:
    account = ali.account.account_id
    replace_root_policies(
        ali,
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": f"acs:ram:*:{account}:role/other",
        },
    )
    assert provider.verify(config, roles["sts"]) == ["sts:AssumeRole"]
    custom(
        ali,
        "assume-ops",
        {"Effect": "Allow", "Action": "STS:assume*", "Resource": "acs:ram:*:*:role/OPS"},
    )
    ali.account.attach(ROOT, "assume-ops", kind="Custom")
    assert provider.verify(config, roles["sts"]) == []
    # Nothing else is allowed: every RAM call a user role needs is missing.
    missing = provider.verify(config, roles["ram"])
    assert "ram:CreateUser" in missing and "ram:CreateAccessKey" in missing


def test_permissions_by_group_count(
    provider: AliCloudProvider,
    config: dict[str, Any],
    roles: dict[str, dict[str, Any]],
    ali: FakeAliCloud,
) -> None:
    replace_root_policies(ali, {"Effect": "Allow", "Action": "oss:*", "Resource": "*"})
    assert "ram:CreateUser" in provider.verify(config, roles["ram"])
    acct = ali.account
    acct.handle("CreateGroup", {"GroupName": "admins"}, "")
    acct.handle("AddUserToGroup", {"GroupName": "admins", "UserName": ROOT}, "")
    acct.handle(
        "AttachPolicyToGroup",
        {"GroupName": "admins", "PolicyType": "System", "PolicyName": "AdministratorAccess"},
        "",
    )
    ali.faults.clear()
    assert provider.verify(config, roles["ram"]) == []
    assert ali.faults.calls == [
        "GetCallerIdentity",
        "ListPoliciesForUser",
        "ListGroupsForUser",
        "ListPoliciesForGroup",
        "GetPolicy",  # root-policy; AdministratorAccess is known by name
    ]


def test_a_credential_that_does_not_work(
    provider: AliCloudProvider, ali: FakeAliCloud, roles: dict[str, dict[str, Any]]
) -> None:
    bad = provider.validate_config({**ali.config(), "secret_key": "not-the-secret"})
    with pytest.raises(PermanentProviderError) as info:
        provider.verify(bad, roles["ram"])
    assert info.value.code == "SignatureDoesNotMatch" and info.value.operation == "verify"
    assert "does not work" in str(info.value) and "not-the-secret" not in str(info.value)
    assert ali.managed_users() == []


def test_unreadable_policies_name_the_read_permission(
    provider: AliCloudProvider,
    config: dict[str, Any],
    ali: FakeAliCloud,
    roles: dict[str, dict[str, Any]],
) -> None:
    ali.faults.error("ListPoliciesForUser", "NoPermission", status=403)
    with pytest.raises(PermanentProviderError, match="ram:ListPoliciesForUser was refused"):
        provider.verify(config, roles["ram"])


def test_an_assumed_role_cannot_be_checked(
    provider: AliCloudProvider,
    ali: FakeAliCloud,
    roles: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alibabacloud_credentials.utils import auth_util

    from ._alicloud import sdk_call

    arn = ali.account.add_role("root-role")
    out = sdk_call(ali, "AssumeRole", {"role_arn": arn, "role_session_name": "ecs-node"})
    creds = out["Credentials"]
    # The SDK's default chain, as on an ECS instance or in CI (the SDK reads these
    # variables when it is imported, hence the attributes).
    monkeypatch.setattr(auth_util, "environment_access_key_id", creds["AccessKeyId"])
    monkeypatch.setattr(auth_util, "environment_access_key_secret", creds["AccessKeySecret"])
    monkeypatch.setattr(auth_util, "environment_security_token", creds["SecurityToken"])
    chain = {k: v for k, v in ali.config().items() if k not in ("access_key", "secret_key")}
    with pytest.raises(PermanentProviderError) as info:
        provider.verify(provider.validate_config(chain), roles["ram"])
    assert info.value.code == "NotSupported"
    assert "assumed-role/root-role/ecs-node" in str(info.value)


def test_evaluation_rules() -> None:
    policy = statements(
        {
            "Statement": [
                {"Effect": "Allow", "NotAction": "ram:Delete*", "Resource": "*"},
                {"Effect": "Allow", "Action": "ram:DeleteUser", "NotResource": "*:user/keep-?"},
                {"Effect": "Deny", "Action": "ram:CreateUser", "Resource": "*:user/admin*"},
                "not a statement",
            ]
        }
    )
    assert decide(policy, "ram:CreateUser", ["acs:ram::1:user/dynsecrets-x"]) == "allow"
    assert decide(policy, "RAM:createuser", ["acs:ram::1:user/Admin2"]) == "deny"
    assert decide(policy, "ram:DeleteUser", ["acs:ram::1:user/keep-1"]) == "none"
    assert decide(policy, "ram:DeleteUser", ["acs:ram::1:user/keep-12"]) == "allow"
    assert decide(policy, "ram:DeletePolicy", ["acs:ram::1:policy/p"]) == "none"
    assert statements("not json") == [] and statements("[1]") == []


def test_the_accounts_own_key_may_do_everything_but_is_never_rotated(
    provider: AliCloudProvider, ali: FakeAliCloud, roles: dict[str, dict[str, Any]]
) -> None:
    key = ali.account.add_key("")
    config = provider.validate_config(
        {**ali.config(), "access_key": key.key_id, "secret_key": key.secret}
    )
    assert provider.verify(config, roles["ram"]) == []
    with pytest.raises(PermanentProviderError, match="never use the account's own keys"):
        provider.rotate_root(config, lambda new: None)
