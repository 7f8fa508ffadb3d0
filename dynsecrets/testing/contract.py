"""Reusable conformance suites.

Plugin authors subclass :class:`ProviderContract` and override two fixtures::

    class TestMyCloud(ProviderContract):
        @pytest.fixture
        def mount(self, dynsecrets_engine):
            m = dynsecrets_engine.enable("mycloud", "mycloud")
            m.configure(token="...")
            return m

        @pytest.fixture
        def role_fields(self):
            return {"policy": "read-only"}

Optional: override ``credential_exists(mount, lease)`` to let the suite check
the cloud itself, and the ``broken_config`` fixture to check error mapping.

Store authors subclass :class:`StoreContract` and override ``store``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..engine import Mount
from ..errors import (
    DynSecretsError,
    LeaseNotFound,
    LeaseNotRenewable,
    MountExists,
    ProviderError,
    ValidationError,
)
from ..models import Lease, LeaseState
from ..schema import Field
from ..store.base import LeaseRecord, MountRecord, Store

__all__ = ["ProviderContract", "StoreContract"]

_WRONG: dict[str, Any] = {
    "str": 12345,
    "int": "twelve",
    "bool": "perhaps",
    "duration": "forever",
    "list": 5,
    "map": 5,
    "json": "{not json",
}


class ProviderContract:
    """Behaviour every provider must have. Override ``mount`` and ``role_fields``."""

    role_name = "contract"

    @pytest.fixture
    def mount(self) -> Mount:
        raise NotImplementedError("override the `mount` fixture: return a configured Mount")

    @pytest.fixture
    def role_fields(self) -> dict[str, Any]:
        raise NotImplementedError("override `role_fields`: fields of a valid role")

    @pytest.fixture
    def broken_config(self) -> dict[str, Any] | None:
        """Config under which cloud calls fail (bad credentials). None skips that check."""
        return None

    def credential_exists(self, mount: Mount, lease: Lease) -> bool | None:
        """Whether the lease's identity exists in the cloud; None when unknown."""
        return None

    @pytest.fixture
    def role(self, mount: Mount, role_fields: dict[str, Any]) -> str:
        mount.write_role(self.role_name, **role_fields)
        return self.role_name

    # -- validation -----------------------------------------------------------------
    def test_unknown_role_field_is_rejected(
        self, mount: Mount, role_fields: dict[str, Any]
    ) -> None:
        with pytest.raises(ValidationError) as info:
            mount.write_role("bad", **role_fields, no_such_field_xyz=1)
        assert info.value.field == "no_such_field_xyz"
        assert "bad" not in mount.roles()

    def test_wrong_types_name_the_field(self, mount: Mount, role_fields: dict[str, Any]) -> None:
        schema = mount.provider.role_schema
        checked = 0
        for name, field in schema.fields.items():
            wrong = _WRONG[field.kind]
            with pytest.raises(ValidationError) as info:
                mount.write_role("bad", **{**role_fields, name: wrong})
            assert info.value.field == name, f"{name}: error names {info.value.field!r}"
            checked += 1
        assert "bad" not in mount.roles()
        assert checked == len(schema.fields)

    def test_unknown_config_field_is_rejected(self, mount: Mount) -> None:
        with pytest.raises(ValidationError) as info:
            mount.configure(no_such_field_xyz="x")
        assert info.value.field == "no_such_field_xyz"

    def test_read_config_hides_secrets(self, mount: Mount) -> None:
        secret = mount.provider.config_schema.secret_fields
        if mount.info.configured:
            assert not secret & set(mount.read_config())

    def test_schema_fields_are_documented_kinds(self, mount: Mount) -> None:
        for schema in (mount.provider.role_schema, mount.provider.config_schema):
            for name, field in schema.fields.items():
                assert isinstance(field, Field), name
                assert field.kind in _WRONG, name

    # -- lifecycle ------------------------------------------------------------------
    def test_issue_revoke_round_trip(self, mount: Mount, role: str) -> None:
        lease = mount.issue(role)
        prefix = f"{mount.path}/creds/{role}/"
        assert lease.lease_id.startswith(prefix)
        assert len(lease.lease_id) == len(prefix) + 24
        assert lease.data, "issue returned no credentials"
        assert mount.engine.lookup(lease.lease_id).state == LeaseState.ACTIVE
        assert self.credential_exists(mount, lease) in (True, None)
        mount.engine.revoke(lease.lease_id)
        with pytest.raises(LeaseNotFound):
            mount.engine.lookup(lease.lease_id)
        assert self.credential_exists(mount, lease) in (False, None)

    def test_plan_is_json_and_names_before_issue(self, mount: Mount, role: str) -> None:
        lease = mount.issue(role)
        rec = mount.engine.store.get_lease(lease.lease_id)
        assert rec is not None
        json.dumps(dict(rec.plan))
        mount.engine.revoke(lease.lease_id)

    def test_revoke_is_idempotent(self, mount: Mount, role: str) -> None:
        lease = mount.issue(role)
        rec = mount.engine.store.get_lease(lease.lease_id)
        assert rec is not None
        mount.engine.revoke(lease.lease_id)
        config = mount.engine._config(mount.engine._mount_record(mount.path), mount.provider)
        mount.provider.revoke(config, rec.plan, rec.revocation)  # again: nothing left is success
        mount.provider.revoke(config, rec.plan, None)

    def test_revoke_of_a_plan_never_issued(self, mount: Mount, role: str) -> None:
        from ..providers.base import IssueRequest

        engine = mount.engine
        config = engine._config(engine._mount_record(mount.path), mount.provider)
        fields = engine.store.get_role(mount.path, role) or {}
        request = IssueRequest(
            mount=mount.path,
            role_name=role,
            role=fields,
            lease_id=f"{mount.path}/creds/{role}/" + "x" * 24,
            ttl=3600,
            now=engine.clock.now(),
        )
        plan = mount.provider.plan(config, request)
        mount.provider.revoke(config, plan, None)

    def test_renew_rules(self, mount: Mount, role: str) -> None:
        lease = mount.issue(role, ttl=600)
        try:
            if not lease.renewable:
                with pytest.raises(LeaseNotRenewable):
                    mount.engine.renew(lease.lease_id)
                return
            info = mount.engine.renew(lease.lease_id, increment=1200)
            assert info.expires_at >= lease.expires_at
            huge = mount.engine.renew(lease.lease_id, increment="100000h")
            assert huge.expires_at <= info.max_expires_at
        finally:
            mount.engine.revoke(lease.lease_id)

    def test_longest_role_name_issues(self, mount: Mount, role_fields: dict[str, Any]) -> None:
        name = "r" * 64
        mount.write_role(name, **role_fields)
        lease = mount.issue(name)
        assert self.credential_exists(mount, lease) in (True, None)
        mount.engine.revoke(lease.lease_id)

    def test_lease_context_manager_revokes(self, mount: Mount, role: str) -> None:
        with mount.lease(role) as lease:
            assert mount.engine.lookup(lease.lease_id)
        with pytest.raises(LeaseNotFound):
            mount.engine.lookup(lease.lease_id)
        assert self.credential_exists(mount, lease) in (False, None)

    def test_repr_hides_secrets(self, mount: Mount, role: str) -> None:
        with mount.lease(role) as lease:
            shown = repr(lease) + str(lease) + repr(lease.data) + repr(lease.env)
            for key in lease.data.secret_keys:
                value = lease.data[key]
                if isinstance(value, str) and len(value) >= 6:
                    assert value not in shown, f"{key} shows in repr"

    def test_errors_are_mapped(
        self, mount: Mount, role: str, broken_config: dict[str, Any] | None
    ) -> None:
        if broken_config is None:
            pytest.skip("no broken_config fixture: error mapping not checked")
        mount.configure(**broken_config)
        with pytest.raises(ProviderError) as info:
            mount.issue(role)
        assert isinstance(info.value, DynSecretsError)
        # No usable lease came out of it. A rollback that the broken config also
        # refused leaves the lease for the worker, never silently dropped.
        left = mount.engine.leases(f"{mount.path}/")
        assert all(x.state in (LeaseState.PENDING, LeaseState.REVOKING) for x in left)


