"""AliCloud static roles, root rotation and verify=true end to end, through the
engine's path API, the real V2.0 SDK and the TLS fake; keys are tried with a client
of the test's own, time moves on the injected clock and the worker runs by hand."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock, Mount
from dynsecrets.errors import MissingPermissions, ValidationError
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ali, ali_clock, ali_engine, ali_mount, sdk_call  # noqa: F401


@pytest.fixture
def app(ali: FakeAliCloud) -> str:
    """A RAM user made by hand, with one key of its own in use."""
    ali.account.add_user("app")
    return ali.account.add_key("app").key_id


def works(ali: FakeAliCloud, access_key: str, secret_key: str, user: str = "app") -> bool:
    from alibabacloud_tea_openapi.exceptions import ClientException

    try:
        who = sdk_call(ali, "GetCallerIdentity", access_key=access_key, secret_key=secret_key)
    except ClientException as exc:
        if exc.code != "InvalidAccessKeyId.NotFound":
            raise
        return False
    return bool(who["Arn"].endswith(f":user/{user}"))


def creds_work(ali: FakeAliCloud, creds: Any) -> bool:
    return works(ali, creds.data["access_key"], creds.data["secret_key"])


def keys_of(ali: FakeAliCloud, user: str = "app") -> list[str]:
    out = sdk_call(ali, "ListAccessKeys", {"user_name": user})
    return sorted(k["AccessKeyId"] for k in out["AccessKeys"]["AccessKey"])


def test_static_creds_are_working_keys_of_the_user(
    ali_mount: Mount, ali: FakeAliCloud, app: str
) -> None:
    engine = ali_mount.engine
    shown = engine.write(
        "ali/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="10m"
    )
    assert shown["username"] == "app" and shown["rotation_period"] == 3600
    creds = engine.read("ali/static-creds/app")
    assert creds_work(ali, creds) and creds.data["ttl"] == 3600
    assert creds.data["secret_key"] not in repr(creds)
    assert creds.environ()["ALIBABA_CLOUD_ACCESS_KEY_ID"] == creds.data["access_key"]
    assert keys_of(ali) == sorted([app, creds.data["access_key"]])  # its own key stays
    assert shown["secret_id"] == creds.data["access_key"]


def test_rotation_keeps_the_old_key_through_the_grace_period(
    ali_mount: Mount, ali: FakeAliCloud, app: str, ali_clock: ManualClock
) -> None:
    engine = ali_mount.engine
    own_secret = ali.account.secret_for(app)
    assert own_secret is not None
    engine.write(
        "ali/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="10m"
    )
    first = engine.read("ali/static-creds/app")
    worker = ExpiryWorker(engine)
    ali_clock.advance(1800)
    assert worker.run_once() == 0
    ali_clock.advance(1800)
    worker.run_once()
    # Due, but at RAM's limit of two (the user's own key and ours): the user's key
    # gets its grace period first, and still works.
    assert works(ali, app, own_secret)
    assert engine.read("ali/static-creds/app").data["access_key"] == first.data["access_key"]
    assert engine.read("ali/static-roles/app")["previous_secret_ids"] == [app]
    ali_clock.advance(600)
    worker.run_once()
    second = engine.read("ali/static-creds/app")
    assert second.data["access_key"] != first.data["access_key"]
    assert not works(ali, app, own_secret)
    assert creds_work(ali, first) and creds_work(ali, second)  # ours keeps its grace
    assert keys_of(ali) == sorted([first.data["access_key"], second.data["access_key"]])
    ali_clock.advance(599)
    worker.run_once()
    assert creds_work(ali, first)
    ali_clock.advance(1)
    assert worker.run_once() == 1
    assert not creds_work(ali, first) and creds_work(ali, second)
    assert keys_of(ali) == [second.data["access_key"]]
    # Manual rotation, by path: again the old key keeps working until its grace ends.
    shown = engine.write("ali/static-roles/app/rotate")
    third = engine.read("ali/static-creds/app")
    assert shown["previous_secret_ids"] == [second.data["access_key"]]
    assert creds_work(ali, second) and creds_work(ali, third)
    ali_clock.advance(600)
    worker.run_once()
    assert not creds_work(ali, second) and keys_of(ali) == [third.data["access_key"]]


def test_a_new_key_not_yet_known_is_waited_for(
    ali_mount: Mount, ali: FakeAliCloud, app: str, ali_clock: ManualClock
) -> None:
    def not_yet(action: str) -> None:
        if action == "CreateAccessKey":
            ali.faults.error(
                "GetCallerIdentity", "InvalidAccessKeyId.NotFound", status=404, times=2
            )

    ali.hooks.append(not_yet)
    start = ali_clock.now()
    ali_mount.engine.write("ali/static-roles/app", username="app", rotation_period="1h")
    assert ali_clock.now() > start  # polled on the injected clock, no wall time
    assert creds_work(ali, ali_mount.engine.read("ali/static-creds/app"))


@pytest.mark.parametrize(
    ("username", "why"),
    [("ghost", "does not exist"), ("dynsecrets-root", "rotate-root"), ("bad name", "RAM user")],
)
def test_bad_usernames_are_typed_and_create_nothing(
    ali_mount: Mount, ali: FakeAliCloud, username: str, why: str
) -> None:
    before = {k: list(u.keys) for k, u in ali.account.users.items()}
    ali.faults.clear()
    with pytest.raises(ValidationError, match=why) as info:
        ali_mount.engine.write("ali/static-roles/x", username=username, rotation_period="1h")
    assert info.value.field == "username"
    assert "CreateAccessKey" not in ali.faults.calls
    assert {k: list(u.keys) for k, u in ali.account.users.items()} == before
    assert ali_mount.static.names() == []


def test_a_user_at_rams_key_limit_is_refused(ali_mount: Mount, ali: FakeAliCloud, app: str) -> None:
    ali.account.add_key("app")
    before = keys_of(ali)
    with pytest.raises(ValidationError, match="limit") as info:
        ali_mount.engine.write("ali/static-roles/app", username="app", rotation_period="1h")
    assert info.value.field == "username" and keys_of(ali) == before


def test_deleting_the_static_role_deletes_only_our_keys(
    ali_mount: Mount, ali: FakeAliCloud, app: str
) -> None:
    ali_mount.engine.write("ali/static-roles/app", username="app", rotation_period="1h")
    ali_mount.engine.delete("ali/static-roles/app")
    assert keys_of(ali) == [app]


def test_root_rotation_on_a_schedule(
    ali_mount: Mount, ali: FakeAliCloud, ali_clock: ManualClock
) -> None:
    engine = ali_mount.engine
    old = ali.root_key.key_id
    engine.write("ali/config", **ali.config(), rotation_period="24h")
    ali_clock.advance(24 * 3600)
    ExpiryWorker(engine).run_once()
    new = ali_mount.read_config()["access_key"]
    assert new != old and ali.account.users["dynsecrets-root"].keys == [new]
    ali_mount.write_role("inline", inline_policies=OSS_POLICY)
    with ali_mount.lease("inline") as lease:  # the mount works with the new key
        assert works(ali, lease.data["access_key"], lease.data["secret_key"], user=lease_user(ali))


def lease_user(ali: FakeAliCloud) -> str:
    [user] = ali.managed_users()
    return user


def _strip_root(ali: FakeAliCloud, *keep: str) -> None:
    """Leave the root user only ``keep`` of the system policies it has."""
    root = ali.account.users["dynsecrets-root"]
    for policy in ("AliyunRAMFullAccess", "AliyunSTSAssumeRoleAccess"):
        if policy not in keep and ("System", policy) in root.policies:
            ali.account.handle(
                "DetachPolicyFromUser",
                {"UserName": "dynsecrets-root", "PolicyType": "System", "PolicyName": policy},
                "",
            )


def test_verify_true_names_what_is_missing_and_stores_nothing(
    ali_engine: Engine, ali: FakeAliCloud, app: str
) -> None:
    mount = ali_engine.enable("ali", "alicloud")
    mount.configure(**ali.config())
    arn = ali.account.add_role("ops")
    _strip_root(ali, "AliyunRAMFullAccess")  # no sts:AssumeRole
    ali_engine.write("ali/config", **ali.config(), verify="true")  # config-level calls: fine
    with pytest.raises(MissingPermissions) as info:
        ali_engine.write("ali/role/ops", role_arn=arn, verify="true")
    assert info.value.permissions == ["sts:AssumeRole"] and info.value.field == "sts:AssumeRole"
    assert mount.roles() == []
    ali_engine.write("ali/role/inline", inline_policies=OSS_POLICY, verify="true")
    _strip_root(ali)  # and now no RAM permission either
    with pytest.raises(MissingPermissions) as info:
        ali_engine.write(
            "ali/static-roles/app", username="app", rotation_period="1h", verify="true"
        )
    assert info.value.permissions == [
        "ram:CreateAccessKey",
        "ram:DeleteAccessKey",
        "ram:ListAccessKeys",
    ]
    assert mount.static.names() == [] and keys_of(ali) == [app]
    with pytest.raises(MissingPermissions) as info:
        ali_engine.write("ali/config", **ali.config(), verify="true")
    # rotate-root's calls on the root user's own keys, and tidy's.
    assert {"ram:CreateAccessKey", "ram:ListUsers", "ram:DeleteUser"} <= set(info.value.permissions)


def test_a_rotation_schedule_needs_a_key_dynsecrets_can_rotate(
    ali_engine: Engine, ali: FakeAliCloud
) -> None:
    mount = ali_engine.enable("ali", "alicloud")
    chain = {k: v for k, v in ali.config().items() if k not in ("access_key", "secret_key")}
    with pytest.raises(ValidationError) as info:
        mount.configure(**chain, rotation_period="24h")
    assert info.value.field == "rotation_period"
    mount.configure(**chain)  # without a schedule the default chain is fine
