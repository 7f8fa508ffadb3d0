"""Static roles on the fake cloud: import, scheduled and manual rotation, the grace
period, crash safety at every step, and bad input. The clouds' own tests
(test_aws_static.py, ...) run the same paths against moto and the TLS fakes."""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import pytest

from dynsecrets import Engine, ExpiryWorker
from dynsecrets.clock import ManualClock
from dynsecrets.engine import Mount
from dynsecrets.errors import (
    Conflict,
    MountInUse,
    NotSupported,
    PermanentProviderError,
    RoleNotFound,
    TransientProviderError,
    ValidationError,
)
from dynsecrets.testing import FakeCloud, FakeProvider, fake_engine


class Crash(BaseException):
    """A process dying at this point: no cleanup code runs (only finally blocks)."""


@pytest.fixture
def cloud(fake_cloud: FakeCloud) -> FakeCloud:
    fake_cloud.users["app"] = _user("app")
    return fake_cloud


def _user(name: str) -> Any:
    from dynsecrets.testing.fake_cloud import FakeUser

    return FakeUser(name, {})


def _keys(cloud: FakeCloud, user: str = "app") -> list[str]:
    return sorted(cloud.users[user].keys)


def _works(cloud: FakeCloud, creds: Any, user: str = "app") -> bool:
    return cloud.key_works(user, creds.data["access_key"], creds.data["secret_key"])


def test_import_makes_a_working_key_and_keeps_the_users_own(
    fake_mount: Mount, cloud: FakeCloud
) -> None:
    own, _ = cloud.create_key("app")
    shown = fake_mount.engine.write(
        "fake/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="5m"
    )
    assert shown["rotation_period"] == 3600 and shown["rotation_grace_period"] == 300
    creds = fake_mount.engine.read("fake/static-creds/app")
    assert _works(cloud, creds)
    assert creds.data["ttl"] == 3600 and creds.data["expiration"]
    assert creds.data["secret_key"] not in repr(creds)
    assert _keys(cloud) == sorted([own, creds.data["access_key"]])
    assert fake_mount.engine.list("fake/static-roles") == ["app"]
    # Not a dynamic role, not a lease.
    assert fake_mount.roles() == ["app"] and fake_mount.engine.leases() == []
    # The secret is sealed in the store, never in plaintext.
    row = fake_mount.engine.store.get_role("fake", "static-roles/app")
    assert creds.data["secret_key"] not in repr(row)