class StoreContract:
    """Behaviour every store must have. Override the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("override the `store` fixture")

    @staticmethod
    def lease(
        lease_id: str,
        *,
        due: float = 100.0,
        state: str = LeaseState.ACTIVE,
        mount: str = "m",
        role: str = "r",
    ) -> LeaseRecord:
        return LeaseRecord(
            lease_id=lease_id,
            mount=mount,
            role=role,
            state=state,
            plan={"user": "u", "n": [1, 2]},
            revocation=None,
            issued_at=1.0,
            expires_at=due,
            max_expires_at=due + 100,
            due_at=due,
        )

    def test_mount_round_trip(self, store: Store) -> None:
        store.create_mount(MountRecord("m", "fake", 10, 20, "desc", 5, b"\x00sealed", 1.0))
        got = store.get_mount("m")
        assert got == MountRecord("m", "fake", 10, 20, "desc", 5, b"\x00sealed", 1.0)
        with pytest.raises(MountExists):
            store.create_mount(MountRecord("m", "fake", 10, 20))
        store.update_mount("m", default_ttl=15, config=None)
        got = store.get_mount("m")
        assert got is not None and got.default_ttl == 15 and got.config is None
        assert [m.path for m in store.list_mounts()] == ["m"]
        store.put_role("m", "r", {"a": [1]})
        store.delete_mount("m")
        assert store.get_mount("m") is None
        assert store.get_role("m", "r") is None

    def test_mount_and_role_in_one_read(self, store: Store) -> None:
        assert store.get_mount_role("m", "r") == (None, None)
        store.create_mount(MountRecord("m", "fake", 10, 20))
        mount, role = store.get_mount_role("m", "r")
        assert mount is not None and mount.path == "m" and role is None
        store.put_role("m", "r", {"x": [1]})
        assert store.get_mount_role("m", "r") == (store.get_mount("m"), {"x": [1]})

    def test_activation_only_from_pending(self, store: Store) -> None:
        store.insert_lease(self.lease("m/creds/r/p", state=LeaseState.PENDING))
        for lease_id, expected in (
            ("m/creds/r/p", True),
            ("m/creds/r/p", False),
            ("m/creds/r/gone", False),
        ):
            activated = store.activate_lease(
                lease_id, revocation={}, expires_at=5.0, max_expires_at=9.0, renewable=True
            )
            assert activated is expected, lease_id

    def test_role_round_trip(self, store: Store) -> None:
        store.create_mount(MountRecord("m", "fake", 10, 20))
        store.put_role("m", "b", {"x": 1, "l": ["a"]})
        store.put_role("m", "a", {"x": 2})
        store.put_role("m", "b", {"x": 3})
        assert store.get_role("m", "b") == {"x": 3}
        assert store.list_roles("m") == ["a", "b"]
        assert store.delete_role("m", "a") is True
        assert store.delete_role("m", "a") is False
        assert store.get_role("m", "a") is None

    def test_lease_round_trip(self, store: Store) -> None:
        rec = self.lease("m/creds/r/1", state=LeaseState.PENDING)
        store.insert_lease(rec)
        assert store.get_lease(rec.lease_id) == rec
        store.activate_lease(
            rec.lease_id,
            revocation={"k": "v"},
            expires_at=50.0,
            max_expires_at=200.0,
            renewable=False,
        )
        got = store.get_lease(rec.lease_id)
        assert got is not None
        assert (got.state, got.revocation, got.due_at, got.renewable) == (
            "active",
            {"k": "v"},
            50.0,
            False,
        )
        store.extend_lease(rec.lease_id, 80.0)
        got = store.get_lease(rec.lease_id)
        assert got is not None and got.expires_at == 80.0 and got.due_at == 80.0
        assert store.delete_lease(rec.lease_id) is True
        assert store.delete_lease(rec.lease_id) is False
        assert store.get_lease(rec.lease_id) is None

    def test_delete_many(self, store: Store) -> None:
        for i in range(3):
            store.insert_lease(self.lease(f"m/creds/r/{i}"))
        assert store.delete_leases(["m/creds/r/0", "m/creds/r/2", "m/creds/r/none"]) == 2
        assert [r.lease_id for r in store.list_leases()] == ["m/creds/r/1"]
        assert store.delete_leases([]) == 0

    def test_prefix_listing_and_counts(self, store: Store) -> None:
        for lid in ("a/creds/x/1", "a/creds/x/2", "a/creds/xy/1", "b/creds/x/1"):
            store.insert_lease(self.lease(lid, mount=lid.split("/")[0], role=lid.split("/")[2]))
        assert [r.lease_id for r in store.list_leases("a/creds/x/")] == [
            "a/creds/x/1",
            "a/creds/x/2",
        ]
        assert len(store.list_leases("a/")) == 3
        assert len(store.list_leases()) == 4
        assert len(store.list_leases(limit=2)) == 2
        assert store.count_leases("a") == 3
        assert store.count_leases("a", "x") == 2
        assert store.list_leases(state=LeaseState.PENDING) == []

    def test_claims_are_exclusive_until_the_deadline(self, store: Store) -> None:
        for i in range(5):
            store.insert_lease(self.lease(f"m/creds/r/{i}", due=10.0 + i))
        store.insert_lease(self.lease("m/creds/r/later", due=1000.0))
        first = store.claim_due(20.0, owner="w1", deadline=50.0, limit=3)
        second = store.claim_due(20.0, owner="w2", deadline=50.0, limit=10)
        assert [r.lease_id for r in first] == ["m/creds/r/0", "m/creds/r/1", "m/creds/r/2"]
        assert {r.lease_id for r in second} == {"m/creds/r/3", "m/creds/r/4"}
        assert all(r.claim_owner == "w1" for r in first)
        assert store.claim_due(20.0, owner="w3", deadline=60.0, limit=10) == []
        # w1 dies: after its deadline the leases return to the pool.
        again = store.claim_due(51.0, owner="w3", deadline=90.0, limit=10)
        assert len(again) == 5
        store.release_claim("m/creds/r/0", "w3")
        assert [r.lease_id for r in store.claim_due(60.0, owner="w4", deadline=99.0, limit=10)] == [
            "m/creds/r/0"
        ]

    def test_claim_by_state_and_next_due(self, store: Store) -> None:
        assert store.next_due() is None
        store.insert_lease(self.lease("m/creds/r/a", due=10.0))
        store.insert_lease(self.lease("m/creds/r/p", due=20.0, state=LeaseState.PENDING))
        assert store.next_due() == 10.0
        got = store.claim_due(30.0, owner="w", deadline=40.0, limit=10, state=LeaseState.PENDING)
        assert [r.lease_id for r in got] == ["m/creds/r/p"]

    def test_meta_first_writer_wins(self, store: Store) -> None:
        assert store.get_meta("salt") is None
        assert store.put_meta_if_absent("salt", "a") == "a"
        assert store.put_meta_if_absent("salt", "b") == "a"
        assert store.get_meta("salt") == "a"

    def test_failure_releases_claim_and_reschedules(self, store: Store) -> None:
        store.insert_lease(self.lease("m/creds/r/1", due=10.0))
        [rec] = store.claim_due(20.0, owner="w1", deadline=50.0, limit=10)
        store.record_failure(
            rec.lease_id, state=LeaseState.REVOKING, attempts=1, last_error="boom", due_at=30.0
        )
        got = store.get_lease(rec.lease_id)
        assert got is not None
        assert (got.state, got.attempts, got.last_error, got.claim_owner) == (
            "revoking",
            1,
            "boom",
            None,
        )
        assert store.claim_due(25.0, owner="w2", deadline=50.0, limit=10) == []
        assert len(store.claim_due(30.0, owner="w2", deadline=50.0, limit=10)) == 1
