"""Lost-reply key recovery with many concurrent leases on one account (issue 14).

A ``keys.create`` whose reply was lost leaves a key nobody was given. It is found
by listing the account's keys; what is accounted for comes from this process's
ledger and, through ``ProviderContext.leases``, from the store (read after the
listing); while another process's issue on the account is in flight, nothing is
deleted. So exactly the orphan goes, and every other lease's key keeps working,
whichever process issued it."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, Lease, LeaseState, ManualClock, Mount
from dynsecrets.errors import ProviderError
from dynsecrets.expiry import ExpiryWorker
from dynsecrets.lifecycle import issuance
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET, token_with_key
from .test_gcp_crash import Crash, crash_after


def _key_id(lease: Lease) -> str:
    return str(json.loads(base64.b64decode(lease.data["private_key_data"]))["private_key_id"])


def _keys(google: FakeGoogle, email: str) -> set[str]:
    return {k for k, v in google.state.keys.items() if v["email"] == email}


def _works(google: FakeGoogle, lease: Lease) -> None:
    assert token_with_key(google, json.loads(base64.b64decode(lease.data["private_key_data"])))


def _open(url: str, clock: ManualClock, google: FakeGoogle, *, enable: bool = False) -> Engine:
    engine = Engine.open(url, clock=clock)
    if enable:
        engine.enable("gcp", "gcp").configure(**google.config())
    return engine


def _many(mount: Mount, n: int) -> list[Lease]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: mount.issue("r"), range(n)))


def test_one_lost_reply_among_concurrent_issues_in_one_process(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("r", **KEY_ROLESET)
    email = gcp_mount.read_role("r")["service_account_email"]
    google.faults.lose_reply("CreateServiceAccountKey")
    leases = _many(gcp_mount, 8)
    assert _keys(google, email) == {_key_id(x) for x in leases}  # the orphan went
    for lease in leases:
        _works(google, lease)


def test_recovery_deletes_only_the_orphan_among_another_process_keys(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dies between a create whose reply was lost and its reconciliation; B
    issues many keys on the same account meanwhile (one in the same second before
    A's plan). Recovery in a third process deletes A's orphan only."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    a = _open(url, clock, google, enable=True)
    a.mount("gcp").write_role("r", **KEY_ROLESET)
    email = a.mount("gcp").read_role("r")["service_account_email"]
    b = _open(url, clock, google)
    before = b.mount("gcp").issue("r")  # made in the same second as A's plan
    google.faults.lose_reply("CreateServiceAccountKey")
    crash_after(a.mount("gcp"), 1)  # the lost create, then its reconciling list: dead
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)  # dead: no rollback
    with pytest.raises(Crash):
        a.mount("gcp").issue("r")
    [orphan] = _keys(google, email) - {_key_id(before)}
    others = [before, *_many(b.mount("gcp"), 8)]
    assert len(_keys(google, email)) == 10  # Google's limit: the account is full
    clock.advance(a.claim_ttl + 1)
    with Engine.open(url, clock=clock) as c:  # opening recovers A's pending lease
        assert {x.lease_id for x in c.leases()} == {x.lease_id for x in others}
        assert all(x.state == LeaseState.ACTIVE for x in c.leases())
    assert _keys(google, email) == {_key_id(x) for x in others}
    assert orphan not in google.state.keys
    for lease in others:
        _works(google, lease)
    a.close()
    b.close()


def _hold_activation(engine: Engine) -> tuple[threading.Event, threading.Event, Callable[[], None]]:
    """Make the engine's next issue stop after its create, before activation."""
    store = engine.core.store
    real = store.activate_lease
    reached, release = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> bool:
        reached.set()
        assert release.wait(60), "the test never released the held issue"
        return bool(real(*args, **kwargs))

    store.activate_lease = held

    def restore() -> None:
        store.activate_lease = real

    return reached, release, restore


def test_nothing_is_deleted_while_another_process_issue_is_in_flight(
    google: FakeGoogle, tmp_path: Path
) -> None:
    """B has created a key and not yet stored it when A's create loses its reply:
    A cannot tell B's key from its orphan, so it deletes neither (its issue fails
    and its lease waits); once B's lease is active, the worker deletes A's orphan."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    a = _open(url, clock, google, enable=True)
    a.mount("gcp").write_role("r", **KEY_ROLESET)
    email = a.mount("gcp").read_role("r")["service_account_email"]
    live = a.mount("gcp").issue("r")
    b = _open(url, clock, google)
    reached, release, restore = _hold_activation(b)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(b.mount("gcp").issue, "r")
        assert reached.wait(60)
        google.faults.lose_reply("CreateServiceAccountKey")
        with pytest.raises(ProviderError) as caught:
            a.mount("gcp").issue("r")
        assert "in flight" in str(caught.value)
        assert len(_keys(google, email)) == 3  # live, B's held one, A's orphan
        states = sorted(x.state for x in a.leases())  # A's rollback waits for the worker
        assert states == [LeaseState.ACTIVE, LeaseState.PENDING, LeaseState.REVOKING]
        release.set()
        theirs = held.result(60)
    restore()
    clock.advance(3600)
    ExpiryWorker(a).run_once()
    assert _keys(google, email) == {_key_id(live), _key_id(theirs)}
    assert {x.lease_id for x in a.leases()} == {live.lease_id, theirs.lease_id}
    _works(google, live)
    _works(google, theirs)
    a.close()
    b.close()


def test_a_rolled_back_issue_deletes_its_own_key(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create's reply came back (the ledger holds the key, for this lease), then
    the store refused the activation: rollback deletes that key, and only it."""
    gcp_mount.write_role("r", **KEY_ROLESET)
    email = gcp_mount.read_role("r")["service_account_email"]
    kept = gcp_mount.issue("r")
    monkeypatch.setattr(gcp_engine.core.store, "activate_lease", lambda *a, **k: False)
    with pytest.raises(ProviderError, match="lost its claim"):
        gcp_mount.issue("r")
    assert _keys(google, email) == {_key_id(kept)}
    assert [x.lease_id for x in gcp_engine.leases()] == [kept.lease_id]
    _works(google, kept)
