"""verify: GetCallerIdentity, then SimulatePrincipalPolicy for the calls a role leads to.
moto has no policy simulator, so PolicyFront (dynsecrets.testing.aws_policy) answers it
from the policies moto holds; the front itself is tested first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dynsecrets import ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, ValidationError
from dynsecrets.providers.aws import AWSProvider
from dynsecrets.providers.base import ProviderContext
from dynsecrets.testing.aws import AWSFaults, MotoServer
from dynsecrets.testing.aws_policy import PolicyFront, decide

OTHER = "111111111111"
CROSS = f"arn:aws:iam::{OTHER}:role/dynsecrets-cross"
ROLE_A = "arn:aws:iam::123456789012:role/a"
ROLE_B = "arn:aws:iam::123456789012:role/b"
USERS = "arn:aws:iam::123456789012:user/dynsecrets-*"
DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action: str | list[str], resource: str | list[str] = "*") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


# -- the front -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "action", "resource", "decision"),
    [
        ([allow("iam:*")], "iam:CreateUser", "*", "allowed"),
        ([allow("IAM:createuser")], "iam:CreateUser", "*", "allowed"),  # actions ignore case
        ([allow("iam:Create*")], "iam:DeleteUser", "*", "implicitDeny"),
        ([allow("iam:*"), deny("iam:CreateUser")], "iam:CreateUser", "*", "explicitDeny"),
        ([allow("iam:*", USERS)], "iam:CreateUser", USERS[:-1] + "x", "allowed"),
        ([allow("iam:*", USERS)], "iam:CreateUser", "arn:aws:iam::123456789012:user/x", "implicitDeny"),
        ([allow("iam:?reateUser")], "iam:CreateUser", "*", "allowed"),
        ([{**allow("iam:*"), "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], "iam:CreateUser", "*", "implicitDeny"),
        ([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}], "iam:CreateUser", "*", "implicitDeny"),
        ([allow(["s3:*", "iam:CreateUser"], ["arn:x", "*"])], "iam:CreateUser", "arn:y", "allowed"),
        ([{"Effect": "Allow", "Action": "iam:*"}], "iam:CreateUser", "*", "implicitDeny"),  # no Resource
    ],
)  # fmt: skip
def test_decide(statements: list[Any], action: str, resource: str, decision: str) -> None:
    assert decide([{"Statement": statements}], action, resource) == decision


@pytest.fixture
def front(moto_server: MotoServer) -> Iterator[PolicyFront]:
    with PolicyFront(moto_server.url) as f:
        yield f


def _client(service: str, url: str, **creds: str) -> Any:
    creds = creds or {"aws_access_key_id": "AKIAMOTOTESTING00000", "aws_secret_access_key": "x"}
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", **creds)  # type: ignore[call-overload]


def _decisions(iam: Any, principal: str, actions: list[str], resource: str = "*") -> list[str]:
    out = iam.simulate_principal_policy(
        PolicySourceArn=principal, ActionNames=actions, ResourceArns=[resource]
    )
    return [r["EvalDecision"] for r in out["EvaluationResults"]]


def test_front_reads_user_group_and_managed_policies(front: PolicyFront, iam: Any) -> None:
    iam.create_user(UserName="u")
    iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=_policy(allow("iam:GetUser")))
    arn = iam.create_policy(PolicyName="m", PolicyDocument=_policy(allow("iam:ListUsers")))
    iam.attach_user_policy(UserName="u", PolicyArn=arn["Policy"]["Arn"])
    iam.create_group(GroupName="g")
    iam.add_user_to_group(UserName="u", GroupName="g")
    iam.put_group_policy(
        GroupName="g", PolicyName="gp", PolicyDocument=_policy(deny("iam:GetUser"))
    )
    iam.attach_group_policy(GroupName="g", PolicyArn=arn["Policy"]["Arn"])
    via = _client("iam", front.url)
    principal = "arn:aws:iam::123456789012:user/u"
    assert _decisions(via, principal, ["iam:ListUsers", "iam:GetUser", "iam:DeleteUser"]) == [
        "allowed",
        "explicitDeny",
        "implicitDeny",
    ]
    with pytest.raises(via.exceptions.NoSuchEntityException):
        _decisions(via, "arn:aws:iam::123456789012:user/nobody", ["iam:GetUser"])
    assert via.list_users()["Users"][0]["UserName"] == "u"  # the rest goes to moto
    assert front.received("ListUsers") == [{"Action": "ListUsers", "Version": "2010-05-08"}]


def test_front_reads_a_role_in_another_account(front: PolicyFront, moto_server: MotoServer) -> None:
    other = _other_iam(moto_server)
    other.create_role(RoleName="dynsecrets-cross", AssumeRolePolicyDocument=_policy())
    other.put_role_policy(
        RoleName="dynsecrets-cross", PolicyName="p", PolicyDocument=_policy(allow("iam:*"))
    )
    assert _decisions(_client("iam", front.url), CROSS, ["iam:CreateUser", "s3:GetObject"]) == [
        "allowed",
        "implicitDeny",
    ]


# -- verify ------------------------------------------------------------------------------------


def _other_iam(moto: MotoServer) -> Any:
    c = moto.client("sts").assume_role(RoleArn=CROSS, RoleSessionName="test-view")["Credentials"]
    return _client(
        "iam",
        moto.url,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


@pytest.fixture
def provider(aws_clock: ManualClock) -> Iterator[AWSProvider]:
    p = AWSProvider(ProviderContext(clock=aws_clock))
    yield p
    p.close()


@pytest.fixture
def root(provider: AWSProvider, front: PolicyFront, iam: Any) -> Any:
    """``root(*statements, **config)``: config/root with the keys of an IAM user whose
    only policy is ``statements``, through the front."""

    keys: list[dict[str, Any]] = []

    def make(*statements: dict[str, Any], **extra: Any) -> dict[str, Any]:
        if not keys:
            iam.create_user(UserName="root")
            keys.append(iam.create_access_key(UserName="root")["AccessKey"])
        if statements:  # replaces the last call's
            iam.put_user_policy(
                UserName="root", PolicyName="p", PolicyDocument=_policy(*statements)
            )
        key = keys[0]
        fields = {
            **front.config("us-west-2"),
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
            **extra,
        }
        return provider.validate_config(fields)

    return make


def _role(provider: AWSProvider, **fields: Any) -> dict[str, Any]:
    return provider.validate_role("r", fields)


def _static(provider: AWSProvider, **fields: Any) -> dict[str, Any]:
    assert provider.static_role_schema is not None
    return provider.static_role_schema.validate(fields)


USER_ACTIONS = [
    "iam:TagUser",
    "iam:ListUserTags",
    "iam:*AccessKey*",
    "iam:*UserPolicy",
    "iam:*UserPolicies",
    "iam:ListGroupsForUser",
    "iam:DeleteUser",
]


def test_missing_create_user_is_named(provider: AWSProvider, root: Any) -> None:
    config = root(allow(USER_ACTIONS))
    role = _role(provider, credential_type="iam_user", policy_document=DOC)
    assert provider.verify(config, role) == ["iam:CreateUser"]


def test_everything_allowed(provider: AWSProvider, root: Any) -> None:
    config = root(allow("iam:*"), allow("sts:*"))
    for fields in (
        {"credential_type": "iam_user", "policy_document": DOC, "iam_groups": ["g"]},
        {"credential_type": "assumed_role", "role_arns": [ROLE_A, ROLE_B]},
        {"credential_type": "federation_token", "policy_document": DOC},
        {"credential_type": "session_token"},
    ):
        assert provider.verify(config, _role(provider, **fields)) == [], fields


def test_resources_are_the_ones_the_calls_name(provider: AWSProvider, root: Any) -> None:
    """A policy limited to our users (user/dynsecrets-*) passes, but the groups the role
    adds users to and a user_path outside it are checked as AWS would check them."""
    config = root(allow("iam:*", USERS))
    arns = {"policy_arns": ["arn:aws:iam::123456789012:policy/P"]}
    ok = _role(provider, credential_type="iam_user", **arns)
    assert provider.verify(config, ok) == []
    grouped = _role(provider, credential_type="iam_user", iam_groups=["devs"], **arns)
    assert provider.verify(config, grouped) == ["iam:AddUserToGroup", "iam:RemoveUserFromGroup"]
    pathed = _role(provider, credential_type="iam_user", user_path="/apps/", **arns)
    assert "iam:CreateUser" in provider.verify(config, pathed)
    bounded = _role(
        provider,
        credential_type="iam_user",
        permissions_boundary_arn=arns["policy_arns"][0],
        **arns,
    )
    config = root(allow([*USER_ACTIONS, "iam:CreateUser"]))
    assert provider.verify(config, bounded) == ["iam:PutUserPermissionsBoundary"]


def test_sts_roles(provider: AWSProvider, root: Any) -> None:
    config = root(allow("sts:AssumeRole", ROLE_A))
    one = _role(provider, credential_type="assumed_role", role_arns=[ROLE_A])
    assert provider.verify(config, one) == []
    two = _role(provider, credential_type="assumed_role", role_arns=[ROLE_A, ROLE_B])
    assert provider.verify(config, two) == ["sts:AssumeRole"]
    tagged = _role(
        provider, credential_type="assumed_role", role_arns=[ROLE_A], session_tags={"k": "v"}
    )
    assert provider.verify(config, tagged) == ["sts:TagSession"]
    fed = _role(provider, credential_type="federation_token", policy_document=DOC)
    assert provider.verify(config, fed) == ["sts:GetFederationToken"]
    assert provider.verify(config, _role(provider, credential_type="session_token")) == []


def test_static_role(provider: AWSProvider, root: Any, iam: Any) -> None:
    app = "arn:aws:iam::123456789012:user/app"
    config = root(allow(["iam:ListAccessKeys", "iam:CreateAccessKey", "iam:GetUser"], app))
    iam.create_user(UserName="app")
    assert provider.verify(config, _static(provider, username="app")) == ["iam:DeleteAccessKey"]
    with pytest.raises(ValidationError, match="no IAM user 'ghost'") as info:
        provider.verify(config, _static(provider, username="ghost"))
    assert info.value.field == "username"


def test_static_role_in_another_account(
    provider: AWSProvider, root: Any, moto_server: MotoServer
) -> None:
    other = _other_iam(moto_server)
    other.create_user(UserName="app")
    other.create_role(RoleName="dynsecrets-cross", AssumeRolePolicyDocument=_policy())
    other.put_role_policy(
        RoleName="dynsecrets-cross",
        PolicyName="p",
        PolicyDocument=_policy(allow(["iam:*AccessKey*", "iam:SimulatePrincipalPolicy"])),
    )
    role = _static(provider, username="app", assume_role_arn=CROSS)
    assert provider.verify(root(allow("iam:*")), role) == ["sts:AssumeRole"]
    assert provider.verify(root(allow("sts:AssumeRole", CROSS)), role) == []
    other.put_role_policy(
        RoleName="dynsecrets-cross",
        PolicyName="p",
        PolicyDocument=_policy(allow(["iam:ListAccessKeys", "iam:CreateAccessKey"])),
    )
    assert provider.verify(root(allow("sts:AssumeRole", CROSS)), role) == ["iam:DeleteAccessKey"]


def test_config_level_calls(provider: AWSProvider, root: Any) -> None:
    config = root(allow(["iam:List*", "iam:Delete*"]))
    assert provider.verify(config, None) == ["iam:GetUser", "iam:CreateAccessKey"]


def test_assumed_role_root_is_judged_by_its_role(
    provider: AWSProvider, root: Any, moto_server: MotoServer
) -> None:
    other = _other_iam(moto_server)
    other.create_role(RoleName="dynsecrets-cross", AssumeRolePolicyDocument=_policy())
    other.put_role_policy(
        RoleName="dynsecrets-cross", PolicyName="p", PolicyDocument=_policy(allow(USER_ACTIONS))
    )
    config = root(role_arn=CROSS)  # the base user itself may do nothing at all
    role = _role(provider, credential_type="iam_user", policy_document=DOC)
    assert provider.verify(config, role) == ["iam:CreateUser"]


def test_broken_credential_is_a_typed_error(provider: AWSProvider, root: Any) -> None:
    faults = AWSFaults()
    provider.clients.instrument(faults.attach)
    config = root(allow("*"))
    faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403)
    with pytest.raises(PermanentProviderError, match="root credential does not work") as info:
        provider.verify(config, None)
    assert info.value.code == "InvalidClientTokenId"
    assumed = {**config, "role_arn": CROSS}
    faults.error("AssumeRole", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match=rf"cannot assume {CROSS}") as info:
        provider.verify(assumed, None)
    assert info.value.code == "AccessDenied"
    faults.error("SimulatePrincipalPolicy", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="iam:SimulatePrincipalPolicy") as info:
        provider.verify(config, None)
    assert info.value.code == "AccessDenied"


def test_principal_of_an_assumed_role_session(iam: Any) -> None:
    """A session's ARN drops the role's path; GetRole restores it (else no path)."""
    from dynsecrets.providers.aws.verify import _principal
    from dynsecrets.retry import RetryPolicy

    iam.create_role(RoleName="r", Path="/apps/", AssumeRolePolicyDocument=_policy())
    session = "arn:aws:sts::123456789012:assumed-role/{}/s"
    retry = RetryPolicy(budget=0)
    assert (
        _principal(iam, retry, {}, session.format("r")) == "arn:aws:iam::123456789012:role/apps/r"
    )
    assert (
        _principal(iam, retry, {}, session.format("gone")) == "arn:aws:iam::123456789012:role/gone"
    )
    assert _principal(iam, retry, {}, "arn:aws:iam::123456789012:root") is None
    user = "arn:aws:sts::123456789012:user/moto"  # moto's; AWS says iam
    assert _principal(iam, retry, {}, user) == "arn:aws:iam::123456789012:user/moto"
    with pytest.raises(PermanentProviderError, match="users and roles") as info:
        _principal(iam, retry, {}, "arn:aws:sts::123456789012:federated-user/f")
    assert info.value.code == "NotSupported"


def test_verify_asks_about_every_call_a_workflow_makes(
    aws_mount: Mount, aws_faults: AWSFaults, iam: Any, moto_server: MotoServer
) -> None:
    """Whatever the provider calls (issue and revoke of every credential type, a
    static role's import, rotation and delete, rotate_root, tidy), verify asks about,
    except calls AWS never denies and GetRole, whose denial is tolerated."""
    from dynsecrets.providers.aws.verify import _Account, config_checks, role_checks

    iam.create_user(UserName="root")
    key = iam.create_access_key(UserName="root")["AccessKey"]
    config = {**moto_server.config("us-west-2"), "access_key": key["AccessKeyId"]}
    aws_mount.configure(**{**config, "secret_key": key["SecretAccessKey"]})
    iam.create_group(GroupName="devs")
    iam.create_user(UserName="app")
    policy = "arn:aws:iam::123456789012:policy/ReadOnly"
    roles: dict[str, dict[str, Any]] = {
        "u": {
            "credential_type": "iam_user",
            "policy_document": DOC,
            "policy_arns": [policy],
            "iam_groups": ["devs"],
            "permissions_boundary_arn": policy,
        },
        "a": {"credential_type": "assumed_role", "role_arns": [ROLE_A], "session_tags": {"k": "v"}},
        "f": {
            "credential_type": "federation_token",
            "policy_document": DOC,
            "iam_groups": ["devs"],
        },
        "s": {"credential_type": "session_token"},
    }
    provider: Any = aws_mount.provider
    stored = provider.validate_config(aws_mount.root_config())
    acct, clock = _Account("arn:aws:iam::123456789012:user/root"), aws_mount.engine.clock
    asked = {
        a for a, _ in config_checks(acct, stored, "arn:aws:iam::123456789012:user/root", clock)
    }
    asked |= {"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"}  # static
    for name, fields in roles.items():
        aws_mount.write_role(name, **fields)
        role = provider.validate_role(name, fields)
        asked |= {a for a, _ in role_checks(acct, stored, role, clock)}
        lease = aws_mount.issue(name, actor="alice")
        aws_mount.engine.revoke(lease.lease_id)
    engine = aws_mount.engine
    engine.write("aws-us-west-2/static-roles/app", username="app", rotation_period="1h")
    engine.write("aws-us-west-2/static-roles/app/rotate")
    engine.delete("aws-us-west-2/static-roles/app")
    aws_mount.issue("u")  # left for tidy to find
    aws_mount.rotate_root()
    aws_mount.tidy(dry_run=False)
    sts = {"AssumeRole", "GetFederationToken", "GetSessionToken", "GetCallerIdentity"}
    used = {f"{'sts' if op in sts else 'iam'}:{op}" for op in aws_faults.calls}
    never_denied = {"sts:GetCallerIdentity", "sts:GetSessionToken", "iam:GetRole"}
    assert {"iam:CreateUser", "sts:AssumeRole", "iam:ListUsers", "iam:GetUser"} <= used
    assert used - never_denied - asked == set()
