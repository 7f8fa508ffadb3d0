"""The conformance suite every store passes. Subclass :class:`StoreContract` and
override the ``store`` fixture."""

from __future__ import annotations

import attrs
import pytest

from ..errors import MountExists
from ..models import LeaseState
from ..store.base import LeaseRecord, MountRecord, Store, TokenRecord

__all__ = ["StoreContract"]


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

    def test_lease_and_mount_in_one_read(self, store: Store) -> None:
        assert store.get_lease_and_mount("m/creds/r/1") == (None, None)
        store.insert_lease(self.lease("m/creds/r/1"))
        assert store.get_lease_and_mount("m/creds/r/1") == (store.get_lease("m/creds/r/1"), None)
        store.create_mount(MountRecord("m", "fake", 10, 20, "d", None, b"\x00s", 2.0))
        lease, mount = store.get_lease_and_mount("m/creds/r/1")
        assert lease == store.get_lease("m/creds/r/1") and lease is not None
        assert mount == store.get_mount("m") and mount is not None

    def test_role_stored_only_while_its_operation_row_is_claimed(self, store: Store) -> None:
        store.create_mount(MountRecord("m", "fake", 10, 20))
        row = attrs.evolve(
            self.lease("m/role-ops/r/1", due=50.0, state=LeaseState.PENDING),
            claim_owner="me",
            claim_deadline=50.0,
        )
        store.insert_lease(row)
        put = store.put_role_if_claimed
        assert put("m", "r", {"v": 1}, lease_id="m/role-ops/r/1", owner="me")
        assert store.get_role("m", "r") == {"v": 1}
        # Recovery took the row over: the switch is refused and changes nothing.
        assert store.claim_due(60.0, owner="rec", deadline=90.0, limit=5, state="pending")
        assert not put("m", "r", {"v": 2}, lease_id="m/role-ops/r/1", owner="me")
        assert not put("m", "r", {"v": 2}, lease_id="m/role-ops/r/gone", owner="me")
        assert store.get_role("m", "r") == {"v": 1}
        assert store.get_lease("m/role-ops/r/1") == attrs.evolve(
            row, claim_owner="rec", claim_deadline=90.0
        )
        # A complete operation: the role and the end of its row in one commit.
        store.insert_lease(attrs.evolve(row, lease_id="m/role-ops/r/2"))
        assert put("m", "r", {"v": 3}, lease_id="m/role-ops/r/2", owner="me", drop_row=True)
        assert store.get_role("m", "r") == {"v": 3} and store.get_lease("m/role-ops/r/2") is None

    def test_states_are_never_caller_text(self, store: Store) -> None:
        # Queries by state put the state in the SQL (partial indexes): only known ones.
        with pytest.raises(ValueError, match="not a lease state"):
            store.list_leases(state="active' OR 'a' = 'a")
        with pytest.raises(ValueError, match="not a lease state"):
            store.claim_due(1.0, owner="w", deadline=2.0, limit=1, state="x'")

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

    def test_store_has_a_stable_id(self, store: Store) -> None:
        assert isinstance(store.store_id, str) and len(store.store_id) >= 16
        assert store.get_meta("store_id") == store.store_id

    def test_activation_needs_the_issuers_claim(self, store: Store) -> None:
        rec = self.lease("m/creds/r/p", state=LeaseState.PENDING)
        store.insert_lease(attrs.evolve(rec, claim_owner="issuer-a", claim_deadline=50.0))
        assert not store.activate_lease(
            rec.lease_id,
            revocation={},
            expires_at=5.0,
            max_expires_at=9.0,
            renewable=True,
            owner="issuer-b",
        )
        assert store.activate_lease(
            rec.lease_id,
            revocation={},
            expires_at=5.0,
            max_expires_at=9.0,
            renewable=True,
            owner="issuer-a",
        )
        got = store.get_lease(rec.lease_id)
        assert got is not None and got.claim_owner is None and got.state == LeaseState.ACTIVE

    def test_heartbeat_extends_only_its_own_claims(self, store: Store) -> None:
        store.insert_lease(self.lease("m/creds/r/1", due=10.0))
        store.insert_lease(self.lease("m/creds/r/2", due=10.0))
        pending = self.lease("m/creds/r/p", due=10.0, state=LeaseState.PENDING)
        store.insert_lease(attrs.evolve(pending, claim_owner="w1", claim_deadline=30.0))
        store.claim_due(20.0, owner="w1", deadline=30.0, limit=1)
        store.claim_due(20.0, owner="w2", deadline=30.0, limit=1)
        assert store.extend_claims("w1", 60.0) == 2
        by_id = {r.lease_id: r for r in store.list_leases()}
        assert by_id["m/creds/r/1"].claim_deadline == 60.0
        assert by_id["m/creds/r/2"].claim_deadline == 30.0
        # A pending lease is due when its issuer's claim lapses: both move together.
        assert by_id["m/creds/r/p"].due_at == 60.0
        assert by_id["m/creds/r/1"].due_at == 10.0
        assert store.claim_due(40.0, owner="w3", deadline=90.0, limit=10)[0].lease_id == (
            "m/creds/r/2"
        )

    def test_defer_keeps_the_attempt_count(self, store: Store) -> None:
        store.insert_lease(self.lease("m/creds/r/1", due=10.0))
        [rec] = store.claim_due(20.0, owner="w1", deadline=50.0, limit=10)
        store.defer(rec.lease_id, due_at=70.0, last_error="DecryptionError: wrong key")
        got = store.get_lease(rec.lease_id)
        assert got is not None
        assert (got.state, got.attempts, got.due_at, got.claim_owner) == (
            LeaseState.ACTIVE,
            0,
            70.0,
            None,
        )
        assert got.last_error == "DecryptionError: wrong key"

    def test_role_counts_cover_every_lease_path(self, store: Store) -> None:
        for lid, role in (
            ("a/creds/x/1", "x"),
            ("a/sts/x/2", "x"),
            ("a/roleset/x/key/3", "x"),
            ("a/sts/xy/1", "xy"),
            ("ab/creds/x/1", "x"),
        ):
            store.insert_lease(self.lease(lid, mount=lid.split("/")[0], role=role))
        assert store.count_leases("a", "x") == 3
        assert store.count_leases("a") == 4

    # -- schema 2: server tokens, policies, lease owners --------------------------------
    @staticmethod
    def token(
        accessor: str, *, parent: str | None = None, expires: float = 100.0, orphan: bool = False
    ) -> TokenRecord:
        return TokenRecord(
            token_hash=f"hash-of-{accessor}",
            accessor=accessor,
            policies=("p1", "p2"),
            created_at=1.0,
            expires_at=expires,
            ttl=99,
            display_name="ci",
            orphan=orphan,
            parent=parent,
        )

    def test_token_round_trip(self, store: Store) -> None:
        rec = self.token("a1")
        store.put_token(rec)
        assert store.get_token("hash-of-a1") == rec
        assert store.get_token_by_accessor("a1") == rec
        assert store.get_token("a1") is None  # looked up by hash only
        assert store.delete_token("a1") is True
        assert store.delete_token("a1") is False
        assert store.get_token("hash-of-a1") is None

    def test_token_children_expiry_and_orphans(self, store: Store) -> None:
        store.put_token(self.token("parent", expires=50.0))
        store.put_token(self.token("child", parent="parent", expires=200.0))
        store.put_token(self.token("free", expires=300.0, orphan=True))
        assert [t.accessor for t in store.child_tokens("parent")] == ["child"]
        assert [t.accessor for t in store.expired_tokens(60.0, limit=10)] == ["parent"]
        assert store.orphaned_tokens(limit=10) == []
        store.delete_token("parent")
        assert [t.accessor for t in store.orphaned_tokens(limit=10)] == ["child"]

    def test_lease_owners_follow_their_token(self, store: Store) -> None:
        store.put_token(self.token("a1"))
        store.add_lease_owner("m/creds/r/1", "a1")
        store.add_lease_owner("m/creds/r/2", "a1")
        store.add_lease_owner("m/creds/r/3", "gone")
        assert store.leases_of_token("a1") == ["m/creds/r/1", "m/creds/r/2"]
        assert store.lease_owner("m/creds/r/2") == "a1"
        assert store.lease_owner("m/creds/r/none") is None
        assert store.ownerless_leases(limit=10) == ["m/creds/r/3"]
        store.delete_token("a1")
        assert store.ownerless_leases(limit=10) == ["m/creds/r/1", "m/creds/r/2", "m/creds/r/3"]
        assert store.ownerless_leases(limit=1) == ["m/creds/r/1"]
        assert store.delete_lease_owner("m/creds/r/1") is True
        assert store.delete_lease_owner("m/creds/r/1") is False

    def test_policy_round_trip(self, store: Store) -> None:
        assert store.list_policies() == []
        store.put_policy("b", 'path "x" {}', 1.0)
        store.put_policy("a", 'path "y" {}', 1.0)
        store.put_policy("b", 'path "z" {}', 2.0)
        assert store.list_policies() == ["a", "b"]
        assert store.get_policies(["b", "missing"]) == {"b": 'path "z" {}'}
        assert store.get_policies([]) == {}
        assert store.delete_policy("a") is True
        assert store.delete_policy("a") is False

    def test_task_rows_upsert_and_claim_one_at_a_time(self, store: Store) -> None:
        task = attrs.evolve(self.lease("@rotation/m/static/a", due=50.0), plan={"_task": "t"})
        store.put_task(task)
        assert store.claim_lease("@rotation/m/static/a", owner="w1", deadline=90.0, now=10.0)
        # Another owner cannot take a live claim; the holder may renew it.
        assert not store.claim_lease("@rotation/m/static/a", owner="w2", deadline=90.0, now=20.0)
        assert store.claim_lease("@rotation/m/static/a", owner="w1", deadline=95.0, now=20.0)
        assert store.claim_lease("@rotation/m/static/a", owner="w2", deadline=190.0, now=96.0)
        assert not store.claim_lease("@rotation/m/none", owner="w2", deadline=190.0, now=96.0)
        store.record_failure(
            "@rotation/m/static/a",
            state=LeaseState.REVOKING,
            attempts=2,
            last_error="x",
            due_at=60.0,
        )
        assert store.claim_lease("@rotation/m/static/a", owner="w2", deadline=190.0, now=96.0)
        # A second put moves the due time, takes the new plan, resets attempts; the
        # claim stays until its holder releases it.
        store.put_task(attrs.evolve(task, plan={"_task": "t", "v": 2}, due_at=500.0))
        got = store.get_lease("@rotation/m/static/a")
        assert got is not None
        assert (got.due_at, got.attempts, got.last_error, got.claim_owner) == (500.0, 0, None, "w2")
        assert (got.state, got.plan) == (LeaseState.ACTIVE, {"_task": "t", "v": 2})
        store.release_claim("@rotation/m/static/a", "w2")
        assert store.get_lease("@rotation/m/static/a").claim_owner is None  # type: ignore[union-attr]
        # Moving the due time mid-run keeps the failure record.
        store.record_failure(
            "@rotation/m/static/a",
            state=LeaseState.IRREVOCABLE,
            attempts=6,
            last_error="y",
            due_at=1.0,
        )
        store.put_task(attrs.evolve(task, due_at=700.0), keep_health=True)
        got = store.get_lease("@rotation/m/static/a")
        assert got is not None
        assert (got.due_at, got.attempts, got.last_error, got.state) == (
            700.0,
            6,
            "y",
            "irrevocable",
        )
        assert store.claim_due(400.0, owner="w", deadline=900.0, limit=10) == []
