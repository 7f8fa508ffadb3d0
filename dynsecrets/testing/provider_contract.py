"""The conformance suite every provider passes, built-in or plugin.

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

Optional fixtures widen what is checked (each check is skipped, saying why,
when its fixture returns None):

- ``cloud``: a :class:`CloudCheck` that looks at the cloud itself (does the
  lease's identity exist, how many secrets does it hold);
- ``broken_config``: config under which cloud calls fail (e.g. a dead endpoint);
- ``bad_credentials``: config with wrong credentials: errors must be permanent,
  and a refused first call must leave nothing in the store;
- ``lose_reply``: a context manager factory under which the next credential
  create takes effect but its reply is lost (the provider must reconcile).

Providers that create cloud objects when a role is written (``plan_role``) are
also checked for the role-level write-ahead: a crash after ``apply_role`` is
undone, an abandoned role write is recovered once its claim lapses, a delete
removes the objects, and a delete is refused while leases live
(``CloudCheck.role_objects`` counts what a role plan left in the cloud).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from ..engine import Mount
from ..errors import (
    DynSecretsError,
    LeaseNotFound,
    LeaseNotRenewable,
    PermanentProviderError,
    ProviderError,
    ValidationError,
)
from ..models import Lease, LeaseState
from ..providers.base import IssueRequest
from ..schema import Field
from .cloud_check import CloudCheck, _MethodCheck, overrides
from .role_contract import RoleLevelChecks

__all__ = ["CloudCheck", "ProviderContract"]

_WRONG: dict[str, Any] = {
    "str": 12345,
    "int": "twelve",
    "bool": "perhaps",
    "duration": "forever",
    "list": 5,
    "map": 5,
    "json": "{not json",
}


@contextmanager
def _no_network() -> Iterator[None]:
    """Refuse every socket connection and name lookup for the duration."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("plan() must not make network calls")

    mp = pytest.MonkeyPatch()
    try:
        for name in ("connect", "connect_ex"):
            mp.setattr(socket.socket, name, refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        yield
    finally:
        mp.undo()


class ProviderContract(RoleLevelChecks):
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
        """Config under which cloud calls fail (a dead endpoint). None skips that check."""
        return None

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any] | None:
        """Config whose credentials the cloud refuses. None skips that check."""
        return None

    @pytest.fixture
    def lose_reply(self) -> Callable[[Mount], AbstractContextManager[None]] | None:
        """``lose_reply(mount)``: a context manager under which the next credential
        create succeeds in the cloud but its reply is lost. None skips that check."""
        return None

    @pytest.fixture
    def cloud(self) -> CloudCheck:
        """How the suite looks at the cloud; the default asks ``credential_exists``."""
        return _MethodCheck(self.credential_exists)

    def credential_exists(self, mount: Mount, lease: Lease) -> bool | None:
        """Whether the lease's identity exists in the cloud; None when unknown.
        (Prefer overriding the ``cloud`` fixture, which can use other fixtures.)"""
        return None

    @pytest.fixture
    def role(self, mount: Mount, role_fields: dict[str, Any]) -> str:
        mount.write_role(self.role_name, **role_fields)
        return self.role_name

    def _request(self, mount: Mount, role: str) -> IssueRequest:
        engine = mount.engine
        return IssueRequest(
            mount=mount.path,
            role_name=role,
            role=mount.read_role(role).fields,
            lease_id=f"{mount.path}/creds/{role}/" + "x" * 24,
            ttl=3600,
            now=engine.clock.now(),
            store_id=engine.store_id,
        )

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
    def test_issue_revoke_round_trip(self, mount: Mount, role: str, cloud: CloudCheck) -> None:
        lease = mount.issue(role)
        fields = mount.read_role(role).fields
        prefix = f"{mount.path}/{mount.provider.lease_path(role, fields, {})}/"
        assert lease.lease_id.startswith(prefix)
        assert len(lease.lease_id) == len(prefix) + 24
        assert lease.data, "issue returned no credentials"
        assert mount.engine.lookup(lease.lease_id).state == LeaseState.ACTIVE
        assert cloud.exists(mount, lease) in (True, None)
        mount.engine.revoke(lease.lease_id)
        with pytest.raises(LeaseNotFound):
            mount.engine.lookup(lease.lease_id)
        assert cloud.exists(mount, lease) in (False, None)

    def test_plan_is_json_and_makes_no_network_call(self, mount: Mount, role: str) -> None:
        config = mount.root_config()
        request = self._request(mount, role)
        with _no_network():
            plan = mount.provider.plan(config, request)
        json.dumps(dict(plan))
        assert mount.provider.plan(config, request) is not None

    def test_revoke_is_idempotent(self, mount: Mount, role: str, cloud: CloudCheck) -> None:
        lease = mount.issue(role)
        rec = mount.engine.store.get_lease(lease.lease_id)
        assert rec is not None
        mount.engine.revoke(lease.lease_id)
        config = mount.root_config()
        mount.provider.revoke(config, rec.plan, rec.revocation)  # again: nothing left is success
        mount.provider.revoke(config, rec.plan, None)
        assert cloud.exists(mount, lease) in (False, None)

    def test_revoke_of_a_plan_never_issued(self, mount: Mount, role: str) -> None:
        config = mount.root_config()
        plan = mount.provider.plan(config, self._request(mount, role))
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

    def test_longest_role_name_issues(
        self, mount: Mount, role_fields: dict[str, Any], cloud: CloudCheck
    ) -> None:
        name = "r" * 64
        mount.write_role(name, **role_fields)
        lease = mount.issue(name)
        assert cloud.exists(mount, lease) in (True, None)
        mount.engine.revoke(lease.lease_id)

    def test_lease_context_manager_revokes(
        self, mount: Mount, role: str, cloud: CloudCheck
    ) -> None:
        with mount.lease(role) as lease:
            assert mount.engine.lookup(lease.lease_id)
        with pytest.raises(LeaseNotFound):
            mount.engine.lookup(lease.lease_id)
        assert cloud.exists(mount, lease) in (False, None)

    def test_repr_hides_secrets(self, mount: Mount, role: str) -> None:
        with mount.lease(role) as lease:
            shown = repr(lease) + str(lease) + repr(lease.data) + repr(lease.env)
            for public_name in (lease.lease_id, lease.mount, lease.role):
                shown = shown.replace(public_name, "")
            public = {v for k, v in lease.data.items() if k not in lease.data.secret_keys}
            # Every value the provider did not declare non-secret: secret data, and
            # env values that are not a copy of a declared non-secret value.
            values = [lease.data[k] for k in lease.data.secret_keys]
            values += [v for v in lease.env.values() if v not in public]
            for value in values:
                if isinstance(value, str) and len(value) >= 6:
                    assert value not in shown, "a secret value shows in a repr"

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

    def test_bad_credentials_are_permanent_and_leave_nothing(
        self, mount: Mount, role: str, bad_credentials: dict[str, Any] | None
    ) -> None:
        if bad_credentials is None:
            pytest.skip("no bad_credentials fixture: auth error mapping not checked")
        mount.configure(**bad_credentials)
        with pytest.raises(PermanentProviderError):
            mount.issue(role)
        # The first call was refused, so nothing exists to clean up: the provider
        # says so (nothing_created) and the pending lease is gone, not `revoking`.
        assert mount.engine.leases(f"{mount.path}/") == []

    def test_lost_create_reply_is_reconciled(
        self,
        mount: Mount,
        role: str,
        cloud: CloudCheck,
        lose_reply: Callable[[Mount], AbstractContextManager[None]] | None,
    ) -> None:
        if lose_reply is None:
            pytest.skip("no lose_reply fixture: the lost-reply rule is not checked")
        with lose_reply(mount):
            lease = mount.issue(role)
        try:
            count = cloud.secret_count(mount, lease)
            if count is None:
                pytest.skip("the cloud fixture cannot count secrets")
            # A retried create must not leave a working secret nobody was given.
            assert count == 1
            assert cloud.exists(mount, lease) in (True, None)
        finally:
            mount.engine.revoke(lease.lease_id)

    def test_tidy_finds_only_unowned_identities(
        self, mount: Mount, role: str, cloud: CloudCheck
    ) -> None:
        if not overrides(mount.provider, "list_managed"):
            pytest.skip("the provider does not implement list_managed (no tidy)")
        kept = mount.issue(role)
        if not kept.revocable:
            mount.engine.revoke(kept.lease_id)
            pytest.skip("this role's credentials are not cloud identities (not revocable)")
        listed = mount.provider.list_managed(mount.root_config(), mount.path)
        if not any(i.lease_id == kept.lease_id for i in listed):
            # The provider's identities are owned by roles, not leases (a GCP roleset's
            # accounts; RoleLevelChecks covers those): tidy must leave the lease alone.
            applied = mount.tidy(dry_run=False)
            assert not applied.errors
            assert all(i.lease_id is None for i in applied.orphans)
            assert cloud.exists(mount, kept) in (True, None)
            mount.engine.revoke(kept.lease_id)
            return
        lost = mount.issue(role)
        # Lose the second lease's record, as a store restored from an old backup would.
        assert mount.engine.store.delete_lease(lost.lease_id)
        report = mount.tidy()
        orphans = {i.lease_id for i in report.orphans}
        assert lost.lease_id in orphans
        assert kept.lease_id not in orphans
        assert report.dry_run and report.deleted == ()
        assert cloud.exists(mount, lost) in (True, None)
        applied = mount.tidy(dry_run=False)
        assert len(applied.deleted) == len(applied.orphans) >= 1
        assert not applied.errors
        assert cloud.exists(mount, lost) in (False, None)
        assert cloud.exists(mount, kept) in (True, None)
        mount.engine.revoke(kept.lease_id)

    def test_rotate_root_keeps_the_mount_working(self, mount: Mount, role: str) -> None:
        if not overrides(mount.provider, "rotate_root"):
            pytest.skip("the provider does not implement rotate_root")
        masked = mount.rotate_root()
        secret = mount.provider.config_schema.secret_fields
        assert not secret & set(masked)
        with mount.lease(role) as lease:
            assert lease.data
