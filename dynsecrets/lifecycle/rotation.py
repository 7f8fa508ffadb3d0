"""Rotating a static role's secret: two-phase, written ahead, reconciled after a crash.

A static role's row (``static-roles/<name>`` in the role table) holds its fields
and its state: the current secret (sealed, bound to the role), the previous ones
with the time each stops being honoured (``rotation_grace_period``), the ids the
identity had when it was imported, and, while a create is in flight, the intent.

One rotation:

1. **intent**: the ids the identity has now are stored (``pending``);
2. ``static_create`` makes a new secret; ``static_check`` proves it works (a secret
   that never works is deleted again and the old one stays current);
3. **persist**: the new secret becomes current, the old one moves to ``previous``
   with its deletion time, the intent is cleared: one write;
4. once a previous secret's grace period ends, ``static_delete`` and a write.

A crash before 3 leaves the old secret current and the intent stored; the next run
lists the identity's secrets and deletes any it does not know that appeared after
the intent (its value died with the process), then rotates again. A crash after 3
leaves the old and the new secret both working and both known. So there is always
a working secret, the store knows which, and nothing is left untracked.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentProviderError, ProviderError, RoleNotFound
from . import tasks

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..providers.static import StaticSecret
    from .core import Core

__all__ = ["STATE", "load", "rotate", "save", "tend", "unseal_current"]

log = logging.getLogger("dynsecrets")

#: The key of a static role's row that holds its state (never shown on read).
STATE = "_state"
#: Secrets created up to this long before the intent still count as the lost create's:
#: the cloud's clock and ours may disagree (whole-second timestamps, skewed hosts).
#: Older unknown secrets are someone else's and are never deleted.
SKEW = 3600.0


def row_name(name: str) -> str:
    return f"static-roles/{name}"


def load(core: Core, mount: str, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    row = core.store.get_role(mount, row_name(name))
    if row is None:
        return None
    fields = {k: v for k, v in row.items() if k != STATE}
    return fields, dict(row.get(STATE) or {})


def save(
    core: Core, mount: str, name: str, fields: Mapping[str, Any], state: Mapping[str, Any]
) -> None:
    core.store.put_role(mount, row_name(name), {**fields, STATE: dict(state)})


def _aad_path(mount: str, name: str) -> str:
    return f"{mount}/static-roles/{name}"


def seal_secret(core: Core, mount: str, name: str, secret: StaticSecret) -> str:
    blob = core.sealing.seal(
        {
            "data": dict(secret.data),
            "env": dict(secret.env),
            "secret_keys": None if secret.secret_keys is None else sorted(secret.secret_keys),
        },
        _aad_path(mount, name),
    )
    return base64.b64encode(blob).decode()


def unseal_current(core: Core, mount: str, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    current = state.get("current")
    if not current:
        raise PermanentProviderError(
            f"static role {name!r} at {mount}/ has no current secret yet (its first rotation "
            f"failed); rotate it: write {mount}/static-roles/{name}/rotate",
            operation="static_creds",
        )
    return core.sealing.unseal(base64.b64decode(current["sealed"]), _aad_path(mount, name))


class Rotation:
    """One static role's rotation steps, bound to its mount's provider and config."""

    def __init__(self, core: Core, mount: str, name: str, provider: Provider, config: Any) -> None:
        self.core = core
        self.mount = mount
        self.name = name
        self.provider = provider
        self.config = config
        loaded = load(core, mount, name)
        if loaded is None:
            raise RoleNotFound(f"no static role {name!r} at {mount}/ (deleted meanwhile?)")
        self.fields, self.state = loaded

    def _save(self) -> None:
        save(self.core, self.mount, self.name, self.fields, self.state)

    def _identity(self) -> dict[str, Any]:
        return dict(self.fields)

    # -- steps ----------------------------------------------------------------------------
    def reconcile(self) -> None:
        """After an interrupted create: delete the secret it made (unknown, newer than
        the intent), then forget the intent."""
        pending = self.state.get("pending")
        if not pending:
            return
        known = set(pending.get("known") or ()) | self._known()
        since = float(pending["started_at"]) - SKEW
        for info in self.provider.static_secrets(self.config, self._identity()):
            if info.id in known or (info.created_at is not None and info.created_at < since):
                continue
            log.warning(
                "deleting secret %s of static role %s/%s: made by an interrupted rotation",
                info.id,
                self.mount,
                self.name,
            )
            self.provider.static_delete(self.config, self._identity(), info.id)
        self.state["pending"] = None
        self._save()

    def _forget_gone(self, present: set[str]) -> None:
        """Previous secrets the cloud no longer has (deleted, then a crash before the
        store heard): forget them, so they neither block nor count toward the limit."""
        previous = self.state.get("previous") or []
        kept = [p for p in previous if p["id"] in present]
        if len(kept) != len(previous):
            self.state["previous"] = kept
            self._save()

    def _known(self) -> set[str]:
        ids = {p["id"] for p in self.state.get("previous") or ()}
        ids.update(self.state.get("inherited") or ())
        if self.state.get("current"):
            ids.add(self.state["current"]["id"])
        return ids

    def retire(self, *, now: float, early: bool = False) -> None:
        """Delete previous secrets whose grace period is over (``early``: the oldest
        one even if not, to make room under the cloud's limit)."""
        previous = sorted(
            self.state.get("previous") or (),
            key=lambda p: (p["delete_at"], not p.get("inherited")),
        )
        for item in previous:
            if item["delete_at"] > now and not early:
                break
            self.provider.static_delete(self.config, self._identity(), item["id"])
            self.state["previous"] = [p for p in self.state["previous"] if p["id"] != item["id"]]
            self._save()
            if early:
                log.warning(
                    "deleted secret %s of %s/%s before its grace period ended, to stay "
                    "under the cloud's limit of %s",
                    item["id"],
                    self.mount,
                    self.name,
                    self.provider.static_secret_limit,
                )
                return

    def rotate(self, *, now: float, manual: bool = True) -> bool:
        """Rotate; False when a scheduled rotation waits instead (see below)."""
        self.reconcile()
        if self.state.get("current") and self.state.get("inherited"):
            # The first rotation after the import retires what the identity had
            # (after the grace period, or first when the cloud's limit needs room).
            grace = int(self.fields["rotation_grace_period"])
            self.state["previous"] = [
                *(self.state.get("previous") or ()),
                *(
                    {"id": i, "delete_at": now + grace, "inherited": True}
                    for i in self.state["inherited"]
                ),
            ]
            self.state["inherited"] = []
            self._save()
        existing = self.provider.static_secrets(self.config, self._identity())
        self._forget_gone({i.id for i in existing})
        limit = self.provider.static_secret_limit
        if limit is not None and len(existing) >= limit:
            waiting = [float(p["delete_at"]) for p in self.state.get("previous") or ()]
            if not manual and waiting and min(waiting) > now:
                # A scheduled rotation never cuts a grace period short (the identity's
                # own secrets, at the first rotation after the import): it runs once
                # the oldest previous secret is retired.
                self.state["next_rotation"] = min(waiting)
                self._save()
                return False
            if self.state.get("previous"):
                # Asked for now: the oldest previous secret goes before its time.
                self.retire(now=now, early=True)
                existing = self.provider.static_secrets(self.config, self._identity())
            if len(existing) >= limit:
                raise PermanentProviderError(
                    f"the identity of static role {self.name!r} already has {len(existing)} "
                    f"secrets ({', '.join(i.id for i in existing)}), the cloud's limit; "
                    "delete one that is not in use, then rotate again",
                    operation="rotate",
                    code="LimitExceeded",
                )
        self.state["pending"] = {"started_at": now, "known": [i.id for i in existing]}
        self._save()  # the intent is durable before the create
        # Due once this holder's claim lapses: if the process dies, a worker reconciles.
        tasks.schedule(
            self.core,
            self.mount,
            tasks.STATIC,
            self.name,
            self.core.heartbeat.deadline(),
            keep_health=True,
        )
        secret = self.provider.static_create(self.config, self._identity())
        try:
            self.provider.static_check(self.config, self._identity(), secret)
        except ProviderError:
            self.provider.static_delete(self.config, self._identity(), secret.id)
            self.state["pending"] = None
            self._save()
            raise
        self._promote(secret, now=now)
        return True

    def _promote(self, secret: StaticSecret, *, now: float) -> None:
        grace = int(self.fields["rotation_grace_period"])
        old = self.state.get("current")
        previous = list(self.state.get("previous") or ())
        if old:
            previous.append({"id": old["id"], "delete_at": now + grace})
        self.state.update(
            current={
                "id": secret.id,
                "created_at": secret.created_at or now,
                "sealed": seal_secret(self.core, self.mount, self.name, secret),
            },
            previous=previous,
            pending=None,
            last_rotated=now,
            next_rotation=now + int(self.fields["rotation_period"]),
        )
        self._save()

    def next_due(self) -> float:
        times = [float(self.state.get("next_rotation") or tasks.NEVER)]
        times += [float(p["delete_at"]) for p in self.state.get("previous") or ()]
        if self.state.get("pending"):
            times.append(self.core.clock.now())
        return min(times)


def rotation(core: Core, mount: str, name: str) -> Rotation:
    rec = core.mount_record(mount)
    provider = core.provider(rec)
    return Rotation(core, mount, name, provider, core.config(rec, provider))


def rotate(core: Core, mount: str, name: str) -> Rotation:
    """Rotate now (the caller holds the task), then retire what is due."""
    rot = rotation(core, mount, name)
    now = core.clock.now()
    with core.deadline("rotate"):
        rot.rotate(now=now)
        rot.retire(now=now)
    return rot


def tend(core: Core, mount: str, name: str) -> float:
    """The worker's run: finish an interrupted rotation, delete secrets whose grace
    ended, rotate when due. Returns when it is next due."""
    try:
        rot = rotation(core, mount, name)
    except RoleNotFound:
        return tasks.NEVER  # the role was deleted meanwhile
    now = core.clock.now()
    with core.deadline("rotate"):
        rot.reconcile()
        rot.retire(now=now)
        if not rot.state.get("current") or now >= float(rot.state.get("next_rotation") or 0):
            rot.rotate(now=now, manual=False)
    return rot.next_due()


tasks.RUNNERS[tasks.STATIC] = tend
