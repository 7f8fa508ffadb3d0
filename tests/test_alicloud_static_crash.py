"""A process dying after any call of an AliCloud static role's rotation (the call took
effect; the process never saw the reply), or a lost reply: after recovery by a new
engine on the same store, the user holds one or two keys, every one known to the
store, and the key the store serves works. Real V2.0 SDK, TLS fake, injected clock."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock
from dynsecrets.errors import ProviderError
from dynsecrets.store import open_store
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import ali, ali_clock, registry, sdk_call  # noqa: F401

KEY = "k" * 43 + "="
#: A rotation while the previous key is still in its grace period, at RAM's limit of
#: two: ListAccessKeys, DeleteAccessKey (the oldest, early), CreateAccessKey,
#: GetCallerIdentity (the new key proven).
CALLS = ["ListAccessKeys", "DeleteAccessKey", "CreateAccessKey", "GetCallerIdentity"]


class Crash(BaseException):
    """The process dies here: only finally blocks run."""


def _engine(url: str, clock: ManualClock) -> Engine:
    return Engine(open_store(url), registry=registry(), clock=clock, key=KEY)


def _keys(ali: FakeAliCloud) -> set[str]:
    out = sdk_call(ali, "ListAccessKeys", {"user_name": "app"})
    return {k["AccessKeyId"] for k in out["AccessKeys"]["AccessKey"]}


def _works(ali: FakeAliCloud, access_key: str, secret_key: str) -> bool:
    from alibabacloud_tea_openapi.exceptions import ClientException

    try:
        sdk_call(ali, "GetCallerIdentity", access_key=access_key, secret_key=secret_key)
    except ClientException:
        return False
    return True


@pytest.mark.parametrize("op", CALLS)
@pytest.mark.parametrize("how", ["crash", "lost-reply"])
def test_a_crash_or_lost_reply_in_a_rotation_leaves_known_working_keys(
    ali: FakeAliCloud, ali_clock: ManualClock, tmp_path: Path, op: str, how: str
) -> None:
    ali.account.add_user("app")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = _engine(url, ali_clock)
    mount = engine.enable("ali", "alicloud")
    mount.configure(**ali.config())
    mount.static.write("app", username="app", rotation_period="1h", rotation_grace_period="10m")
    mount.static.rotate("app")  # the first key is now in its grace period
    assert len(_keys(ali)) == 2

    if how == "crash":

        def crash(action: str) -> None:
            if action == op:
                raise Crash(op)

        mount.provider.clients.observers.append(crash)  # type: ignore[attr-defined]
    else:
        ali.faults.lose_reply(op)
    ali.faults.calls.clear()
    if how == "crash":
        with pytest.raises(Crash):
            mount.static.rotate("app")
    else:
        with contextlib.suppress(ProviderError):  # or the engine's retry got through
            mount.static.rotate("app")
    assert op in ali.faults.calls  # the call took effect in RAM
    ali.faults.clear()
    engine.core.heartbeat.close()  # the process is gone: its claims stop moving
    del engine, mount

    ali_clock.advance(120)  # past the dead process's claims
    engine2 = _engine(url, ali_clock)
    try:
        state = engine2.mount("ali").static.read("app")
        known = {state["secret_id"], *state["previous_secret_ids"]}
        current = engine2.read("ali/static-creds/app")
        assert _works(ali, current.data["access_key"], current.data["secret_key"])
        unknown = _keys(ali) - known
        # Every key is known, or the store holds the intent of the create whose reply
        # was lost (and the next run deletes that key).
        assert not unknown or (state["rotation_failing"] and len(unknown) == 1)
        assert 1 <= len(_keys(ali)) <= 2
        worker = ExpiryWorker(engine2)
        worker.run_once()
        ali_clock.advance(3600)
        worker.run_once()
        state = engine2.mount("ali").static.read("app")
        assert _keys(ali) == {state["secret_id"], *state["previous_secret_ids"]}
        assert not state["rotation_failing"]
        after = engine2.read("ali/static-creds/app")
        assert _works(ali, after.data["access_key"], after.data["secret_key"])
    finally:
        engine2.close()


def test_a_stale_previous_key_does_not_block_the_next_rotation_at_the_limit(
    ali: FakeAliCloud, ali_clock: ManualClock, tmp_path: Path
) -> None:
    ali.account.add_user("app")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = _engine(url, ali_clock)
    mount = engine.enable("ali", "alicloud")
    mount.configure(**ali.config())
    mount.static.write("app", username="app", rotation_period="1h", rotation_grace_period="10m")
    mount.static.rotate("app")  # RAM: current + previous, at the limit

    def crash(action: str) -> None:
        if action == "DeleteAccessKey":  # the early retirement took effect; not recorded
            raise Crash(action)

    mount.provider.clients.observers.append(crash)  # type: ignore[attr-defined]
    with pytest.raises(Crash):
        mount.static.rotate("app")
    engine.core.heartbeat.close()
    del engine, mount
    ali_clock.advance(120)
    with _engine(url, ali_clock) as engine2:
        engine2.mount("ali").static.rotate("app")  # one key in RAM: room for a new one
        engine2.mount("ali").static.rotate("app")  # at the limit, `previous` holds the stale id
        assert len(_keys(ali)) == 2
