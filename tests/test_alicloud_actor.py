"""Who asked, where Alibaba Cloud keeps it: the RAM user's Comments and the STS
RoleSessionName, sanitised, read back with a client of the test's own."""

from __future__ import annotations

import re

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.providers.alicloud import actor, names
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import (  # noqa: F401
    OSS_POLICY,
    ali,
    ali_clock,
    ali_engine,
    ali_mount,
    role_arn,
    sdk_call,
    users,
)

SESSION = re.compile(r"[A-Za-z0-9_.@-]{2,64}")


def comments_of(ali: FakeAliCloud, user: str) -> str:
    return str(sdk_call(ali, "GetUser", {"user_name": user})["User"]["Comments"])


def test_ram_user_comments_name_the_actor(
    ali_mount: Mount, ali: FakeAliCloud, ali_engine: Engine
) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    lease = ali_mount.issue("inline", actor="alice@example.com")
    [user] = users(ali)
    base = f"dynsecrets store={ali_engine.store_id} mount=ali"
    assert comments_of(ali, user) == f"{base} actor=alice@example.com"
    [managed] = ali_mount.provider.list_managed(
        ali_mount.provider.validate_config(ali.config()), "ali"
    )
    assert managed.details == {"actor": "alice@example.com"}
    assert managed.store_id == ali_engine.store_id and managed.lease_id == lease.lease_id
    ali_engine.revoke(lease.lease_id)


def test_a_hostile_or_long_actor_is_sanitised_and_cannot_pose_as_a_tag(
    ali_mount: Mount, ali: FakeAliCloud, ali_engine: Engine
) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    hostile = "eve\n\x00\u202e mount=other store=0000 " + "x" * 200
    lease = ali_mount.issue("inline", actor=hostile)
    [user] = users(ali)
    text = comments_of(ali, user)
    assert len(text) <= 128 and text.endswith("\u2026")
    assert not any(ord(c) < 32 or c == "\u202e" for c in text)
    assert text.startswith(
        f"dynsecrets store={ali_engine.store_id} mount=ali actor=eve mount=other store=0000 xx"
    )
    # Tidy still reads the real tags: the lease is this mount's and this store's.
    [managed] = ali_mount.provider.list_managed(
        ali_mount.provider.validate_config(ali.config()), "ali"
    )
    assert managed.store_id == ali_engine.store_id and managed.lease_id == lease.lease_id
    assert (
        ali_mount.provider.list_managed(ali_mount.provider.validate_config(ali.config()), "other")
        == []
    )
    assert not ali_mount.tidy().orphans
    ali_engine.revoke(lease.lease_id)


def test_no_actor_keeps_todays_comments(ali_mount: Mount, ali: FakeAliCloud) -> None:
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    ali_mount.issue("inline", actor="\n\t ")  # nothing left once sanitised
    [user] = users(ali)
    assert comments_of(ali, user).endswith(" mount=ali")


def test_sts_session_name_carries_the_actor(
    ali_mount: Mount, ali: FakeAliCloud, role_arn: str
) -> None:
    ali_mount.write_role("ops", role_arn=role_arn)
    lease = ali_mount.issue("ops", actor="bob@example.com")
    who = sdk_call(
        ali,
        "GetCallerIdentity",
        access_key=lease.data["access_key"],
        secret_key=lease.data["secret_key"],
        security_token=lease.data["security_token"],
    )
    assert who["IdentityType"] == "AssumedRoleUser"
    session = who["Arn"].rsplit("/", 1)[1]
    assert who["Arn"].startswith(f"acs:ram::{ali.account.account_id}:assumed-role/ops/")
    assert session.startswith("dynsecrets-ops-") and session.endswith("-bob@example.com")
    assert SESSION.fullmatch(session)


def test_sts_credentials_need_their_own_token(
    ali_mount: Mount, ali: FakeAliCloud, role_arn: str
) -> None:
    from alibabacloud_tea_openapi.exceptions import ClientException

    ali_mount.write_role("ops", role_arn=role_arn)
    lease = ali_mount.issue("ops")
    keys = {"access_key": lease.data["access_key"], "secret_key": lease.data["secret_key"]}
    with pytest.raises(ClientException) as info:
        sdk_call(ali, "GetCallerIdentity", **keys, security_token="x" * 120)
    assert info.value.code == "InvalidSecurityToken.MismatchWithAccessKey"
    with pytest.raises(ClientException) as info:
        sdk_call(ali, "GetCallerIdentity", **keys)
    assert info.value.code == "MissingSecurityToken"


@pytest.mark.parametrize(
    ("role", "who", "part"),
    [
        ("r", "alice", "-alice"),
        ("a-very-long-role-name-that-fills-the-room", "carol@example.com", "-carol@example.com"),
        ("r" * 40, "d" * 60, "-" + "d" * 23),
        ("r", "Jörg Müller\n", "-J-rg-M-ller"),
        ("r", "张三", ""),
    ],
)
def test_session_names_fit_sts_rules(role: str, who: str, part: str) -> None:
    name = names.session_name(role, who)
    assert SESSION.fullmatch(name) and len(name) <= 64
    assert name.startswith("dynsecrets-" + role[:10])
    random = name[len("dynsecrets-") :].removesuffix(part).rsplit("-", 1)[1]
    assert len(random) == names.RANDOM_LEN
    assert name.endswith(part)


def test_clean_and_comments_rules() -> None:
    assert actor.clean(" a\tb\n\x00c\u200bd ") == "a b cd"
    base = "dynsecrets store=" + "0" * 32 + " mount=" + "m" * 40
    assert actor.comments(base, "alice") == base + " actor=alice"
    long = actor.comments(base, "z" * 50)
    assert len(long) == 128 and long.endswith("z\u2026")
    full = base + "m" * 24  # a 64-character mount: 8 characters left, too few
    assert actor.comments(full, "zed") == full
    assert actor.parse("dynsecrets store=1 actor=a actor=b") == ("dynsecrets store=1", "a actor=b")
