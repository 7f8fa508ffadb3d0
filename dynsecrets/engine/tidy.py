"""Tidy: cloud identities a mount created that nothing in the store owns.

Ownership rule: an identity is this store's only if it carries this store's id
(providers tag everything they create with it). An identity of another store that
shares the mount path and the cloud account, or one made before store ids, is
reported as foreign and never deleted.

Owners: a lease (``ManagedIdentity.lease_id``: owned while that lease is stored),
or a role (``ManagedIdentity.role``, e.g. a GCP roleset's account: owned while the
role's stored fields, or the plan of a pending role operation of the mount, name
the identity's id). An identity with neither is an orphan. The store is read only
after the cloud was listed: whatever was created meanwhile was written ahead (a
pending lease or role operation) before it existed, so it is never taken for one.
A role operation's row outlives its switch (the role stored naming the new
objects), so the rows are read before the roles and once more after them: an
identity both reads missed was created after the first and retired before the
second (a rotation's or write's row exists from before its first call until after
its last).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import DynSecretsError
from ..lifecycle.events import error_text
from ..lifecycle.role_resources import ROLE_OPS
from ..providers.base import ManagedIdentity

if TYPE_CHECKING:
    from ..lifecycle.core import Core
    from ..providers.base import Provider
    from ..store.base import MountRecord

__all__ = ["TidyReport", "tidy"]

log = logging.getLogger("dynsecrets")


@attrs.frozen
class TidyReport:
    """What ``Mount.tidy`` found: identities this store's mount created that no
    lease or role owns (``orphans``), and ones that belong to another store
    (``foreign``)."""

    orphans: tuple[ManagedIdentity, ...] = ()
    deleted: tuple[str, ...] = ()
    errors: Mapping[str, str] = attrs.field(factory=dict)
    dry_run: bool = True
    scanned: int = 0
    foreign: tuple[ManagedIdentity, ...] = ()


def tidy(core: Core, rec: MountRecord, provider: Provider, *, dry_run: bool) -> TidyReport:
    config = core.config(rec, provider)
    with core.deadline("tidy"):
        found = provider.list_managed(config, rec.path)
    ours = [i for i in found if i.store_id == core.store_id]
    foreign = tuple(i for i in found if i.store_id != core.store_id)
    owners = _Owners(core, rec.path)
    orphans = owners.recheck([i for i in ours if not owners.own(i)])
    deleted: list[str] = []
    errors: dict[str, str] = {}
    if not dry_run:
        for identity in orphans:
            try:
                with core.deadline("tidy"):
                    core.retry.call(functools.partial(provider.delete_managed, config, identity))
            except DynSecretsError as exc:
                errors[identity.id] = error_text(exc)
            else:
                deleted.append(identity.id)
                log.info("tidy deleted %s from %s/", identity.id, rec.path)
                core.events.record(
                    "tidy.delete", f"{rec.path}/", identity=identity.id, lease_id=identity.lease_id
                )
    return TidyReport(
        orphans=orphans,
        deleted=tuple(deleted),
        errors=errors,
        dry_run=dry_run,
        scanned=len(found),
        foreign=foreign,
    )


class _Owners:
    """Answers "does anything in the store own this identity?", reading each role
    and the mount's role operations at most once."""

    def __init__(self, core: Core, path: str) -> None:
        self.core = core
        self.path = path
        self._roles: dict[str, Mapping[str, Any] | None] = {}
        self._ops: list[Mapping[str, Any]] | None = None

    def own(self, identity: ManagedIdentity) -> bool:
        if identity.lease_id is not None and self.core.store.get_lease(identity.lease_id):
            return True
        if identity.role is None:
            return False
        if self._ops is None:  # before any role: a switch may come between the reads
            self._ops = self._plans()
        if identity.role not in self._roles:
            self._roles[identity.role] = self.core.store.get_role(self.path, identity.role)
        fields = self._roles[identity.role]
        if fields is not None and _names(fields, identity.id):
            return True
        return any(_names(plan, identity.id) for plan in self._ops)

    def recheck(self, orphans: list[ManagedIdentity]) -> tuple[ManagedIdentity, ...]:
        """Drop the role-owned ``orphans`` that a role operation begun after the first
        read of the rows names (past its switch, before its row goes)."""
        if not any(i.role is not None for i in orphans):
            return tuple(orphans)
        plans = self._plans()
        return tuple(
            i for i in orphans if i.role is None or not any(_names(p, i.id) for p in plans)
        )

    def _plans(self) -> list[Mapping[str, Any]]:
        return [r.plan for r in self.core.store.list_leases(f"{self.path}/{ROLE_OPS}/")]


def _names(value: Any, wanted: str) -> bool:
    """Whether ``wanted`` is one of the strings anywhere in ``value`` (JSON-like)."""
    if isinstance(value, str):
        return value == wanted
    if isinstance(value, Mapping):
        return any(_names(v, wanted) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_names(v, wanted) for v in value)
    return False
