"""Tidy: cloud identities a mount created that no lease in the store owns.

Ownership rule: an identity is this store's only if it carries this store's id
(providers tag everything they create with it). An identity of another store that
shares the mount path and the cloud account, or one made before store ids, is
reported as foreign and never deleted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from ..errors import DynSecretsError
from ..lifecycle.events import error_text
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
    lease owns (``orphans``), and ones that belong to another store (``foreign``)."""

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
    orphans = tuple(
        i for i in ours if i.lease_id is None or core.store.get_lease(i.lease_id) is None
    )
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
