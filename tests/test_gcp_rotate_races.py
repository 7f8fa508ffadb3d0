"""Roleset rotation racing tidy and other writers (issue 14): whatever the
interleaving of tidy's store reads with a rotation's switch and the deletion of its
row, tidy never deletes an account the roleset or its unfinished rotation still
names; a write by another engine while a rotation plans is never overwritten. The
interleavings are forced with events or hooks around the real calls (no sleeps)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.errors import Conflict, LeaseNotFound, ProviderError
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET

WAIT = 30.0  # a bound on a hung test, never a timing assumption


class _Rotation:
    """Runs ``rotate`` of role ``r`` on a thread, so the test can pause it."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.mount.role_action("r", "rotate")
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the rotation hung"
        assert self.error is None, self.error


def _pause_after(
    monkeypatch: pytest.MonkeyPatch, target: Any, attr: str
) -> tuple[threading.Event, threading.Event]:
    """Make ``target.attr`` (called by the rotation thread) signal ``reached`` and
    wait for ``go``: before the real call for ``finish_role``, after it otherwise."""
    real: Callable[..., Any] = getattr(target, attr)
    reached, go = threading.Event(), threading.Event()

    def paused(*args: Any, **kwargs: Any) -> Any:
        if attr == "finish_role":
            reached.set()
            assert go.wait(WAIT)
            return real(*args, **kwargs)
        result = real(*args, **kwargs)
        reached.set()
        assert go.wait(WAIT)
        return result

    monkeypatch.setattr(target, attr, paused)
    return reached, go


@pytest.fixture
def role(gcp_mount: Mount) -> str:
    gcp_mount.write_role("r", **KEY_ROLESET)
    return gcp_mount.read_role("r")["service_account_email"]


def _on_tidy_role_read(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, before: bool, meanwhile: Callable[[], None]
) -> None:
    """Run ``meanwhile`` once, when tidy (this thread) reads role ``r``: just
    before the read if ``before``, else just after it."""
    store = engine.store
    real = store.get_role
    me = threading.current_thread()
    done: list[bool] = []

    def get_role(mount: str, name: str) -> Any:
        hook = threading.current_thread() is me and name == "r" and not done
        if hook and before:
            done.append(True)
            meanwhile()
        fields = real(mount, name)
        if hook and not before:
            done.append(True)
            meanwhile()
        return fields

    monkeypatch.setattr(store, "get_role", get_role)


