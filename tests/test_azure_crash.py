"""Crash safety: the process dies after each cloud call of an issue (nothing after it
runs, not even rollback), or is SIGKILLed mid-issue; recovery leaves nothing behind."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from dynsecrets import Engine, LeaseState, ManualClock
from dynsecrets.lifecycle import issuance
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.registry import ProviderRegistry
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    READER,
    assert_nothing_left,
    azure,
    azure_clock,
    azure_entry_point,
    dynsecrets_apps,
    roles_json,
    sub_scope,
)

__all__ = ["azure", "azure_clock", "azure_entry_point"]
from ._kill import kill_after_calls

ROOT = Path(__file__).resolve().parent.parent
ISSUE_CALLS = [
    "CreateApplication",
    "CreateServicePrincipal",
    "AddPassword",
    "CreateRoleAssignment",
    "AddGroupMember",
]


class Crash(BaseException):
    """The process dies here."""


def _setup(url: str, azure: AzureFakes, clock: ManualClock) -> Engine:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    engine = Engine.open(url, clock=clock, registry=registry)
    if "azure" not in [m.path for m in engine.mounts()]:
        mount = engine.enable("azure", "azure")
        mount.configure(**azure.config())
        group = azure.add_group("devs")
        mount.write_role(
            "full",
            azure_roles=roles_json({"role_id": READER, "scope": sub_scope(azure)}),
            azure_groups=roles_json({"object_id": group}),
        )
    return engine


@pytest.mark.parametrize("after", ISSUE_CALLS)
def test_crash_after_each_call_is_recovered(
    azure: AzureFakes,
    azure_clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _setup(url, azure, azure_clock)
    mount = first.mount("azure")

    def die(method: str, url: str, status: int) -> None:
        if azure.operation_of(method, url) == after and status < 400:
            raise Crash

    mount.provider.clients.observers.append(die)  # type: ignore[attr-defined]
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)
    with pytest.raises(Crash):
        mount.issue("full")
    monkeypatch.undo()
    assert len(dynsecrets_apps(azure)) == 1
    assert len(first.leases(state=LeaseState.PENDING)) == 1

    azure_clock.advance(first.claim_ttl + 1)
    with _setup(url, azure, azure_clock) as second:  # a restart recovers it
        assert second.leases() == []
    assert_nothing_left(azure)
    first.close()


@pytest.mark.slow
def test_sigkill_during_issuance(
    azure: AzureFakes, azure_clock: ManualClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _setup(url, azure, azure_clock).close()
    rng = random.Random(20261124)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = 12
    for _ in range(kills):
        # Kill once the child reports how far it got: 1-9 Graph/ARM replies.
        kill_after_calls("tests._azure_issue_forever", [url], env, rng.randint(1, 9))

    apps = {a["id"]: a for a in dynsecrets_apps(azure)}
    lease_of = {
        next(t for t in a["tags"] if t.startswith("dynsecrets:lease="))[17:] for a in apps.values()
    }
    with Engine.open(url, recover=False) as engine:
        leases = {x.lease_id: x for x in engine.leases()}
        # Write-ahead: every application was recorded before it was created.
        assert apps and lease_of <= set(leases), "an application without a lease"
        active = [x for x in leases.values() if x.state == LeaseState.ACTIVE]
        assert len(leases) - len(active) <= kills
    later = ManualClock(time.time() + 31)  # past the dead issuers' claim TTL (30 s)
    with _setup(url, azure, later) as engine:  # open() recovers the pending leases
        assert engine.leases(state=LeaseState.PENDING) == []
        assert engine.revoke_prefix("azure/").revoked == len(active)
        assert engine.leases() == []
    assert_nothing_left(azure)
