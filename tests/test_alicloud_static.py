"""Static roles on AliCloud at the provider's hooks: an existing RAM user's access
keys listed, created, proven and deleted through the real V2.0 SDK against the TLS
fake; RAM's state read back with a client of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dynsecrets import ManualClock
from dynsecrets.errors import PermanentProviderError, ValidationError
from dynsecrets.providers.alicloud import AliCloudProvider
from dynsecrets.providers.base import ProviderContext
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import ali, sdk_call  # noqa: F401


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def provider(clock: ManualClock) -> Iterator[AliCloudProvider]:
    p = AliCloudProvider(ProviderContext(clock=clock))
    yield p
    p.close()


@pytest.fixture
def config(provider: AliCloudProvider, ali: FakeAliCloud) -> dict[str, Any]:
    return provider.validate_config(ali.config())


@pytest.fixture
def app(ali: FakeAliCloud) -> dict[str, Any]:
    """A RAM user made by hand with one key in use, and its static role."""
    ali.account.add_user("app.svc@corp")
    ali.account.add_key("app.svc@corp")
    return {"username": "app.svc@corp"}


def keys_of(ali: FakeAliCloud, user: str) -> list[str]:
    out = sdk_call(ali, "ListAccessKeys", {"user_name": user})
    return [k["AccessKeyId"] for k in out["AccessKeys"]["AccessKey"]]


def test_schema_and_limits() -> None:
    schema = AliCloudProvider.static_role_schema
    assert schema is not None and AliCloudProvider.static_secret_limit == 2
    assert schema.validate({"username": "a.b_c@d-e"}) == {"username": "a.b_c@d-e"}
    for bad in ("", "x" * 65, "has space", "acs:ram::1:user/x", "üser"):
        with pytest.raises(ValidationError) as info:
            schema.validate({"username": bad})
        assert info.value.field == "username"
    with pytest.raises(ValidationError) as info:
        schema.validate({})
    assert info.value.field == "username"


def test_list_create_check_delete(
    provider: AliCloudProvider, config: dict[str, Any], ali: FakeAliCloud, app: dict[str, Any]
) -> None:
    [old] = provider.static_secrets(config, app)
    assert old.id == keys_of(ali, "app.svc@corp")[0] and old.created_at is not None
    ali.faults.clear()
    new = provider.static_create(config, app)
    assert ali.faults.calls == ["CreateAccessKey"]  # one attempt, never repeated
    assert new.id == new.data["access_key"] and set(new.data) == {"access_key", "secret_key"}
    assert new.secret_keys == frozenset({"secret_key"})
    assert new.env == {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": new.id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": new.data["secret_key"],
    }
    assert new.data["secret_key"] not in repr(new)
    assert sorted(keys_of(ali, "app.svc@corp")) == sorted([old.id, new.id])
    provider.static_check(config, app, new)
    # The new key works for a client of the test's own, as the user it belongs to.
    who = sdk_call(ali, "GetCallerIdentity", access_key=new.id, secret_key=new.data["secret_key"])
    assert who["Arn"].endswith(":user/app.svc@corp")
    assert [s.id for s in provider.static_secrets(config, app)] == [old.id, new.id]
    provider.static_delete(config, app, old.id)
    assert keys_of(ali, "app.svc@corp") == [new.id]
    provider.static_delete(config, app, old.id)  # gone already: success
    provider.static_delete(config, {"username": "nobody"}, old.id)  # no user: no key either


def test_a_user_that_does_not_exist_is_a_username_error(
    provider: AliCloudProvider, config: dict[str, Any], ali: FakeAliCloud
) -> None:
    for hook in (provider.static_secrets, provider.static_create):
        with pytest.raises(ValidationError) as info:
            hook(config, {"username": "ghost"})
        assert info.value.field == "username" and "ghost" in info.value.message
    assert ali.managed_users() == []


def test_the_third_key_is_refused_with_what_to_do(
    provider: AliCloudProvider, config: dict[str, Any], ali: FakeAliCloud, app: dict[str, Any]
) -> None:
    provider.static_create(config, app)
    with pytest.raises(PermanentProviderError) as info:
        provider.static_create(config, app)
    assert info.value.code == "LimitExceeded.User.AccessKey"
    assert "delete the one not in use" in str(info.value)
    assert len(keys_of(ali, "app.svc@corp")) == 2


def test_the_root_user_is_not_a_static_role(
    provider: AliCloudProvider, config: dict[str, Any], ali: FakeAliCloud
) -> None:
    with pytest.raises(ValidationError, match="rotate-root") as info:
        provider.static_secrets(config, {"username": "dynsecrets-root"})
    assert info.value.field == "username"


def test_check_waits_out_propagation_on_the_injected_clock(
    provider: AliCloudProvider,
    config: dict[str, Any],
    ali: FakeAliCloud,
    app: dict[str, Any],
    clock: ManualClock,
) -> None:
    new = provider.static_create(config, app)
    ali.faults.error("GetCallerIdentity", "InvalidAccessKeyId.NotFound", status=404, times=3)
    start = clock.now()
    provider.static_check(config, app, new)
    assert clock.now() > start  # it waited, on the test's clock (no wall time)
    assert ali.faults.calls[-4:] == ["GetCallerIdentity"] * 4


def test_check_gives_up_at_the_deadline(
    provider: AliCloudProvider,
    config: dict[str, Any],
    ali: FakeAliCloud,
    app: dict[str, Any],
    clock: ManualClock,
) -> None:
    new = provider.static_create(config, app)
    ali.faults.error("GetCallerIdentity", "InvalidAccessKeyId.NotFound", status=404, times=10**6)
    start = clock.now()
    with pytest.raises(PermanentProviderError) as info:
        provider.static_check(config, app, new)
    assert info.value.code == "KeyNotUsable"
    assert clock.now() - start <= provider.context.retry.budget


def test_check_refuses_a_key_of_another_user_at_once(
    provider: AliCloudProvider, config: dict[str, Any], ali: FakeAliCloud, app: dict[str, Any]
) -> None:
    ali.account.add_user("other")
    other = provider.static_create(config, {"username": "other"})
    with pytest.raises(PermanentProviderError, match="not as RAM user app.svc@corp") as info:
        provider.static_check(config, app, other)
    assert info.value.code == "KeyNotUsable"
    ali.faults.clear()
    ali.faults.error("GetCallerIdentity", "InvalidAccessKeyId.Inactive")
    mine = provider.static_create(config, app)
    with pytest.raises(PermanentProviderError):
        provider.static_check(config, app, mine)
    assert ali.faults.calls == ["CreateAccessKey", "GetCallerIdentity"]  # not polled


def test_rotate_root_waits_out_propagation(
    provider: AliCloudProvider, config: dict[str, Any], ali: FakeAliCloud, clock: ManualClock
) -> None:
    def new_key_not_yet_known(action: str) -> None:
        if action == "CreateAccessKey":
            ali.faults.error("GetCallerIdentity", "InvalidAccessKeyId.NotFound", status=404)

    provider.clients.observers.append(new_key_not_yet_known)
    stored: list[dict[str, Any]] = []
    new = provider.rotate_root(config, stored.append)
    assert stored == [new]
    out = sdk_call(
        ali,
        "ListAccessKeys",
        {"user_name": "dynsecrets-root"},
        access_key=new["access_key"],
        secret_key=new["secret_key"],
    )
    assert [k["AccessKeyId"] for k in out["AccessKeys"]["AccessKey"]] == [new["access_key"]]
