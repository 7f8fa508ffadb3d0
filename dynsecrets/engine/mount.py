"""One enabled secrets engine: its root config, its roles, and issuing from them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._names import check_role_name
from ..errors import DynSecretsError, InvalidTTL, MountNotConfigured, RoleNotFound
from ..lifecycle import role_actions, role_resources, root_rotation, tasks
from ..lifecycle.events import error_text
from ..models import Lease, LeaseInfo, MountInfo, Role
from ..schema import Field, Schema
from . import mounts
from .static_roles import StaticRoles
from .tidy import TidyReport, tidy
from .verify import check_permissions

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..store.base import MountRecord
    from .facade import Engine

__all__ = ["ENGINE_ROLE_FIELDS", "Mount"]

log = logging.getLogger("dynsecrets")

#: Role fields every provider accepts; the engine applies them.
ENGINE_ROLE_FIELDS = Schema(
    {
        "ttl": Field("duration", doc="default lease TTL for this role"),
        "max_ttl": Field("duration", doc="maximum lease TTL for this role"),
        "max_leases": Field("int", minimum=1, doc="cap on live leases of this role"),
    },
    what="role",
)


class Mount:
    """One enabled secrets engine. Get it from :meth:`Engine.enable` or :meth:`Engine.mount`."""

    def __init__(self, engine: Engine, path: str) -> None:
        self.engine = engine
        self.path = path

    def __repr__(self) -> str:
        return f"Mount({self.path!r})"

    @property
    def _core(self) -> Any:
        return self.engine.core

    @property
    def info(self) -> MountInfo:
        return mounts.info(self._core.mount_record(self.path))

    @property
    def provider(self) -> Provider:
        """The provider instance serving this mount (tests inspect a fake's cloud here)."""
        return self._rec_provider()[1]

    def _rec_provider(self) -> tuple[MountRecord, Provider]:
        rec = self._core.mount_record(self.path)
        return rec, self._core.provider(rec)

    # -- root config ------------------------------------------------------------------
    def configure(self, *, verify: bool = False, **fields: Any) -> None:
        """Validate and store the provider's root config (sealed), and its rotation
        schedule (``rotation_period`` or ``rotation_schedule``, ``rotation_window``,
        ``disable_automated_rotation``). ``verify``: first ask the cloud whether the
        credential works and may make every call the provider makes (for every
        stored role); a missing permission raises :class:`MissingPermissions`."""
        rec, provider = self._rec_provider()
        schedule_fields, fields = root_rotation.split(fields)
        config = provider.validate_config(fields)
        can_rotate = provider.can_rotate_root(config)
        sched = None
        if schedule_fields:
            given = root_rotation.merged(self._core, self.path, schedule_fields)
            sched = root_rotation.validate(given, can_rotate)
        store = self._core.store
        roles = {n: store.get_role(self.path, n) or {} for n in self.roles()}
        provider.check_mount(config, roles)
        if verify:
            static = {n: self.static.identity(n) for n in self.static.names()}
            with self._core.deadline("verify"):
                check_permissions(provider, config, None, f"{self.path}/config")
                for name, role in roles.items():
                    check_permissions(provider, config, role, f"role {name!r}")
                for name, role in static.items():
                    check_permissions(provider, config, role, f"static role {name!r}")
        secret = provider.config_schema.secret_fields
        old = None if rec.config is None else self._core.config(rec, provider)
        changed = old is None or any(old.get(k) != config.get(k) for k in secret)
        # Under the root task's claim: a scheduled rotation in flight would otherwise
        # store its config (made from the old one) over this write.
        with tasks.hold(self._core, self.path, tasks.ROOT, create=True):
            store.update_mount(self.path, config=self._core.seal(config, self.path))
            root_rotation.write(self._core, self.path, sched, changed)
        log.info("configured %s/", self.path)
        events = self._core.events
        hashed = events.hashed(config, secret)
        events.record("config.write", f"{self.path}/config/root", fields=hashed)

    def delete_config(self) -> None:
        """Forget the root config and its rotation schedule."""
        core = self._core
        with tasks.hold(core, self.path, tasks.ROOT, create=True):
            core.store.update_mount(self.path, config=None)
            core.store.delete_role(self.path, root_rotation.ROW)
            tasks.cancel(core, self.path, tasks.ROOT)
        core.events.record("config.delete", f"{self.path}/config")

    def read_config(self) -> dict[str, Any]:
        """The root config without its secret fields."""
        rec, provider = self._rec_provider()
        if rec.config is None:
            raise MountNotConfigured(
                f"{self.path}/ is not configured; write {self.path}/config/root first"
            )
        shown = provider.config_schema.masked(self._core.config(rec, provider))
        return {**shown, **root_rotation.status(self._core, self.path)}

    def root_config(self) -> dict[str, Any]:
        """The root config *with* its secrets, as the provider receives it (or the
        provider's defaults when unset). For provider tests and tooling that call the
        provider directly; never log or print it."""
        rec, provider = self._rec_provider()
        return dict(self._core.config(rec, provider))

    def read_lease_config(self) -> dict[str, Any]:
        rec = self._core.mount_record(self.path)
        return {"lease": rec.default_ttl, "lease_max": rec.max_ttl}

    def rotate_root(self) -> dict[str, Any]:
        """Replace the root credential in the cloud and store the new one.
        Returns the new config without secrets."""
        provider = self._rec_provider()[1]
        core = self._core
        path = f"{self.path}/config/rotate-root"
        try:
            with tasks.hold(core, self.path, tasks.ROOT, create=True):
                new = root_rotation.rotate(core, self.path)
                due = root_rotation.record_rotation(core, self.path)
                tasks.schedule(core, self.path, tasks.ROOT, "", due)
        except DynSecretsError as exc:
            core.events.record("config.rotate_root", path, error=error_text(exc))
            raise
        log.info("rotated root credential of %s/", self.path)
        hashed = core.events.hashed(new, provider.config_schema.secret_fields)
        core.events.record("config.rotate_root", path, fields=hashed)
        return provider.config_schema.masked(new)

    # -- roles ----------------------------------------------------------------------------
    def write_role(self, name: str, *, verify: bool = False, **fields: Any) -> Role:
        """Validate and store a role. ``verify``: first ask the cloud whether the root
        credential may make every call issuing from this role makes."""
        name = check_role_name(name)
        engine_fields = {k: fields.pop(k) for k in list(fields) if k in ENGINE_ROLE_FIELDS.fields}
        common = ENGINE_ROLE_FIELDS.validate(engine_fields)
        if common["ttl"] and common["max_ttl"] and common["ttl"] > common["max_ttl"]:
            raise InvalidTTL("ttl", "is longer than the role's max_ttl; lower ttl or raise max_ttl")
        rec, provider = self._rec_provider()
        normalised = provider.validate_role(name, fields)
        stored = {**normalised, **{k: v for k, v in common.items() if v is not None}}
        provider_default = provider.default_ttl(stored)
        if provider_default and common["max_ttl"] and provider_default > common["max_ttl"]:
            raise InvalidTTL(
                "default_ttl", "is longer than the role's max_ttl; lower it or raise max_ttl"
            )
        config = None if rec.config is None else self._core.config(rec, provider)
        provider.check_mount(config, {name: stored})
        if verify:
            if config is None:
                raise MountNotConfigured(f"verify needs the root config; write {self.path}/config")
            with self._core.deadline("verify"):
                check_permissions(provider, config, stored, f"role {name!r}")
        previous = self._core.store.get_role(self.path, name)
        # Roles whose write creates cloud objects (GCP rolesets) are written ahead
        # like leases; for the others this is one put_role.
        stored = role_resources.write_role(self._core, rec, provider, name, stored, previous)
        self._core.events.record("role.write", f"{self.path}/roles/{name}", fields=stored)
        return Role(self.path, name, stored)

    def read_role(self, name: str) -> Role:
        name = check_role_name(name)
        self._core.mount_record(self.path)
        fields = self._core.store.get_role(self.path, name)
        if fields is None:
            raise RoleNotFound(f"no role {name!r} at {self.path}/")
        fields.pop(role_actions.MARK, None)  # the engine's, not the role's
        return Role(self.path, name, fields)

    def roles(self) -> list[str]:
        self._core.mount_record(self.path)
        # Names with a "/" are the engine's rows (static roles, the root schedule).
        return [n for n in self._core.store.list_roles(self.path) if "/" not in n]

    @property
    def static(self) -> StaticRoles:
        """This mount's static roles (existing identities whose secret is rotated)."""
        return StaticRoles(self)

    def delete_role(self, name: str, *, revoke_leases: bool = False) -> None:
        """Delete a role. Its live leases stay valid (as in Vault); revoke them by prefix.

        A role that owns cloud objects (a GCP roleset's service account) is refused
        while it has live leases, unless ``revoke_leases=True`` revokes them first."""
        name = check_role_name(name)
        rec, provider = self._rec_provider()
        previous = self._core.store.get_role(self.path, name)
        if previous is None:
            raise RoleNotFound(f"no role {name!r} at {self.path}/")
        role_resources.delete_role(
            self._core, rec, provider, name, previous, revoke_leases=revoke_leases
        )
        self._core.events.record("role.delete", f"{self.path}/roles/{name}")

    # -- leases ---------------------------------------------------------------------------
    def issue(
        self, role: str, *, ttl: int | str | None = None, actor: str | None = None, **options: Any
    ) -> Lease:
        """Create a credential for ``role``; the lease is stored before the cloud is called.
        ``actor``: who it is for (else ``engine.acting_as``'s, else the engine's)."""
        if actor is None:
            return self.engine._issue(self.path, role, ttl, options)
        with self.engine.acting_as(actor):
            return self.engine._issue(self.path, role, ttl, options)

    def role_action(self, name: str, action: str, **options: Any) -> dict[str, Any] | None:
        """Run a role-level action the provider declares (GCP: ``rotate-key``, and
        ``rotate``, which replaces a roleset's account and is written ahead)."""
        self.read_role(name)
        rec, provider = self._rec_provider()
        core = self._core
        result = role_actions.run(core, rec, provider, name, action, options)
        core.events.record(f"role.{action}", f"{self.path}/{name}")
        return result

    @contextmanager
    def lease(self, role: str, *, ttl: int | str | None = None, **options: Any) -> Iterator[Lease]:
        """Issue a lease for the ``with`` block and revoke it on exit, whatever happens.
        A credential the cloud cannot revoke and that has no lease (a GCP access
        token) simply ends with the block."""
        lease = self.issue(role, ttl=ttl, **options)
        try:
            yield lease
        finally:
            if lease.lease_id:
                self.engine.revoke(lease.lease_id)

    def leases(self, *, state: str | None = None) -> list[LeaseInfo]:
        return self.engine.leases(f"{self.path}/", state=state)

    def tidy(self, *, dry_run: bool = True) -> TidyReport:
        """Find cloud identities this store's mount created (tagged with this store's
        id) that no lease owns; with ``dry_run=False``, delete them. Identities of
        other stores, or not made by dynsecrets, are never touched."""
        rec, provider = self._rec_provider()
        return tidy(self._core, rec, provider, dry_run=dry_run)
