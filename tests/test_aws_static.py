"""AWS static roles (the keys of an existing IAM user) against moto: the provider's four
cloud calls, checked with a separate boto3 client; a user in another account through
assume_role_arn (moto keeps one state per account, so the account is really switched)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dynsecrets import ManualClock
from dynsecrets.errors import PermanentProviderError, TransientProviderError, ValidationError
from dynsecrets.providers.aws import AWSProvider
from dynsecrets.providers.base import ProviderContext
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import iam_users

OTHER = "111111111111"
CROSS = f"arn:aws:iam::{OTHER}:role/dynsecrets-cross"


@pytest.fixture
def provider(aws_clock: ManualClock) -> Iterator[AWSProvider]:
    p = AWSProvider(ProviderContext(clock=aws_clock))
    yield p
    p.close()


@pytest.fixture
def config(provider: AWSProvider, moto_server: MotoServer) -> dict[str, Any]:
    return provider.validate_config({**moto_server.config("us-west-2"), "usable_timeout": "20s"})


@pytest.fixture
def faults(provider: AWSProvider) -> AWSFaults:
    f = AWSFaults()
    provider.clients.instrument(f.attach)
    return f


def _role(provider: AWSProvider, **fields: Any) -> dict[str, Any]:
    assert provider.static_role_schema is not None
    return provider.static_role_schema.validate(fields)


def _keys(iam: Any, user: str = "app") -> list[str]:
    return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]


def _works(moto: MotoServer, access_key: str, secret_key: str, token: str | None = None) -> str:
    sts = boto3.client(
        "sts",
        endpoint_url=moto.url,
        region_name="us-west-2",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
    )
    return str(sts.get_caller_identity()["Arn"])


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({}, "username", "required"),
        ({"username": "has space"}, "username", "IAM user name"),
        ({"username": "u" * 65}, "username", "1-64"),
        ({"username": "jürgen"}, "username", "ASCII"),
        ({"username": "app", "assume_role_arn": "arn:aws:iam::1:role/x"}, "assume_role_arn", "ARN"),
        (
            {"username": "app", "assume_role_arn": CROSS, "assume_role_session_name": "x"},
            "assume_role_session_name",
            "2-64",
        ),
        (
            {"username": "app", "assume_role_arn": CROSS, "external_id": "no spaces"},
            "external_id",
            "2-1224",
        ),
        ({"username": "app", "external_id": "abc"}, "external_id", "assume_role_arn"),
        (
            {"username": "app", "assume_role_session_name": "abc"},
            "assume_role_session_name",
            "only",
        ),
        ({"username": "app", "rotate": "1h"}, "rotate", "unknown static role field"),
    ],
)
def test_bad_static_role_names_the_field(
    provider: AWSProvider, fields: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ValidationError, match=text) as info:
        _role(provider, **fields)
    assert info.value.field == field


def test_schema_and_limit(provider: AWSProvider) -> None:
    assert provider.static_secret_limit == 2
    role = _role(provider, username="a.b+c=d,e@f_g-h")
    assert role["username"] == "a.b+c=d,e@f_g-h" and role["assume_role_arn"] is None


def test_list_create_check_delete(
    provider: AWSProvider, config: dict[str, Any], iam: Any, moto_server: MotoServer
) -> None:
    iam.create_user(UserName="app")
    old = iam.create_access_key(UserName="app")["AccessKey"]
    role = _role(provider, username="app")
    [listed] = provider.static_secrets(config, role)
    assert listed.id == old["AccessKeyId"]
    assert listed.created_at == pytest.approx(old["CreateDate"].timestamp())

    new = provider.static_create(config, role)
    assert new.id == new.data["access_key"] != old["AccessKeyId"]
    assert set(new.data) == {"access_key", "secret_key"}
    assert new.secret_keys == frozenset({"secret_key"})
    assert new.env["AWS_ACCESS_KEY_ID"] == new.id
    assert new.env["AWS_SECRET_ACCESS_KEY"] == new.data["secret_key"]
    assert new.data["secret_key"] not in repr(new)
    assert sorted(_keys(iam)) == sorted([old["AccessKeyId"], new.id])
    [meta] = [
        k
        for k in iam.list_access_keys(UserName="app")["AccessKeyMetadata"]
        if k["AccessKeyId"] == new.id
    ]
    assert new.created_at == pytest.approx(meta["CreateDate"].timestamp())
    assert {s.id for s in provider.static_secrets(config, role)} == {old["AccessKeyId"], new.id}

    provider.static_check(config, role, new)
    assert _works(moto_server, new.id, new.data["secret_key"]).endswith(":user/app")

    provider.static_delete(config, role, old["AccessKeyId"])
    assert _keys(iam) == [new.id]
    provider.static_delete(config, role, old["AccessKeyId"])  # gone already: success
    assert _keys(iam) == [new.id]


def test_unknown_user_is_a_validation_error_and_creates_nothing(
    provider: AWSProvider, config: dict[str, Any], iam: Any
) -> None:
    role = _role(provider, username="nobody")
    for hook in (provider.static_secrets, provider.static_create):
        with pytest.raises(ValidationError, match="no IAM user 'nobody'.*create it first") as info:
            hook(config, role)
        assert info.value.field == "username"
    assert iam_users(iam) == []
    provider.static_delete(config, role, "AKIAGONEGONEGONEGONE")  # nothing to delete: success


def test_third_key_is_refused_with_a_typed_error(
    provider: AWSProvider, config: dict[str, Any], iam: Any
) -> None:
    iam.create_user(UserName="app")
    first, second = (
        iam.create_access_key(UserName="app")["AccessKey"]["AccessKeyId"] for _ in "12"
    )
    with pytest.raises(PermanentProviderError, match="already has two access keys") as info:
        provider.static_create(config, _role(provider, username="app"))
    assert info.value.code == "LimitExceeded" and info.value.operation == "CreateAccessKey"
    assert sorted(_keys(iam)) == sorted([first, second])


def test_create_is_never_retried_blindly(
    provider: AWSProvider, config: dict[str, Any], iam: Any, faults: AWSFaults
) -> None:
    """A 5xx may hide a key that was made: the engine reconciles by listing, so the
    provider must not repeat the call itself."""
    iam.create_user(UserName="app")
    faults.error("CreateAccessKey", "ServiceUnavailable", status=503)
    with pytest.raises(TransientProviderError):
        provider.static_create(config, _role(provider, username="app"))
    assert faults.calls.count("CreateAccessKey") == 1


def test_other_errors_are_mapped(
    provider: AWSProvider, config: dict[str, Any], iam: Any, faults: AWSFaults
) -> None:
    iam.create_user(UserName="app")
    role = _role(provider, username="app")
    faults.error("ListAccessKeys", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError, match="ListAccessKeys failed: AccessDenied"):
        provider.static_secrets(config, role)
    faults.error("DeleteAccessKey", "AccessDenied", status=403)
    with pytest.raises(PermanentProviderError) as info:
        provider.static_delete(config, role, "AKIAANYANYANYANYANYA")
    assert info.value.code == "AccessDenied"
    faults.error("DeleteAccessKey", "Throttling", times=2)
    provider.static_delete(config, role, "AKIAANYANYANYANYANYA")  # retried: throttling passes
    assert faults.calls.count("DeleteAccessKey") == 4


def test_check_waits_on_the_clock_then_gives_up(
    provider: AWSProvider,
    config: dict[str, Any],
    iam: Any,
    faults: AWSFaults,
    aws_clock: ManualClock,
) -> None:
    iam.create_user(UserName="app")
    role = _role(provider, username="app")
    new = provider.static_create(config, role)
    faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=3)
    provider.static_check(config, role, new)  # refused three times, then accepted
    assert faults.calls.count("GetCallerIdentity") == 4
    faults.error("GetCallerIdentity", "InvalidClientTokenId", status=403, times=10_000)
    start = aws_clock.now()
    with pytest.raises(PermanentProviderError, match="not accepted by AWS within 20s") as info:
        provider.static_check(config, role, new)
    assert info.value.code == "KeyNotUsable"
    assert 15 <= aws_clock.now() - start <= 20  # the injected clock, not real time


def _other_account_iam(moto: MotoServer) -> Any:
    """The test's own view of account OTHER (moto switches account by the key used)."""
    creds = moto.client("sts").assume_role(RoleArn=CROSS, RoleSessionName="test-setup")[
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


def test_user_in_another_account_through_assume_role_arn(
    provider: AWSProvider,
    config: dict[str, Any],
    iam: Any,
    moto_server: MotoServer,
    faults: AWSFaults,
) -> None:
    other = _other_account_iam(moto_server)
    other.create_user(UserName="app")
    old = other.create_access_key(UserName="app")["AccessKey"]["AccessKeyId"]
    role = _role(provider, username="app", assume_role_arn=CROSS, external_id="ext-123")
    assert [s.id for s in provider.static_secrets(config, role)] == [old]
    new = provider.static_create(config, role)
    assert sorted(_keys(other)) == sorted([old, new.id])
    assert iam_users(iam) == []  # nothing in the root's own account
    provider.static_check(config, role, new)
    arn = _works(moto_server, new.id, new.data["secret_key"])
    assert arn == f"arn:aws:iam::{OTHER}:user/app"
    provider.static_delete(config, role, old)
    assert _keys(other) == [new.id]
    # One AssumeRole, made with the root credential, for all four calls.
    [(_, assume)] = [r for r in faults.requests if r[0] == "AssumeRole"]
    assert assume["RoleArn"] == CROSS and assume["ExternalId"] == "ext-123"
    assert assume["RoleSessionName"] == "dynsecrets-static-app"


def test_assume_role_denied_names_the_field_and_creates_nothing(
    provider: AWSProvider, config: dict[str, Any], moto_server: MotoServer, faults: AWSFaults
) -> None:
    other = _other_account_iam(moto_server)
    other.create_user(UserName="app")
    role = _role(
        provider, username="app", assume_role_arn=CROSS, assume_role_session_name="rotator"
    )
    faults.error("AssumeRole", "AccessDenied", status=403)
    with pytest.raises(
        PermanentProviderError, match=r"cannot assume .*\(assume_role_arn\)"
    ) as info:
        provider.static_create(config, role)
    assert info.value.code == "AccessDenied"
    assert _keys(other) == []
    # CreateAccessKey stopped at signing, which needs the role's credentials first.
    assert faults.calls == ["CreateAccessKey", "AssumeRole"]
    new = provider.static_create(config, role)  # not cached as broken: works once allowed
    assert _keys(other) == [new.id]
    assert [r["RoleSessionName"] for op, r in faults.requests if op == "AssumeRole"] == [
        "rotator",
        "rotator",
    ]