def test_schedule_rotates_and_the_old_key_works_through_the_grace_period(
    fake_mount: Mount, cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    engine = fake_mount.engine
    engine.write(
        "fake/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="10m"
    )
    first = engine.read("fake/static-creds/app")
    worker = ExpiryWorker(engine)
    dynsecrets_clock.advance(1800)
    assert worker.run_once() == 0  # nothing due yet
    dynsecrets_clock.advance(1800)
    assert worker.run_once() == 1
    second = engine.read("fake/static-creds/app")
    assert second.data["access_key"] != first.data["access_key"]
    assert second.data["ttl"] == 3600
    assert _works(cloud, second) and _works(cloud, first)  # grace period
    assert engine.read("fake/static-roles/app")["previous_secret_ids"] == [first.data["access_key"]]
    dynsecrets_clock.advance(599)
    worker.run_once()
    assert _works(cloud, first)
    dynsecrets_clock.advance(1)
    assert worker.run_once() == 1
    assert not _works(cloud, first)
    assert _keys(cloud) == [second.data["access_key"]]
    assert engine.read("fake/static-roles/app")["previous_secret_ids"] == []


def test_the_identitys_own_key_keeps_its_grace_at_the_first_rotation(
    fake_mount: Mount, cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    """The user had a key: with ours that is the cloud's limit of two. The first
    scheduled rotation retires the user's key after the grace period, then rotates."""
    engine = fake_mount.engine
    own, own_secret = cloud.create_key("app")
    shown = engine.write(
        "fake/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="10m"
    )
    assert shown["previous_secret_ids"] == []  # imported keys are left alone
    first = engine.read("fake/static-creds/app")
    worker = ExpiryWorker(engine)
    dynsecrets_clock.advance(3600)
    worker.run_once()
    # Due, but at the limit: the user's key is now scheduled to go, and still works.
    assert cloud.key_works("app", own, own_secret)
    assert engine.read("fake/static-creds/app").data["access_key"] == first.data["access_key"]
    assert engine.read("fake/static-roles/app")["previous_secret_ids"] == [own]
    dynsecrets_clock.advance(600)
    worker.run_once()
    second = engine.read("fake/static-creds/app")
    assert not cloud.key_works("app", own, own_secret)
    assert second.data["access_key"] != first.data["access_key"]
    assert _works(cloud, first) and _works(cloud, second)
    assert _keys(cloud) == sorted([first.data["access_key"], second.data["access_key"]])


def test_manual_rotation_frees_a_slot_under_the_limit(fake_mount: Mount, cloud: FakeCloud) -> None:
    engine = fake_mount.engine
    engine.write("fake/static-roles/app", username="app", rotation_period="24h")
    a = engine.read("fake/static-creds/app")
    engine.write("fake/static-roles/app/rotate")
    b = engine.read("fake/static-creds/app")
    assert _works(cloud, a) and _works(cloud, b)
    # Two keys is the cloud's limit: a third rotation retires the oldest early.
    shown = engine.write("fake/static-roles/app/rotate")
    c = engine.read("fake/static-creds/app")
    assert not _works(cloud, a) and _works(cloud, b) and _works(cloud, c)
    assert shown["previous_secret_ids"] == [b.data["access_key"]]


def test_import_with_the_limit_reached_creates_nothing(fake_mount: Mount, cloud: FakeCloud) -> None:
    cloud.create_key("app")
    cloud.create_key("app")
    before = _keys(cloud)
    with pytest.raises(ValidationError) as info:
        fake_mount.static.write("app", username="app", rotation_period="1h")
    assert info.value.field == "username" and "limit" in str(info.value)
    assert _keys(cloud) == before
    assert fake_mount.static.names() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "nobody", "rotation_period": "1h"}, "username"),
        ({"username": "bad name!", "rotation_period": "1h"}, "username"),
        ({"username": "app"}, "rotation_period"),
        ({"username": "app", "rotation_period": "30s"}, "rotation_period"),
        (
            {"username": "app", "rotation_period": "1h", "rotation_grace_period": "1h"},
            "rotation_grace_period",
        ),
        ({"username": "app", "rotation_period": "soon"}, "rotation_period"),
        ({"username": "app", "rotation_period": "1h", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_typed_and_creates_nothing(
    fake_mount: Mount, cloud: FakeCloud, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        fake_mount.engine.write("fake/static-roles/app", **fields)
    assert info.value.field == field
    assert _keys(cloud) == [] and fake_mount.static.names() == []
    assert cloud.calls["create_key"] == 0


def test_identity_cannot_change_but_the_period_can(
    fake_mount: Mount, cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    cloud.users["other"] = _user("other")
    fake_mount.static.write("app", username="app", rotation_period="1h")
    with pytest.raises(ValidationError) as info:
        fake_mount.static.write("app", username="other")
    assert info.value.field == "username"
    shown = fake_mount.static.write("app", rotation_period="2h")
    assert shown["rotation_period"] == 7200 and shown["rotation_grace_period"] == 1800
    worker = ExpiryWorker(fake_mount.engine)
    dynsecrets_clock.advance(3601)
    worker.run_once()
    assert fake_mount.static.read("app")["last_rotated"] == shown["last_rotated"]


def test_delete_removes_every_key_dynsecrets_made_and_only_those(
    fake_mount: Mount, cloud: FakeCloud
) -> None:
    own, _ = cloud.create_key("app")
    fake_mount.static.write("app", username="app", rotation_period="1h")
    fake_mount.engine.delete("fake/static-roles/app")
    assert _keys(cloud) == [own]
    with pytest.raises(RoleNotFound):
        fake_mount.engine.read("fake/static-creds/app")
    assert fake_mount.engine.store.get_lease("@rotation/fake/static/app") is None


def test_disable_refuses_while_static_roles_exist(fake_mount: Mount, cloud: FakeCloud) -> None:
    fake_mount.static.write("app", username="app", rotation_period="1h")
    with pytest.raises(MountInUse):
        fake_mount.engine.disable("fake")
    fake_mount.engine.disable("fake", revoke=True)
    assert _keys(cloud) == [] and fake_mount.engine.store.list_leases() == []


def test_a_provider_without_static_roles_says_so(dynsecrets_engine: Engine) -> None:
    class NoStatic(FakeProvider):
        static_role_schema = None

    dynsecrets_engine.core.registry.register(NoStatic, "nostatic")
    mount = dynsecrets_engine.enable("n", "nostatic")
    mount.configure(account="a")
    with pytest.raises(NotSupported, match="no static roles"):
        dynsecrets_engine.write("n/static-roles/x", username="u", rotation_period="1h")


# -- crash safety -----------------------------------------------------------------------
CALLS = ["list_keys", "create_key", "delete_key"]


@pytest.mark.parametrize("op", CALLS)
@pytest.mark.parametrize("after", [False, True])
def test_a_crash_at_any_call_of_a_rotation_leaves_one_or_two_known_keys(
    dynsecrets_clock: ManualClock, fake_cloud: FakeCloud, tmp_path: Any, op: str, after: bool
) -> None:
    """Kill the rotation at each cloud call (before it, or after it took effect), then
    recover in a new engine on the same store: the key the store calls current works,
    every key in the cloud is one the store knows, and there are at most two."""
    fake_cloud.users["app"] = _user("app")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = "k" * 43 + "="
    engine = fake_engine(clock=dynsecrets_clock, cloud=fake_cloud, url=url, key=key)
    mount = engine.enable("fake", "fake")
    mount.configure(account="a")
    mount.static.write("app", username="app", rotation_period="1h", rotation_grace_period="10m")
    mount.static.write("app", rotation_period="1h")  # an update: no new key
    dynsecrets_clock.advance(3600)
    # Retire the imported-era key first so that delete_key is reached in the rotation.
    ExpiryWorker(engine).run_once()
    dynsecrets_clock.advance(600)
    ExpiryWorker(engine).run_once()
    before = engine.read("fake/static-creds/app")

    def crash(called: str) -> None:
        if called == op and not after:
            raise Crash(op)

    fake_cloud.on_call(crash)
    if after:
        fake_cloud.lose_reply(op)
    dynsecrets_clock.advance(3600)
    with contextlib.suppress(Crash, TransientProviderError, PermanentProviderError):
        mount.static.rotate("app")
    fake_cloud._on_call.clear()
    fake_cloud.reset_faults()
    engine.core.heartbeat.close()  # the process is gone: its claims stop moving
    del engine

    dynsecrets_clock.advance(120)  # past the dead process's claims
    engine2 = fake_engine(clock=dynsecrets_clock, cloud=fake_cloud, url=url, key=key)
    try:
        state = engine2.mount("fake").static.read("app")
        known = {state["secret_id"], *state["previous_secret_ids"]}
        current = engine2.read("fake/static-creds/app")
        assert _works(fake_cloud, current)
        unknown = set(_keys(fake_cloud)) - known
        # Either every key is known, or the store holds the intent of the create whose
        # reply was lost (and recovery deletes that key below).
        assert not unknown or (state["rotation_failing"] and len(unknown) == 1)
        assert len(_keys(fake_cloud)) <= 2
        # The worker finishes whatever was interrupted and the role rotates on.
        ExpiryWorker(engine2).run_once()
        dynsecrets_clock.advance(3600)
        ExpiryWorker(engine2).run_once()
        after_run = engine2.read("fake/static-creds/app")
        assert _works(fake_cloud, after_run)
        state = engine2.mount("fake").static.read("app")
        assert set(_keys(fake_cloud)) == {state["secret_id"], *state["previous_secret_ids"]}
        assert not state["rotation_failing"]
        assert before.data["access_key"] in _keys(fake_cloud) or not _works(fake_cloud, before)
    finally:
        engine2.close()


def test_a_lost_create_reply_is_reconciled_not_retried(fake_mount: Mount, cloud: FakeCloud) -> None:
    fake_mount.static.write("app", username="app", rotation_period="1h")
    current = fake_mount.engine.read("fake/static-creds/app")
    cloud.lose_reply("create_key")
    with pytest.raises(TransientProviderError):
        fake_mount.static.rotate("app")
    assert len(_keys(cloud)) == 2  # the lost one exists, unknown to the store
    assert fake_mount.static.read("app")["rotation_failing"]
    shown = fake_mount.static.rotate("app")
    assert _keys(cloud) == sorted([current.data["access_key"], shown["secret_id"]])
    assert _works(cloud, fake_mount.engine.read("fake/static-creds/app"))


def test_a_rotation_that_keeps_failing_is_reported_like_an_irrevocable_lease(
    fake_mount: Mount, cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    events: list[str] = []
    fake_mount.engine.subscribe(lambda e: events.append(e.kind))
    fake_mount.static.write("app", username="app", rotation_period="1h")
    first = fake_mount.engine.read("fake/static-creds/app")
    cloud.fail("create_key", times=100, code="AccessDenied")
    worker = ExpiryWorker(fake_mount.engine)
    dynsecrets_clock.advance(3600)
    for _ in range(fake_mount.engine.core.max_attempts):
        worker.run_once()
        dynsecrets_clock.advance(4000)
    assert "irrevocable" in events
    shown = fake_mount.static.read("app")
    assert shown["rotation_state"] == "irrevocable" and "AccessDenied" in shown["rotation_error"]
    rec = fake_mount.engine.store.get_lease("@rotation/fake/static/app")
    assert (
        rec is not None and rec.state == "irrevocable" and "AccessDenied" in (rec.last_error or "")
    )
    assert _works(cloud, first)  # the old key still works and is still served
    assert (
        fake_mount.engine.read("fake/static-creds/app").data["access_key"]
        == first.data["access_key"]
    )
    cloud.reset_faults()
    dynsecrets_clock.advance(fake_mount.engine.core.irrevocable_retry)
    worker.run_once()
    assert fake_mount.engine.store.get_lease("@rotation/fake/static/app").state == "active"  # type: ignore[union-attr]


def test_a_manual_rotation_waits_for_none_but_refuses_to_race(
    fake_mount: Mount, cloud: FakeCloud
) -> None:
    fake_mount.static.write("app", username="app", rotation_period="1h")
    store = fake_mount.engine.store
    now = fake_mount.engine.clock.now()
    assert store.claim_lease("@rotation/fake/static/app", owner="other", deadline=now + 30, now=now)
    with pytest.raises(Conflict, match="running elsewhere"):
        fake_mount.static.rotate("app")


# -- races the claim settles ------------------------------------------------------------
def test_an_update_keeps_a_rotation_that_finished_while_it_was_verifying(
    fake_mount: Mount, cloud: FakeCloud, dynsecrets_clock: ManualClock, monkeypatch: Any
) -> None:
    engine = fake_mount.engine
    fake_mount.static.write("app", username="app", rotation_period="1h")
    real_verify = FakeProvider.verify
    ran: list[int] = []

    def verify(self: FakeProvider, config: Any, role: Any) -> list[str]:
        if not ran:  # meanwhile, the worker (another process) rotates
            ran.append(ExpiryWorker(engine).run_once())
        return real_verify(self, config, role)

    monkeypatch.setattr(FakeProvider, "verify", verify)
    dynsecrets_clock.advance(3600)
    fake_mount.static.write("app", rotation_period="2h", verify=True)
    assert ran == [1]
    state = fake_mount.static.read("app")
    assert set(_keys(cloud)) == {state["secret_id"], *state["previous_secret_ids"]}
    assert _works(cloud, engine.read("fake/static-creds/app"))


def test_writes_wait_for_no_one_but_refuse_while_another_holds_the_task(
    fake_mount: Mount, cloud: FakeCloud
) -> None:
    store, now = fake_mount.engine.store, fake_mount.engine.clock.now()
    # An import racing another import of the same name: the loser creates nothing.
    store.put_task(
        attrs.evolve(store_lease("@rotation/fake/static/app", now), plan={"_task": "rotate-static"})
    )
    assert store.claim_lease("@rotation/fake/static/app", owner="other", deadline=now + 30, now=now)
    with pytest.raises(Conflict):
        fake_mount.static.write("app", username="app", rotation_period="1h")
    assert _keys(cloud) == [] and fake_mount.static.names() == []
    store.release_claim("@rotation/fake/static/app", "other")
    store.delete_lease("@rotation/fake/static/app")
    fake_mount.static.write("app", username="app", rotation_period="1h")
    # A root config write while a root rotation holds its task: refused, not lost.
    assert store.claim_lease("@rotation/fake/root", owner="other", deadline=now + 30, now=now)
    with pytest.raises(Conflict):
        fake_mount.configure(account="moved")
    assert fake_mount.read_config()["account"] == "test"


def test_a_failed_manual_rotation_keeps_the_failure_on_record(
    fake_mount: Mount, cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    fake_mount.static.write("app", username="app", rotation_period="1h")
    cloud.fail("create_key", times=100, code="AccessDenied")
    worker = ExpiryWorker(fake_mount.engine)
    dynsecrets_clock.advance(3600)
    for _ in range(fake_mount.engine.core.max_attempts):
        worker.run_once()
        dynsecrets_clock.advance(4000)
    with pytest.raises(PermanentProviderError):
        fake_mount.static.rotate("app")
    shown = fake_mount.static.read("app")
    assert shown["rotation_state"] == "irrevocable" and shown["rotation_failing"]


def store_lease(lease_id: str, now: float) -> Any:
    from dynsecrets.store.base import LeaseRecord

    return LeaseRecord(lease_id, "fake", "app", "active", {}, None, now, now, now, now)


def test_providers_see_the_mounts_roles_without_the_engines_rows(
    fake_mount: Mount, cloud: FakeCloud
) -> None:
    """``ProviderContext.roles``: the roles a user wrote, read-only; not the rows the
    engine keeps in the same table (a static role's state, a root rotation's)."""
    fake_mount.write_role("r1")
    fake_mount.static.write("app", username="app", rotation_period="1h")
    names = fake_mount.engine.store.list_roles("fake")
    assert any("/" in n for n in names), names  # the engine's own rows are there
    roles = fake_mount.provider.context.roles
    assert roles is not None
    seen = roles("fake")
    assert set(seen) == {"app", "r1"}  # the fixture's role and ours
    assert seen["r1"] == fake_mount.read_role("r1").fields
