"""The Engine/Mount API through its public surface, on the fake provider."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.errors import (
    DynSecretsError,
    InvalidTTL,
    LeaseLimitExceeded,
    LeaseNotFound,
    LeaseNotRenewable,
    MountExists,
    MountInUse,
    MountNotFound,
    PathNotFound,
    ProviderNotFound,
    RevocationFailed,
    RoleNotFound,
    ValidationError,
)
from dynsecrets.lifecycle import issuance
from dynsecrets.testing import FakeCloud

LEASE_ID = re.compile(r"^fake/creds/app/[A-Za-z0-9]{24}$")


# -- mounts --------------------------------------------------------------------------
def test_enable_defaults_to_vaults_system_ttl(dynsecrets_engine: Engine) -> None:
    m = dynsecrets_engine.enable("aws-us-west-2", "fake")
    assert (m.info.default_ttl, m.info.max_ttl) == (768 * 3600, 768 * 3600)
    assert [i.path for i in dynsecrets_engine.mounts()] == ["aws-us-west-2"]
    assert dynsecrets_engine.mount("aws-us-west-2/").path == "aws-us-west-2"


def test_enable_twice_is_a_conflict(dynsecrets_engine: Engine) -> None:
    dynsecrets_engine.enable("x", "fake")
    with pytest.raises(MountExists, match="already exists at x/"):
        dynsecrets_engine.enable("x", "fake")


HOSTILE = [
    "",
    "../etc",
    "a/b",
    "a b",
    "a;drop table mounts",
    "x" * 65,
    "ünï",
    "a\nb",
    "'quoted'",
    "sys",
    "-lead",
    ".",
    "a" * 10_000,
    "\x00",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_bad_mount_paths_are_rejected(dynsecrets_engine: Engine, path: str) -> None:
    with pytest.raises(ValidationError) as info:
        dynsecrets_engine.enable(path, "fake")
    assert info.value.field == "path"
    assert dynsecrets_engine.mounts() == []


def test_unknown_provider_lists_installed_and_extra() -> None:
    from dynsecrets import ProviderRegistry
    from dynsecrets.testing import FakeProvider

    # A registry without entry points: a known cloud whose extra is not installed,
    # whatever this machine has installed.
    registry = ProviderRegistry(entry_points=False)
    registry.register(FakeProvider)
    with pytest.raises(ProviderNotFound) as info:
        registry.get("gcp")
    assert "fake" in str(info.value) and "dynsecrets[gcp]" in str(info.value)


def test_enable_of_an_unknown_provider_leaves_no_mount(dynsecrets_engine: Engine) -> None:
    with pytest.raises(ProviderNotFound, match="install the distribution"):
        dynsecrets_engine.enable("g", "no-such-cloud")
    assert dynsecrets_engine.mounts() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"default_ttl": "2h", "max_ttl": "1h"}, "default_ttl"),
        ({"default_ttl": "soon"}, "default_ttl"),
        ({"max_ttl": -5}, "max_ttl"),
        ({"max_leases": 0}, "max_leases"),
        ({"description": 5}, "description"),
    ],
)
def test_bad_mount_options(dynsecrets_engine: Engine, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        dynsecrets_engine.enable("m", "fake", **kwargs)
    assert info.value.field == field
    assert dynsecrets_engine.mounts() == []


def test_max_ttl_alone_lowers_the_default(dynsecrets_engine: Engine) -> None:
    m = dynsecrets_engine.enable("m", "fake", max_ttl="1h")
    assert (m.info.default_ttl, m.info.max_ttl) == (3600, 3600)


def test_tune_and_config_lease(dynsecrets_engine: Engine) -> None:
    dynsecrets_engine.enable("m", "fake")
    info = dynsecrets_engine.tune("m", default_ttl="1h", max_ttl="2h", description="d")
    assert (info.default_ttl, info.max_ttl, info.description) == (3600, 7200, "d")
    dynsecrets_engine.write("m/config/lease", lease="30m", lease_max="1h")
    assert dynsecrets_engine.read("m/config/lease") == {"lease": 1800, "lease_max": 3600}
    with pytest.raises(InvalidTTL):
        dynsecrets_engine.write("m/config/lease", lease="3h")


def test_unknown_mount(dynsecrets_engine: Engine) -> None:
    with pytest.raises(MountNotFound, match="enable one first"):
        dynsecrets_engine.mount("nope")
    with pytest.raises(KeyError):
        dynsecrets_engine.read("nope/roles/x")


def test_disable_refuses_while_leases_live(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    engine = fake_mount.engine
    lease = fake_mount.issue("app")
    with pytest.raises(MountInUse, match="revoke=True"):
        engine.disable("fake")
    assert engine.lookup(lease.lease_id)
    engine.disable("fake", revoke=True)
    assert fake_cloud.users == {}
    assert engine.mounts() == [] and engine.leases() == []


# -- config and roles --------------------------------------------------------------
def test_read_config_hides_secrets(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    fake_mount.configure(account="acct", api_key=fake_cloud.root_key)
    shown = fake_mount.read_config()
    assert "api_key" not in shown and shown["account"] == "acct"
    # The engine's rotation status: no schedule, never rotated, set just now.
    assert shown["next_rotation"] is None and shown["last_rotated"] is None
    assert shown["root_credential_age"] == 0
    assert fake_mount.engine.read("fake/config/root") == shown


def test_configure_validates(fake_mount: Mount) -> None:
    with pytest.raises(ValidationError) as info:
        fake_mount.configure(account="UPPER CASE")
    assert info.value.field == "account"


def test_role_crud(fake_mount: Mount) -> None:
    role = fake_mount.write_role("ro", policies="a,b", ttl="10m", max_ttl="1h")
    assert role.fields["policies"] == ["a", "b"] and role["ttl"] == 600
    assert fake_mount.read_role("ro").fields == role.fields
    assert fake_mount.roles() == ["app", "ro"]
    assert fake_mount.engine.list("fake/roles") == ["app", "ro"]
    fake_mount.delete_role("ro")
    with pytest.raises(RoleNotFound):
        fake_mount.read_role("ro")
    with pytest.raises(RoleNotFound):
        fake_mount.delete_role("ro")


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x" * 65, "a b", "'; --", "é", "a\x00"])
def test_bad_role_names(fake_mount: Mount, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        fake_mount.write_role(name, policies=["p"])
    assert info.value.field == "role"
    assert fake_mount.roles() == ["app"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"ttl": "2h", "max_ttl": "1h"}, "ttl"),
        ({"ttl": "nope"}, "ttl"),
        ({"policies": 7}, "policies"),
        ({"credential_type": "robot"}, "credential_type"),
        ({"credential_type": "token", "policies": ["p"]}, "policies"),
        ({"max_leases": -1}, "max_leases"),
    ],
)
def test_bad_role_fields(fake_mount: Mount, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        fake_mount.write_role("bad", **fields)
    assert info.value.field == field
    assert "bad" not in fake_mount.roles()


# -- issue ----------------------------------------------------------------------------
def test_issue_creates_identity_and_lease(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    lease = fake_mount.issue("app")
    assert LEASE_ID.match(lease.lease_id)
    assert lease.lease_duration == 3600 and lease.duration == "1h" and lease.renewable
    user = fake_cloud.users[lease.data["user"]]
    assert user.policies == ["read"]
    assert list(user.keys) == [lease.data["access_key"]]
    assert user.tags == {
        "dynsecrets-mount": "fake",
        "dynsecrets-lease": lease.lease_id,
        "dynsecrets-store": fake_mount.engine.store_id,
    }
    info = fake_mount.engine.lookup(lease.lease_id)
    assert info.state == LeaseState.ACTIVE and info.expires_at == lease.expires_at
    assert lease.environ()["FAKE_ACCESS_KEY"] == lease.data["access_key"]


def test_ttl_rules(fake_mount: Mount) -> None:
    assert fake_mount.issue("app", ttl="10m").lease_duration == 600
    clamped = fake_mount.issue("app", ttl="48h")
    assert clamped.lease_duration == 24 * 3600
    assert any("clamped" in w for w in clamped.warnings)
    fake_mount.write_role("short", policies=["p"], ttl="5m", max_ttl="15m")
    assert fake_mount.issue("short").lease_duration == 300
    assert fake_mount.issue("short", ttl="1h").lease_duration == 900
    with pytest.raises(InvalidTTL):
        fake_mount.issue("app", ttl="soon")


def test_cloud_fixed_lifetime(fake_mount: Mount) -> None:
    fake_mount.write_role("tok", credential_type="token")
    lease = fake_mount.issue("tok", ttl="20h")
    assert lease.lease_duration == 12 * 3600  # the fake cloud caps tokens at 12 h
    assert not lease.renewable and not lease.revocable
    with pytest.raises(LeaseNotRenewable, match="not renewable"):
        fake_mount.engine.renew(lease.lease_id)
    fake_mount.engine.revoke(lease.lease_id)  # ends the lease; the cloud cannot revoke it
    with pytest.raises(LeaseNotFound):
        fake_mount.engine.lookup(lease.lease_id)


def test_issue_unknown_role_creates_nothing(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    with pytest.raises(RoleNotFound, match="write fake/roles/nope first"):
        fake_mount.issue("nope")
    with pytest.raises(ValidationError):
        fake_mount.issue("app", mfa_code="123")  # the fake takes no request options
    assert fake_cloud.calls["create_user"] == 0 and fake_mount.engine.leases() == []


def test_lease_caps(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    fake_mount.write_role("capped", policies=["p"], max_leases=2)
    fake_mount.issue("capped")
    fake_mount.issue("capped")
    with pytest.raises(LeaseLimitExceeded, match="max_leases=2"):
        fake_mount.issue("capped")
    fake_mount.engine.tune("fake", max_leases=3)
    fake_mount.issue("app")
    with pytest.raises(LeaseLimitExceeded):
        fake_mount.issue("app")
    assert len(fake_cloud.users) == 3


def test_secrets_never_reach_the_store(tmp_path: Any, fake_cloud: FakeCloud) -> None:
    from dynsecrets.testing import fake_engine

    db = tmp_path / "s.db"
    with fake_engine(url=f"sqlite:///{db}", cloud=fake_cloud) as engine:
        m = engine.enable("fake", "fake")
        m.configure()
        m.write_role("app", policies=["p"])
        leases = [m.issue("app") for _ in range(5)]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for lease in leases:
        assert lease.data["secret_key"].encode() not in raw
    assert leases[0].lease_id.encode() in raw  # the bytes searched are the real store


# -- renew and revoke ------------------------------------------------------------------
def test_renew_extends_but_never_past_max(
    fake_mount: Mount, dynsecrets_clock: ManualClock, fake_cloud: FakeCloud
) -> None:
    lease = fake_mount.issue("app", ttl="1h")
    dynsecrets_clock.advance(1800)
    info = fake_mount.engine.renew(lease.lease_id, increment="2h")
    assert info.expires_at == dynsecrets_clock.now() + 7200
    assert fake_cloud.renewals[-1] == (lease.data["user"], info.expires_at)
    info = fake_mount.engine.renew(lease.lease_id, increment="100h")
    assert info.expires_at == lease.issued_at + 24 * 3600
    default = fake_mount.engine.renew(lease.lease_id)
    assert default.expires_at == dynsecrets_clock.now() + 3600
    dynsecrets_clock.advance(7200)
    with pytest.raises(LeaseNotRenewable, match="expired"):
        fake_mount.engine.renew(lease.lease_id)


def test_unknown_lease_ids(dynsecrets_engine: Engine) -> None:
    for op in (dynsecrets_engine.lookup, dynsecrets_engine.renew, dynsecrets_engine.revoke):
        with pytest.raises(LeaseNotFound) as info:
            op("fake/creds/app/doesnotexist")
        assert isinstance(info.value, KeyError)
        assert "may have expired" in str(info.value)


def test_revoke_removes_everything(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    lease = fake_mount.issue("app")
    fake_mount.engine.revoke(lease.lease_id)
    assert fake_cloud.users == {}
    assert fake_cloud.deletions[lease.data["user"]] == 1


def test_failed_revoke_keeps_the_lease(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    lease = fake_mount.issue("app")
    fake_cloud.fail("delete_key", code="AccessDenied")
    with pytest.raises(RevocationFailed, match="AccessDenied"):
        fake_mount.engine.revoke(lease.lease_id)
    info = fake_mount.engine.lookup(lease.lease_id)
    assert info.state == LeaseState.REVOKING and info.attempts == 1
    assert "AccessDenied" in (info.last_error or "")
    fake_mount.engine.revoke(lease.lease_id)
    assert fake_cloud.users == {}


def test_force_revoke_drops_the_lease(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    lease = fake_mount.issue("app")
    fake_cloud.fail("list_keys", times=100)
    fake_mount.engine.revoke(lease.lease_id, force=True)
    with pytest.raises(LeaseNotFound):
        fake_mount.engine.lookup(lease.lease_id)


def test_throttling_is_retried_without_sleeping(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    fake_cloud.throttle("create_user", times=3)
    fake_cloud.throttle("delete_user", times=3)
    lease = fake_mount.issue("app")
    fake_mount.engine.revoke(lease.lease_id)
    assert fake_cloud.calls["create_user"] == 4 and fake_cloud.users == {}


def test_revoke_prefix_has_path_semantics(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    fake_mount.write_role("app-ro", policies=["p"])
    a = [fake_mount.issue("app") for _ in range(3)]
    b = fake_mount.issue("app-ro")
    seen: list[tuple[int, int]] = []
    summary = fake_mount.engine.revoke_prefix(
        "fake/creds/app", progress=lambda d, t: seen.append((d, t))
    )
    assert summary.revoked == 3 and int(summary) == 3 and not summary.failed
    assert sorted(seen)[-1] == (3, 3)
    assert [x.lease_id for x in fake_mount.engine.leases()] == [b.lease_id]
    assert all(x.data["user"] not in fake_cloud.users for x in a)
    assert fake_mount.engine.revoke_prefix(b.lease_id).revoked == 1
    with pytest.raises(ValidationError):
        fake_mount.engine.revoke_prefix("")


def test_revoke_prefix_reports_failures_and_continues(
    fake_mount: Mount, fake_cloud: FakeCloud
) -> None:
    leases = [fake_mount.issue("app") for _ in range(6)]
    fake_cloud.fail("list_keys", nth=2, times=1)
    summary = fake_mount.engine.revoke_prefix("fake/", concurrency=1)
    assert summary.revoked == 5 and len(summary.failed) == 1
    [left] = fake_mount.engine.leases()
    assert left.lease_id in summary.failed and left.state == LeaseState.REVOKING
    assert {x.lease_id for x in leases} >= set(summary.failed)


def test_lease_context_manager_revokes_on_error(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    with pytest.raises(RuntimeError), fake_mount.lease("app", ttl="15m") as lease:
        assert lease.data["user"] in fake_cloud.users
        raise RuntimeError("app failed")
    assert fake_cloud.users == {}


# -- expiry, retries, irrevocable -------------------------------------------------------
def test_expire_due(
    fake_mount: Mount, dynsecrets_clock: ManualClock, fake_cloud: FakeCloud
) -> None:
    short = fake_mount.issue("app", ttl="10m")
    long = fake_mount.issue("app", ttl="2h")
    assert fake_mount.engine.expire_due() == 0
    dynsecrets_clock.advance(601)
    assert fake_mount.engine.expire_due() == 1
    assert short.data["user"] not in fake_cloud.users and long.data["user"] in fake_cloud.users
    assert [x.lease_id for x in fake_mount.engine.leases()] == [long.lease_id]


def test_failed_expiry_backs_off_then_becomes_irrevocable(
    fake_mount: Mount, dynsecrets_clock: ManualClock, fake_cloud: FakeCloud
) -> None:
    engine = fake_mount.engine
    lease = fake_mount.issue("app", ttl="1m")
    fake_cloud.fail("delete_user", times=1000, code="AccessDenied")
    dynsecrets_clock.advance(61)
    delays = []
    for attempt in range(1, 7):
        assert engine.expire_due() == 0
        info = engine.lookup(lease.lease_id)
        assert info.attempts == attempt and info.next_attempt_at is not None
        delays.append(info.next_attempt_at - dynsecrets_clock.now())
        dynsecrets_clock.advance(delays[-1] + 1)
    assert info.state == LeaseState.IRREVOCABLE and "AccessDenied" in (info.last_error or "")
    assert 5 <= delays[0] <= 15 and all(5 <= d / 2**i <= 15 for i, d in enumerate(delays[:5]))
    assert 86400 * 0.99 <= delays[-1] <= 86400
    assert [x.lease_id for x in engine.leases(state="irrevocable")] == [lease.lease_id]
    fake_cloud.reset_faults()
    assert engine.expire_due() == 1
    assert fake_cloud.users == {} and engine.leases() == []


# -- crash safety ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "nth"),
    [("create_user", 1), ("attach_policy", 1), ("attach_policy", 2), ("create_key", 1)],
)
def test_failure_at_each_step_leaves_nothing(
    fake_mount: Mount, fake_cloud: FakeCloud, op: str, nth: int
) -> None:
    fake_mount.write_role("two", policies=["a", "b"])
    fake_cloud.fail(op, nth=nth, code="AccessDenied")
    with pytest.raises(DynSecretsError) as info:
        fake_mount.issue("two")
    assert "AccessDenied" in str(info.value)
    assert fake_cloud.users == {} and fake_mount.engine.leases() == []


def test_failed_rollback_is_finished_by_the_worker(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    fake_cloud.fail("create_key", code="AccessDenied")
    fake_cloud.fail("delete_user", code="AccessDenied", times=1)
    with pytest.raises(DynSecretsError):
        fake_mount.issue("app")
    [left] = fake_mount.engine.leases()
    assert left.state == LeaseState.REVOKING and "rollback" in (left.last_error or "")
    assert len(fake_cloud.users) == 1
    dynsecrets_clock.advance(60)
    assert fake_mount.engine.expire_due() == 1
    assert fake_cloud.users == {} and fake_mount.engine.leases() == []


def test_crash_mid_issue_is_recovered_after_grace(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dynsecrets.testing import fake_engine

    clock = ManualClock()
    cloud = FakeCloud(clock=clock)
    url = f"sqlite:///{tmp_path / 's.db'}"

    class Crash(BaseException):
        pass

    def crash(op: str) -> None:
        if op == "create_key":
            raise Crash

    first = fake_engine(url=url, clock=clock, cloud=cloud)
    m = first.enable("fake", "fake")
    m.write_role("app", policies=["p"])
    cloud.on_call(crash)
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)  # the process dies: no rollback
    with pytest.raises(Crash):
        m.issue("app")
    monkeypatch.undo()
    cloud._on_call.clear()
    assert len(cloud.users) == 1
    [pending] = first.leases(state="pending")

    # A restart inside the grace period leaves the pending lease alone (it may still be issuing).
    second = fake_engine(url=url, clock=clock, cloud=cloud)
    assert second.lookup(pending.lease_id).state == LeaseState.PENDING and len(cloud.users) == 1
    clock.advance(301)
    third = fake_engine(url=url, clock=clock, cloud=cloud)  # open() recovers it
    assert cloud.users == {} and third.leases() == []
    for e in (first, second, third):
        e.close()


def test_issuance_whose_claim_lapsed_is_rolled_back(
    fake_mount: Mount, fake_cloud: FakeCloud, dynsecrets_clock: ManualClock
) -> None:
    engine = fake_mount.engine

    def slow(op: str) -> None:
        if op == "create_key":
            # No heartbeat reached the store for far longer than claim_ttl (the
            # store was unreachable): a worker recovers the pending lease meanwhile.
            dynsecrets_clock.advance(1000)
            engine.expire_due()

    fake_cloud.on_call(slow)
    # Either the cloud call fails (the worker deleted the user under it) or activation
    # notices the lease is gone; both must end with nothing left.
    with pytest.raises(DynSecretsError, match="lost its claim|NoSuchEntity"):
        fake_mount.issue("app")
    fake_cloud._on_call.clear()
    assert fake_cloud.users == {} and engine.leases() == []


def test_concurrent_issue_on_a_file_store(tmp_path: Any) -> None:
    from dynsecrets.testing import fake_engine

    cloud = FakeCloud()
    with fake_engine(
        url=f"sqlite:///{tmp_path / 's.db'}", cloud=cloud, clock=ManualClock()
    ) as engine:
        m = engine.enable("fake", "fake")
        m.write_role("app", policies=["p"])
        ids: list[str] = []

        def work() -> None:
            for _ in range(50):
                ids.append(m.issue("app").lease_id)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(ids)) == 400 and len(engine.leases()) == 400 and len(cloud.users) == 400
        assert engine.revoke_prefix("fake/", concurrency=8).revoked == 400
        assert cloud.users == {}


# -- path API --------------------------------------------------------------------------
def test_path_api(dynsecrets_engine: Engine, fake_cloud: FakeCloud) -> None:
    e = dynsecrets_engine
    e.enable("aws-us-west-2", "fake")
    e.write("aws-us-west-2/config/root", account="acct", api_key=fake_cloud.root_key)
    assert e.read("aws-us-west-2/config/root")["account"] == "acct"
    e.write("aws-us-west-2/roles/ec2", policies=["ec2:*"])
    assert e.read("aws-us-west-2/roles/ec2")["policies"] == ["ec2:*"]
    assert e.list("aws-us-west-2/roles") == ["ec2"]
    lease = e.read("aws-us-west-2/creds/ec2")
    assert lease.lease_id.startswith("aws-us-west-2/creds/ec2/")
    lease2 = e.write("aws-us-west-2/creds/ec2", ttl="5m")
    assert lease2.lease_duration == 300
    rotated = e.write("aws-us-west-2/config/rotate-root")
    assert rotated == {"account": "acct"}
    assert e.revoke_prefix("aws-us-west-2/creds/ec2").revoked == 2  # works with the rotated key
    e.delete("aws-us-west-2/roles/ec2")
    assert e.list("aws-us-west-2/roles") == []


@pytest.mark.parametrize(
    "path", ["fake", "fake/unknown", "fake/roles/a/b", "fake/config/other", "fake/creds"]
)
def test_unknown_paths(fake_mount: Mount, path: str) -> None:
    with pytest.raises(PathNotFound):
        fake_mount.engine.read(path)


def test_rotate_root(fake_mount: Mount, fake_cloud: FakeCloud) -> None:
    fake_mount.configure(api_key=fake_cloud.root_key)
    old = fake_cloud.root_key
    fake_mount.rotate_root()
    assert fake_cloud.root_key != old
    lease = fake_mount.issue("app")  # the stored config holds the new key
    fake_mount.engine.revoke(lease.lease_id)
