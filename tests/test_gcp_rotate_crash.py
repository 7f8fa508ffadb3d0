"""Crash safety of ``roleset/<n>/rotate``: the process dies (a BaseException that
skips even rollback) after each cloud call of a rotation with live key leases; a
restart's recovery leaves the roleset in its old state or its new one, each
consistent, and nothing in the cloud that the store does not account for."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import BINDINGS_HCL, PROJECT, token_with_key
from .test_gcp_crash import Crash, _setup, crash_after, no_rollback

__all__ = ["no_rollback"]  # a fixture, used by name

ROLESET = {"project": PROJECT, "secret_type": "service_account_key", "bindings": BINDINGS_HCL}


def _bound(google: FakeGoogle) -> dict[str, set[str]]:
    """ds- member -> the resource roles it holds."""
    out: dict[str, set[str]] = {}
    for resource in google.state.policies:
        for role, members in google.state.members(resource).items():
            for m in members:
                if "ds-" in m:
                    out.setdefault(m, set()).add(f"{resource}:{role}")
    return out


def _check_consistent(engine: Engine, google: FakeGoogle) -> list[str]:
    """The roleset's accounts are exactly the ds- accounts in the cloud, each bound
    to the roleset's roles and nothing else is; every ds- key is an active lease's."""
    role = engine.mount("gcp").read_role("my-set").fields
    accounts = role["service_accounts"]
    assert sorted(e for e in google.state.accounts if e.startswith("ds-")) == sorted(accounts)
    bound = _bound(google)
    assert set(bound) == {f"serviceAccount:{e}" for e in accounts}
    assert len({frozenset(r.replace(m, "") for r in roles) for m, roles in bound.items()}) == 1
    leases = engine.store.list_leases("gcp/")
    assert all("/role-ops/" not in r.lease_id for r in leases)
    held = sorted(r.revocation["key_name"].rsplit("/", 1)[-1] for r in leases if r.revocation)
    keys = sorted(k for k, v in google.state.keys.items() if v["email"].startswith("ds-"))
    assert keys == held
    assert all(r.revocation and r.revocation["account"] in accounts for r in leases)
    return list(accounts)


def _crash_midway(
    google: FakeGoogle, tmp_path: Path, after: int, change: Callable[[Mount], object]
) -> tuple[str, ManualClock, str, list[Any]] | None:
    """A roleset with two live key leases, then ``change`` dies after ``after`` cloud
    calls. Returns (store url, clock, old account, live leases), or None when
    ``change`` needed fewer calls (nothing to crash)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    engine, mount = _setup(url, google, clock)
    google.add_resource("b/data-bucket")
    mount.write_role("my-set", **ROLESET)
    [old] = mount.read_role("my-set")["service_accounts"]
    live = [mount.issue("my-set") for _ in range(2)]
    seen = crash_after(mount, after)
    try:
        change(mount)
    except Crash:
        clock.advance(engine.claim_ttl + 1)
        engine.close()
        return url, clock, old, live
    assert len(seen) < after
    engine.close()
    return None


def _key_works(google: FakeGoogle, lease: Any) -> None:
    token_with_key(google, json.loads(base64.b64decode(lease.data["private_key_data"])))


def _issues_and_revokes(engine: Engine, google: FakeGoogle, accounts: list[str]) -> None:
    lease = engine.mount("gcp").issue("my-set")
    assert lease.data["service_account_email"] in accounts
    _key_works(google, lease)
    engine.revoke(lease.lease_id)
    _check_consistent(engine, google)


@pytest.mark.parametrize("after", range(1, 18))
def test_crash_during_rotate(
    google: FakeGoogle, tmp_path: Path, no_rollback: None, after: int
) -> None:
    crashed = _crash_midway(google, tmp_path, after, lambda m: m.role_action("my-set", "rotate"))
    if crashed is None:
        return
    url, clock, old, live = crashed
    with Engine.open(url, clock=clock) as second:  # opening recovers
        accounts = _check_consistent(second, google)
        if accounts == [old]:  # the old state: its leases and their keys still work
            assert [second.lookup(x.lease_id).lease_id for x in live]
            for lease in live:
                _key_works(google, lease)
        else:  # the new state: the old account's leases went with it
            assert old not in google.state.accounts and second.leases() == []
        _issues_and_revokes(second, google, accounts)


OTHER = "other-project-2"


def test_a_new_project_replaces_the_account_after_the_switch(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    """A roleset written with another project: a new account there, bound the same
    way; the old account's key leases revoked, then its members and itself removed;
    live keys on it never outlive their account unaccounted for."""
    google.add_resource("b/data-bucket")
    google.add_resource(f"projects/{OTHER}")
    mount = gcp_mount
    mount.write_role("my-set", **ROLESET)
    [old] = mount.read_role("my-set")["service_accounts"]
    live = [mount.issue("my-set") for _ in range(2)]
    mount.write_role("my-set", **{**ROLESET, "project": OTHER})
    [new] = mount.read_role("my-set")["service_accounts"]
    assert new != old and new.endswith(f"@{OTHER}.iam.gserviceaccount.com")
    assert mount.read_role("my-set")["project"] == OTHER
    assert old not in google.state.accounts
    assert gcp_engine.leases() == [] and all(
        x.lease_id not in {r.lease_id for r in gcp_engine.store.list_leases()} for x in live
    )
    _check_consistent(gcp_engine, google)
    lease = mount.issue("my-set")
    assert lease.data["service_account_email"] == new
    _key_works(google, lease)


@pytest.mark.parametrize("after", range(1, 16))
def test_crash_during_a_project_change(
    google: FakeGoogle, tmp_path: Path, no_rollback: None, after: int
) -> None:
    google.add_resource(f"projects/{OTHER}")
    crashed = _crash_midway(
        google, tmp_path, after, lambda m: m.write_role("my-set", **{**ROLESET, "project": OTHER})
    )
    if crashed is None:
        return
    url, clock, old, live = crashed
    with Engine.open(url, clock=clock) as second:  # opening recovers
        accounts = _check_consistent(second, google)
        project = second.mount("gcp").read_role("my-set")["project"]
        if accounts == [old]:
            assert project == PROJECT
            for lease in live:
                _key_works(google, lease)
        else:
            assert project == OTHER and old not in google.state.accounts
            assert second.leases() == []
        _issues_and_revokes(second, google, accounts)
