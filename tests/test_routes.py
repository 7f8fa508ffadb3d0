"""Providers declare their own Vault paths; the router follows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from dynsecrets import Engine, ManualClock
from dynsecrets.errors import PathNotFound, RoleNotFound, ValidationError
from dynsecrets.providers.registry import ProviderRegistry
from dynsecrets.providers.routes import Route
from dynsecrets.schema import Field, Schema
from dynsecrets.store import open_store
from dynsecrets.testing import FakeCloud, FakeProvider


class KindsProvider(FakeProvider):
    """A fake with GCP's layout: two kinds of role under their own paths."""

    name: ClassVar[str] = "kinds"
    role_schema = Schema(
        {**FakeProvider.role_schema.fields, "kind": Field("str", choices=("set", "account"))},
        what="role",
    )
    request_schema = Schema({"flavour": Field("str", choices=("key", "token"))}, what="request")
    routes = (
        Route("config", "config"),
        Route("set", "roles", kind="set"),
        Route("set/{role}", "role", kind="set"),
        Route("set/{role}/key", "issue", kind="set", options={"flavour": "key"}),
        Route("set/{role}/rotate-key", "role_action", kind="set"),
        Route("account/{role}", "role", kind="account"),
        Route("account/{role}/key", "issue", kind="account", options={"flavour": "key"}),
        Route("key/{role}", "issue", kind="set", options={"flavour": "key"}, shown=False),
    )
    actions: ClassVar[list[tuple[str, str]]] = []

    def role_action(
        self,
        config: Mapping[str, Any],
        mount: str,
        role_name: str,
        role: Mapping[str, Any],
        action: str,
        options: Mapping[str, Any],
    ) -> dict[str, Any]:
        KindsProvider.actions.append((role_name, action))
        return {"rotated": role_name}


@pytest.fixture
def engine() -> Engine:
    clock = ManualClock()
    registry = ProviderRegistry(entry_points=False)
    registry.register(KindsProvider.sharing(FakeCloud(clock=clock)), "kinds")
    e = Engine(open_store("memory://"), registry=registry, clock=clock)
    e.enable("k", "kinds")
    e.write("k/config", account="acme")
    return e


def test_roles_of_each_kind_live_under_their_paths(engine: Engine) -> None:
    engine.write("k/set/web", policies=["read"])
    engine.write("k/account/bot", policies=["write"])
    assert engine.read("k/set/web")["kind"] == "set"
    assert engine.list("k/set") == ["web"]
    with pytest.raises(RoleNotFound):
        engine.read("k/set/bot")  # an account, not a set
    with pytest.raises(PathNotFound, match="use <mount>/config, <mount>/set"):
        engine.read("k/roles/web")  # not this provider's layout


def test_issue_routes_fix_options_and_file_leases_under_their_path(engine: Engine) -> None:
    engine.write("k/set/web", policies=["read"])
    engine.write("k/account/bot", policies=["write"])
    lease = engine.read("k/set/web/key")
    assert lease.lease_id.startswith("k/set/web/key/") and len(lease.lease_id) == 14 + 24
    legacy = engine.read("k/key/web")
    assert legacy.lease_id.startswith("k/key/web/")
    with pytest.raises(RoleNotFound):
        engine.read("k/account/web/key")
    assert engine.revoke_prefix("k/set/web").revoked == 1
    assert [x.lease_id for x in engine.leases("k/")] == [legacy.lease_id]
    with pytest.raises(ValidationError) as info:
        engine.read("k/set/web/key", flavour="token")  # the path fixes it
    assert info.value.field == "flavour"
    assert len(engine.leases("k/")) == 1


def test_role_actions(engine: Engine) -> None:
    engine.write("k/set/web", policies=["read"])
    assert engine.write("k/set/web/rotate-key") == {"rotated": "web"}
    assert ("web", "rotate-key") in KindsProvider.actions
    with pytest.raises(PathNotFound):
        engine.read("k/set/web/rotate-key")  # actions are writes


def test_a_config_write_keeps_the_fields_it_does_not_name(engine: Engine) -> None:
    engine.write("k/config", account="other", api_key=None)
    assert engine.read("k/config")["account"] == "other"
    engine.write("k/config", account="third")  # as Vault: only the named field changes
    assert engine.read("k/config")["account"] == "third"
    engine.mount("k").configure()  # the Python API replaces the whole config
    assert engine.read("k/config")["account"] == "fake-account"
