"""Scheduled root rotation (rotation_period / rotation_schedule / rotation_window),
verify=true, and who asked: on the fake cloud with the injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from dynsecrets import ExpiryWorker
from dynsecrets.clock import ManualClock
from dynsecrets.engine import Mount
from dynsecrets.errors import MissingPermissions, PermanentProviderError, ValidationError
from dynsecrets.testing import FakeCloud, FakeProvider

# 2026-03-02 00:00:00 UTC, a Monday
MONDAY = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc).timestamp()


def test_rotation_period_rotates_the_root_key_when_due(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    fake_mount.configure(account="test", api_key=fake_cloud.root_key, rotation_period="2h")
    shown = fake_mount.read_config()
    assert shown["rotation_period"] == 7200 and shown["last_rotated"] is None
    assert shown["next_rotation"] is not None
    old = fake_cloud.root_key
    worker = ExpiryWorker(fake_mount.engine)
    dynsecrets_clock.advance(7199)
    worker.run_once()
    assert fake_cloud.root_key == old and fake_mount.read_config()["root_credential_age"] == 7199
    dynsecrets_clock.advance(1)
    assert worker.run_once() == 1
    assert fake_cloud.root_key != old
    assert fake_mount.root_config()["api_key"] == fake_cloud.root_key  # persisted
    shown = fake_mount.read_config()
    assert shown["root_credential_age"] == 0 and shown["last_rotated"] is not None
    # The new key is used from now on: issuing works.
    assert fake_mount.issue("app").data["access_key"]


def test_a_cron_schedule_rotates_within_its_window_and_skips_a_missed_one(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    dynsecrets_clock.set(MONDAY)
    fake_mount.engine.write(
        "fake/config/root",
        api_key=fake_cloud.root_key,
        rotation_schedule="0 3 * * *",
        rotation_window="1h",
    )
    assert fake_mount.read_config()["next_rotation"] == "2026-03-02T03:00:00Z"
    worker = ExpiryWorker(fake_mount.engine)
    first = fake_cloud.root_key
    dynsecrets_clock.set(MONDAY + 3 * 3600 + 60)
    worker.run_once()
    assert fake_cloud.root_key != first
    assert fake_mount.read_config()["next_rotation"] == "2026-03-03T03:00:00Z"
    # The worker is down through Tuesday's window: that rotation is skipped.
    second = fake_cloud.root_key
    dynsecrets_clock.set(MONDAY + 86400 + 5 * 3600)
    worker.run_once()
    assert fake_cloud.root_key == second
    assert fake_mount.read_config()["next_rotation"] == "2026-03-04T03:00:00Z"


def test_manual_rotation_restarts_the_period(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    fake_mount.configure(account="test", api_key=fake_cloud.root_key, rotation_period="2h")
    dynsecrets_clock.advance(3600)
    fake_mount.engine.write("fake/config/rotate-root")
    shown = fake_mount.read_config()
    assert shown["root_credential_age"] == 0
    dynsecrets_clock.advance(3600)
    key = fake_cloud.root_key
    ExpiryWorker(fake_mount.engine).run_once()
    assert fake_cloud.root_key == key  # due 2h after the manual rotation, not before


def test_disable_automated_rotation_keeps_the_schedule_but_stops_it(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    fake_mount.configure(
        account="test",
        api_key=fake_cloud.root_key,
        rotation_period="1h",
        disable_automated_rotation=True,
    )
    assert fake_mount.read_config()["next_rotation"] is None
    key = fake_cloud.root_key
    dynsecrets_clock.advance(10 * 3600)
    ExpiryWorker(fake_mount.engine).run_once()
    assert fake_cloud.root_key == key
    # A later write without the schedule fields keeps them (as Vault).
    fake_mount.engine.write("fake/config/root", disable_automated_rotation=False)
    assert fake_mount.read_config()["rotation_period"] == 3600


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rotation_schedule": "every day"}, "rotation_schedule"),
        ({"rotation_schedule": "61 * * * *"}, "rotation_schedule"),
        ({"rotation_period": "10m"}, "rotation_period"),
        ({"rotation_period": "2h", "rotation_schedule": "0 3 * * *"}, "rotation_schedule"),
        ({"rotation_window": "2h"}, "rotation_window"),
        ({"rotation_schedule": "0 3 * * *", "rotation_window": "5m"}, "rotation_window"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_changes(
    fake_mount: Mount, fields: dict[str, str], field: str
) -> None:
    before = fake_mount.read_config()
    with pytest.raises(ValidationError) as info:
        fake_mount.engine.write("fake/config/root", account="other", **fields)
    assert info.value.field == field
    assert fake_mount.read_config() == before


def test_a_provider_that_cannot_rotate_refuses_a_schedule(dynsecrets_engine: object) -> None:
    from dynsecrets import Engine

    assert isinstance(dynsecrets_engine, Engine)

    class NoRotate(FakeProvider):
        rotate_root = FakeProvider.__mro__[1].rotate_root  # the base: cannot rotate

    dynsecrets_engine.core.registry.register(NoRotate, "norotate")
    mount = dynsecrets_engine.enable("n", "norotate")
    with pytest.raises(ValidationError) as info:
        mount.configure(account="a", rotation_period="2h")
    assert info.value.field == "rotation_period"
    with pytest.raises(PermanentProviderError, match="cannot rotate"):
        mount.configure(account="a")
        mount.rotate_root()


# -- verify=true ------------------------------------------------------------------------
def test_verify_names_the_missing_permission_and_stores_nothing(
    fake_mount: Mount, fake_cloud: FakeCloud
) -> None:
    fake_cloud.denied = {"fake:AttachPolicy", "fake:RotateRoot"}
    before = fake_mount.read_config()
    with pytest.raises(MissingPermissions) as info:
        fake_mount.engine.write("fake/config/root", account="new", verify="true")
    # The config-level call, and the stored role 'app' (it attaches policies).
    assert info.value.permissions == ["fake:RotateRoot"] or info.value.field == "fake:RotateRoot"
    assert "fake:RotateRoot" in str(info.value)
    assert fake_mount.read_config() == before
    fake_cloud.denied = {"fake:AttachPolicy"}
    with pytest.raises(MissingPermissions) as info:
        fake_mount.engine.write("fake/config/root", account="new", verify=True)
    assert info.value.permissions == ["fake:AttachPolicy"] and "role 'app'" in str(info.value)
    with pytest.raises(MissingPermissions):
        fake_mount.engine.write("fake/roles/more", policies=["x"], verify="true")
    assert "more" not in fake_mount.roles()
    # A role that needs nothing denied passes, and so does the config without roles
    # that attach policies.
    fake_mount.engine.write("fake/roles/plain", verify="true")
    fake_cloud.denied = set()
    fake_mount.engine.write("fake/config/root", account="new", verify="true")
    assert fake_mount.read_config()["account"] == "new"


def test_verify_with_a_broken_credential_fails_before_storing(
    fake_mount: Mount, fake_cloud: FakeCloud
) -> None:
    with pytest.raises(PermanentProviderError, match="InvalidClientTokenId"):
        fake_mount.engine.write("fake/config/root", api_key="wrong", verify="true")
    assert (
        "api_key" not in fake_mount.root_config() or fake_mount.root_config()["api_key"] != "wrong"
    )
    with pytest.raises(ValidationError) as info:
        fake_mount.engine.write("fake/config/root", verify="maybe")
    assert info.value.field == "verify"


# -- who asked --------------------------------------------------------------------------
def test_the_actor_goes_to_the_cloud_and_the_lease(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    lease = fake_mount.issue("app", actor="alice@example.com")
    user = fake_cloud.users[lease.data["user"]]
    assert user.tags["dynsecrets-actor"] == "alice@example.com"
    with fake_mount.engine.acting_as("deploy-bot"):
        other = fake_mount.issue("app")
    assert fake_cloud.users[other.data["user"]].tags["dynsecrets-actor"] == "deploy-bot"
    dynsecrets_clock.advance(90)
    info = fake_mount.engine.lookup(lease.lease_id)
    assert info.actor == "alice@example.com" and info.age(dynsecrets_clock.now()) == 90
    assert {i.actor for i in fake_mount.leases()} == {"alice@example.com", "deploy-bot"}
    # Nobody named: nothing is tagged.
    anon = fake_mount.issue("app")
    assert "dynsecrets-actor" not in fake_cloud.users[anon.data["user"]].tags
    assert fake_mount.engine.lookup(anon.lease_id).actor == ""


def test_a_late_worker_still_runs_the_latest_slot_whose_window_is_open(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    dynsecrets_clock.set(MONDAY)
    fake_mount.engine.write(
        "fake/config/root",
        api_key=fake_cloud.root_key,
        rotation_schedule="0 */6 * * *",
        rotation_window="2h",
    )
    key = fake_cloud.root_key
    # Down from 00:00 to 12:30: 06:00 was missed, but 12:00's window is open until 14:00.
    dynsecrets_clock.set(MONDAY + 12 * 3600 + 1800)
    ExpiryWorker(fake_mount.engine).run_once()
    assert fake_cloud.root_key != key
    assert fake_mount.read_config()["next_rotation"] == "2026-03-02T18:00:00Z"


def test_deleting_the_config_stops_its_schedule(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    fake_mount.configure(account="test", api_key=fake_cloud.root_key, rotation_period="1h")
    fake_mount.engine.delete("fake/config/root")
    key = fake_cloud.root_key
    dynsecrets_clock.advance(7200)
    ExpiryWorker(fake_mount.engine).run_once()
    assert fake_cloud.root_key == key
    assert fake_mount.engine.store.get_lease("@rotation/fake/root") is None
    assert fake_mount.engine.store.get_role("fake", "config/root-rotation") is None