def test_tidy_keeps_the_new_account_when_the_rotation_ends_between_its_reads(
    gcp_engine: Engine,
    gcp_mount: Mount,
    google: FakeGoogle,
    role: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The new account exists when tidy lists; tidy reads the role before the switch,
    and the rotation finishes (its row deleted) before tidy reads the role operations:
    the new account is named by neither read, yet it is the roleset's live account."""
    provider = gcp_mount.provider
    applied, go = _pause_after(monkeypatch, provider, "apply_role")
    rotation = _Rotation(gcp_mount)
    rotation.thread.start()
    assert applied.wait(WAIT)

    def finish_rotation() -> None:
        go.set()
        rotation.join()

    _on_tidy_role_read(monkeypatch, gcp_engine, before=False, meanwhile=finish_rotation)
    report = gcp_mount.tidy(dry_run=False)
    monkeypatch.undo()
    new = gcp_mount.read_role("r")["service_account_email"]
    assert new != role
    assert new in google.state.accounts, "tidy deleted the roleset's live account"
    assert report.deleted == () and report.orphans == ()
    assert gcp_mount.issue("r").data["service_account_email"] == new


def test_tidy_keeps_the_old_account_while_the_rotation_retires_it(
    gcp_engine: Engine,
    gcp_mount: Mount,
    google: FakeGoogle,
    role: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rotation starts after tidy listed, and switches before tidy reads the role:
    the old account is left to the rotation, which revokes its keys first."""
    lease = gcp_mount.issue("r")
    provider = gcp_mount.provider
    switched, go = _pause_after(monkeypatch, provider, "finish_role")
    rotation = _Rotation(gcp_mount)

    def rotate_to_the_switch() -> None:
        rotation.thread.start()
        assert switched.wait(WAIT)

    _on_tidy_role_read(monkeypatch, gcp_engine, before=True, meanwhile=rotate_to_the_switch)
    report = gcp_mount.tidy(dry_run=False)
    assert report.deleted == () and report.orphans == ()
    assert role in google.state.accounts
    go.set()
    rotation.join()
    monkeypatch.undo()
    assert role not in google.state.accounts  # the rotation retired it
    with pytest.raises(LeaseNotFound):
        gcp_engine.lookup(lease.lease_id)


def test_a_write_on_another_engine_while_rotate_plans_is_not_overwritten(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Engine two writes the roleset (a second pool account) after engine one's
    rotate read it and before its row exists. The rotation must not store the role
    it read over that write: the write's account would be named by nothing."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    with (
        Engine.open(url, key=key, clock=ManualClock(time.time())) as one,
        Engine.open(url, key=key, clock=ManualClock(time.time())) as two,
    ):
        one.enable("gcp", "gcp").configure(**google.config())
        one.mount("gcp").write_role("r", **KEY_ROLESET)
        provider = one.mount("gcp").provider
        real = provider.plan_role_action

        def plan_then_write(*args: Any, **kwargs: Any) -> Any:
            plan = real(*args, **kwargs)
            two.mount("gcp").write_role("r", **{**KEY_ROLESET, "max_accounts": 2})
            return plan

        monkeypatch.setattr(provider, "plan_role_action", plan_then_write)
        with pytest.raises(Conflict, match="changed"):
            one.mount("gcp").role_action("r", "rotate")
        monkeypatch.undo()
        role = one.mount("gcp").read_role("r").fields
        assert role["max_accounts"] == 2 and len(role["service_accounts"]) == 2
        ours = {e for e in google.state.accounts if e.startswith("ds-")}
        assert ours == set(role["service_accounts"]), "an account nothing names"
        assert one.leases("gcp/role-ops/") == []
        one.mount("gcp").role_action("r", "rotate")  # once settled, it runs
        ours = {e for e in google.state.accounts if e.startswith("ds-")}
        assert ours == set(one.mount("gcp").read_role("r")["service_accounts"])


def test_recovery_taking_the_row_before_the_switch_wins(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Engine one's heartbeat stalled past claim_ttl while its rotate made the new
    account; engine two's recovery claimed the row. However late that happens before
    the switch, one must not switch the roleset to an account recovery undoes: the
    switch checks the claim in the same transaction as it stores the role."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    clock = ManualClock(time.time())
    with (
        Engine.open(url, key=key, clock=clock) as one,
        Engine.open(url, key=key, clock=clock, recover=False) as two,
    ):
        one.enable("gcp", "gcp").configure(**google.config())
        one.mount("gcp").write_role("r", **KEY_ROLESET)
        old = one.mount("gcp").read_role("r")["service_account_email"]
        provider = one.mount("gcp").provider
        real = provider.apply_role
        taken: list[str] = []

        def apply_then_lose_the_claim(*args: Any, **kwargs: Any) -> Any:
            state = real(*args, **kwargs)
            # What engine two's recovery does once one's claim has lapsed.
            clock.advance(one.core.claim_ttl + 1)
            rows = two.store.claim_due(
                clock.now(), owner="recovery-two", deadline=clock.now() + 30,
                limit=10, state="pending",
            )  # fmt: skip
            taken.extend(r.lease_id for r in rows)
            return state

        monkeypatch.setattr(provider, "apply_role", apply_then_lose_the_claim)
        with pytest.raises(ProviderError, match="lost its claim"):
            one.mount("gcp").role_action("r", "rotate")
        monkeypatch.undo()
        assert len(taken) == 1 and "/role-ops/r/" in taken[0]
        assert one.mount("gcp").read_role("r")["service_account_email"] == old  # no switch
        new = {e for e in google.state.accounts if e.startswith("ds-")} - {old}
        assert len(new) == 1, "the rotation made its new account"
        # Engine two's recovery finishes its claim: the new account is undone.
        [row] = two.store.list_leases("gcp/role-ops/")
        two.revoke(row.lease_id)
        assert {e for e in google.state.accounts if e.startswith("ds-")} == {old}
        assert one.mount("gcp").read_role("r")["service_account_email"] == old
        assert one.leases("gcp/role-ops/") == []
