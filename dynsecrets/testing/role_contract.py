"""Contract checks for providers with role-level cloud objects (``plan_role``):
a crash between the cloud and the store is undone, an abandoned role write is
recovered once its claim lapses, a role delete removes its objects, and a delete is
refused while leases live, and tidy (``list_managed``) keeps a live role's
identities but finds those of a role operation whose record was lost.
:class:`~dynsecrets.testing.ProviderContract` includes them; each skips, saying
why, for a provider without role-level objects."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from ..engine import Mount
from ..errors import Conflict, LeaseNotFound
from .cloud_check import CloudCheck, overrides

__all__ = ["RoleLevelChecks"]


class RoleLevelChecks:
    # -- role-level cloud objects (providers that implement plan_role) ----------------
    def _role_plan(self, mount: Mount, role_fields: dict[str, Any]) -> dict[str, Any]:
        if not overrides(mount.provider, "plan_role"):
            pytest.skip("the provider has no role-level cloud objects (no plan_role)")
        validated = mount.provider.validate_role("planned", dict(role_fields))
        plan = mount.provider.plan_role(mount.root_config(), mount.path, "planned", validated, None)
        if plan is None:
            pytest.skip("role_fields make no role-level cloud objects")
        assert "role_op" in plan, "a role plan must hold the key 'role_op'"
        json.dumps(plan)
        return plan

    def _role_ops(self, mount: Mount) -> list[Any]:
        return [x for x in mount.engine.leases(f"{mount.path}/role-ops/")]

    def test_crash_after_role_apply_is_undone(
        self, mount: Mount, role_fields: dict[str, Any], cloud: CloudCheck
    ) -> None:
        self._role_plan(mount, role_fields)
        provider = mount.provider
        real = provider.apply_role
        seen: list[Mapping[str, Any]] = []

        def apply_then_die(config: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
            seen.append(plan)
            real(config, plan)
            raise KeyboardInterrupt  # a crash between the cloud and the store

        mp = pytest.MonkeyPatch()
        mp.setattr(provider, "apply_role", apply_then_die)
        try:
            with pytest.raises(KeyboardInterrupt):
                mount.write_role("crashed", **role_fields)
        finally:
            mp.undo()
        assert "crashed" not in mount.roles()
        assert self._role_ops(mount) == []
        assert cloud.role_objects(mount, seen[0]) in (0, None)

    def test_abandoned_role_write_is_recovered(
        self, mount: Mount, role_fields: dict[str, Any], cloud: CloudCheck
    ) -> None:
        from ..clock import ManualClock
        from ..lifecycle import role_resources
        from ..lifecycle.recovery import recover_pending

        self._role_plan(mount, role_fields)
        engine = mount.engine
        if not isinstance(engine.clock, ManualClock):
            pytest.skip("needs an engine on a ManualClock to let the claim lapse")
        core = engine.core
        rec = core.mount_record(mount.path)
        validated = mount.provider.validate_role("dead", dict(role_fields))
        plan = mount.provider.plan_role(mount.root_config(), mount.path, "dead", validated, None)
        assert plan is not None
        # What a process does before it dies mid-write: the row, then the cloud calls.
        role_resources._pending(core, rec.path, "dead", plan)
        mount.provider.apply_role(mount.root_config(), plan)
        assert len(self._role_ops(mount)) == 1
        engine.clock.advance(core.claim_ttl + 1)
        assert recover_pending(core) == 1
        assert self._role_ops(mount) == []
        assert "dead" not in mount.roles()
        assert cloud.role_objects(mount, plan) in (0, None)

    def test_role_delete_removes_its_objects(
        self, mount: Mount, role_fields: dict[str, Any], cloud: CloudCheck
    ) -> None:
        self._role_plan(mount, role_fields)
        mount.write_role("deleted", **role_fields)
        stored = mount.read_role("deleted").fields
        plan = mount.provider.plan_role(mount.root_config(), mount.path, "deleted", None, stored)
        assert plan is not None
        before = cloud.role_objects(mount, plan)
        assert before is None or before > 0
        mount.delete_role("deleted")
        assert cloud.role_objects(mount, plan) in (0, None)
        assert self._role_ops(mount) == []

    def test_role_delete_refused_while_leases_live(
        self, mount: Mount, role_fields: dict[str, Any]
    ) -> None:
        self._role_plan(mount, role_fields)
        mount.write_role("busy", **role_fields)
        lease = mount.issue("busy")
        if not lease.lease_id:
            pytest.skip("this role's credentials have no lease")
        with pytest.raises(Conflict):
            mount.delete_role("busy")
        assert "busy" in mount.roles()
        mount.delete_role("busy", revoke_leases=True)
        assert "busy" not in mount.roles()
        with pytest.raises(LeaseNotFound):
            mount.engine.lookup(lease.lease_id)

    def test_tidy_keeps_role_owned_identities(
        self, mount: Mount, role_fields: dict[str, Any]
    ) -> None:
        from ..lifecycle import role_resources

        self._role_plan(mount, role_fields)
        if not overrides(mount.provider, "list_managed"):
            pytest.skip("the provider does not implement list_managed (no tidy)")
        mount.write_role("owned", **role_fields)
        config = mount.root_config()
        mine = [i for i in mount.provider.list_managed(config, mount.path) if i.role == "owned"]
        if not mine:
            pytest.skip("list_managed reports no identity owned by a role")
        # A role write whose record was lost (a store restored from an old backup):
        # its objects exist, and nothing in the store names them.
        core = mount.engine.core
        validated = mount.provider.validate_role("lost", dict(role_fields))
        plan = mount.provider.plan_role(config, mount.path, "lost", validated, None)
        assert plan is not None
        op_id = role_resources._pending(core, mount.path, "lost", plan)
        mount.provider.apply_role(config, plan)
        during = mount.tidy(dry_run=False)  # the pending row still names them
        assert not {i.id for i in during.orphans} & {i.id for i in mine}
        assert all(i.role != "lost" for i in during.orphans)
        assert core.store.delete_lease(op_id)
        report = mount.tidy()
        lost = {i.id for i in report.orphans if i.role == "lost"}
        assert lost and not {i.id for i in report.orphans} & {i.id for i in mine}
        applied = mount.tidy(dry_run=False)
        assert lost <= set(applied.deleted) and not applied.errors
        left = {i.id for i in mount.provider.list_managed(config, mount.path)}
        assert not lost & left and {i.id for i in mine} <= left
        mount.delete_role("owned", revoke_leases=True)
