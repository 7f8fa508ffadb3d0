"""Static roles: an existing identity (an IAM user, a RAM user, an Azure app, a GCP
service account) whose secret dynsecrets rotates on a schedule, as Vault's
``static-roles/<name>`` and ``static-creds/<name>``.

Writing a static role imports the identity: it checks that it exists, makes the
first secret dynsecrets manages (written ahead, see :mod:`..lifecycle.rotation`)
and leaves the identity's own secrets alone until the first rotation after the
import, which retires them after the grace period. ``static-creds`` returns the
current secret; every secret dynsecrets made is deleted with the role.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._names import check_role_name
from ..errors import (
    Conflict,
    DynSecretsError,
    NotSupported,
    RoleNotFound,
    ValidationError,
)
from ..lifecycle import rotation, tasks
from ..models import Lease, SecretData
from ..schema import Field, Schema
from ..ttl import format_time
from .verify import check_permissions

if TYPE_CHECKING:
    from ..providers.base import Provider
    from .mount import Mount

__all__ = ["StaticRoles"]

log = logging.getLogger("dynsecrets")

_ROTATION_FIELDS = Schema(
    {
        "rotation_period": Field("duration", doc="how often the secret is replaced"),
        "rotation_grace_period": Field(
            "duration",
            doc="how long the previous secret keeps working after a rotation "
            "(default: half the period, at most 1h)",
        ),
        "verify": Field("bool", default=False, doc="check the root credential's permissions"),
    },
    what="static role",
)
_PREFIX = "static-roles/"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else format_time(ts)


class StaticRoles:
    """The static roles of one mount: ``mount.static``."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount
        self.core = mount.engine.core
        self.path = mount.path

    def _provider(self) -> tuple[Provider, dict[str, Any]]:
        rec = self.core.mount_record(self.path)
        provider = self.core.provider(rec)
        if provider.static_role_schema is None:
            raise NotSupported(
                f"the {provider.name} provider of {self.path}/ has no static roles: it cannot "
                "rotate an existing identity's secret"
            )
        # Unset config: the provider's defaults (the SDK's credential chain), or
        # MountNotConfigured when it has none.
        return provider, self.core.config(rec, provider)

    def _loaded(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        loaded = rotation.load(self.core, self.path, name)
        if loaded is None:
            raise RoleNotFound(f"no static role {name!r} at {self.path}/")
        return loaded

    # -- write ----------------------------------------------------------------------------
    def write(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create (import the identity, make its first secret) or update a static role."""
        name = check_role_name(name)
        provider, config = self._provider()
        assert provider.static_role_schema is not None
        ours = {k: fields.pop(k) for k in list(fields) if k in _ROTATION_FIELDS.fields}
        common = _ROTATION_FIELDS.validate(ours)
        verify = common.pop("verify")
        found = rotation.load(self.core, self.path, name)
        if found is None:
            identity = provider.static_role_schema.validate(fields)
        else:
            identity = {
                k: v for k, v in found[0].items() if k in provider.static_role_schema.fields
            }
            for key in fields:
                new = provider.static_role_schema.validate({**identity, key: fields[key]})
                if new.get(key) != identity.get(key):
                    raise ValidationError(
                        key,
                        "cannot change on an existing static role; delete it and write it again",
                    )
            common = {k: common[k] if common[k] is not None else found[0].get(k) for k in common}
        stored = {**identity, **self._rotation(provider, common)}
        provider.check_static_role(config, stored)
        if verify:
            with self.core.deadline("verify"):
                check_permissions(provider, config, stored, f"static role {name!r}")
        if found is not None:
            return self._update(name, stored)
        return self._import(provider, config, name, stored)

    def _rotation(self, provider: Provider, common: dict[str, Any]) -> dict[str, Any]:
        period = common.get("rotation_period")
        if period is None:
            raise ValidationError("rotation_period", "is required, e.g. rotation_period=24h")
        if period < provider.min_rotation_period:
            raise ValidationError(
                "rotation_period",
                f"is {period}s; the shortest this provider allows is "
                f"{provider.min_rotation_period}s",
            )
        grace = common.get("rotation_grace_period")
        grace = min(3600, period // 2) if grace is None else grace
        if grace >= period:
            raise ValidationError(
                "rotation_grace_period",
                f"must be shorter than rotation_period ({period}s): otherwise old secrets pile up",
            )
        return {"rotation_period": period, "rotation_grace_period": grace}

    def _update(self, name: str, stored: dict[str, Any]) -> dict[str, Any]:
        with tasks.hold(self.core, self.path, tasks.STATIC, name):
            # The state as it is now, under the claim: a rotation or a delete may have
            # finished since the write began.
            found = rotation.load(self.core, self.path, name)
            if found is None:
                raise RoleNotFound(f"static role {name!r} at {self.path}/ was deleted meanwhile")
            state = found[1]
            if state.get("last_rotated") is not None:
                state["next_rotation"] = state["last_rotated"] + stored["rotation_period"]
            rotation.save(self.core, self.path, name, stored, state)
            rot = rotation.rotation(self.core, self.path, name)
            tasks.schedule(
                self.core, self.path, tasks.STATIC, name, rot.next_due(), keep_health=True
            )
        self.core.events.record(
            "static_role.write", f"{self.path}/static-roles/{name}", fields=stored
        )
        return self.read(name)

    def _import(
        self, provider: Provider, config: dict[str, Any], name: str, stored: dict[str, Any]
    ) -> dict[str, Any]:
        core = self.core
        with core.deadline("static_role"):
            existing = provider.static_secrets(config, stored)
        limit = provider.static_secret_limit
        if limit is not None and len(existing) >= limit:
            first = (
                sorted(provider.static_role_schema.fields)[0]
                if provider.static_role_schema
                else None
            )
            raise ValidationError(
                first,
                f"the identity already has {len(existing)} secrets "
                f"({', '.join(i.id for i in existing)}), the cloud's limit; delete one that is "
                "not in use so dynsecrets can add its own, then write again",
            )
        # The claim first: of two imports of one name, the second fails here (or
        # finds the role made) and touches nothing.
        with tasks.hold(core, self.path, tasks.STATIC, name, create=True):
            if rotation.load(core, self.path, name) is not None:
                raise Conflict(
                    f"static role {name!r} at {self.path}/ was created meanwhile; write again "
                    "to update it"
                )
            state = {
                "current": None,
                "previous": [],
                "inherited": [i.id for i in existing],
                "pending": None,
                "created_at": core.clock.now(),
            }
            rotation.save(core, self.path, name, stored, state)
            try:
                rot = rotation.rotate(core, self.path, name)
            except DynSecretsError:
                self._abandon(name)
                raise
            tasks.schedule(core, self.path, tasks.STATIC, name, rot.next_due())
        log.info("imported static role %s/%s", self.path, name)
        core.events.record("static_role.write", f"{self.path}/static-roles/{name}", fields=stored)
        return self.read(name)

    def _abandon(self, name: str) -> None:
        """A failed import (the caller holds the claim): remove what it made, then the
        role, so nothing is left; if the cloud refuses, the role stays (its intent
        stored, its task due) for the worker to finish."""
        try:
            rot = rotation.rotation(self.core, self.path, name)
            with self.core.deadline("static_role"):
                rot.reconcile()
        except DynSecretsError as exc:
            log.warning(
                "static role %s/%s: cleanup after a failed import failed: %s", self.path, name, exc
            )
            return
        if not rot.state.get("current"):
            self.core.store.delete_role(self.path, rotation.row_name(name))
            tasks.cancel(self.core, self.path, tasks.STATIC, name)

    # -- read -----------------------------------------------------------------------------
    def read(self, name: str) -> dict[str, Any]:
        name = check_role_name(name)
        fields, state = self._loaded(name)
        current = state.get("current") or {}
        health = tasks.health(self.core, self.path, tasks.STATIC, name)
        return {
            "name": name,
            **fields,
            "secret_id": current.get("id"),
            "previous_secret_ids": [p["id"] for p in state.get("previous") or ()],
            "last_rotated": _iso(state.get("last_rotated")),
            "next_rotation": _iso(state.get("next_rotation")),
            **health,
            # A rotation is interrupted (its intent stored) or the last one failed.
            "rotation_failing": bool(state.get("pending")) or health["rotation_state"] != "ok",
        }

    def identity(self, name: str) -> dict[str, Any]:
        """A static role's stored fields (what the provider's hooks receive)."""
        return self._loaded(check_role_name(name))[0]

    def names(self) -> list[str]:
        self.core.mount_record(self.path)
        return [
            n[len(_PREFIX) :]
            for n in self.core.store.list_roles(self.path)
            if n.startswith(_PREFIX)
        ]

    def creds(self, name: str) -> Lease:
        """The current secret, with ``expiration`` and ``ttl``: when it is next rotated
        (it keeps working for the grace period after that)."""
        name = check_role_name(name)
        state = self._loaded(name)[1]
        sealed = rotation.unseal_current(self.core, self.path, name, state)
        now = self.core.clock.now()
        due = float(state.get("next_rotation") or now)
        ttl = max(0, round(due - now))
        keys = sealed.get("secret_keys")
        data = {**sealed["data"], "expiration": _iso(due), "ttl": ttl}
        return Lease(
            lease_id="",
            mount=self.path,
            role=name,
            lease_duration=ttl,
            renewable=False,
            revocable=False,
            issued_at=float(state.get("last_rotated") or now),
            expires_at=due,
            data=SecretData(data, None if keys is None else frozenset(keys)),
            env=sealed.get("env") or {},
        )

    # -- rotate and delete ----------------------------------------------------------------
    def rotate(self, name: str) -> dict[str, Any]:
        """Rotate now: a new secret, proven to work, then the old one for its grace period."""
        name = check_role_name(name)
        self._loaded(name)
        self._provider()
        path = f"{self.path}/static-roles/{name}/rotate"
        with tasks.hold(self.core, self.path, tasks.STATIC, name):
            try:
                rot = rotation.rotate(self.core, self.path, name)
            except DynSecretsError as exc:
                self.core.events.record("static_role.rotate", path, error=str(exc))
                raise
            tasks.schedule(self.core, self.path, tasks.STATIC, name, rot.next_due())
        self.core.events.record("static_role.rotate", path)
        return self.read(name)

    def delete(self, name: str) -> None:
        """Delete the static role and every secret dynsecrets made for it (the
        identity, and secrets it had before the import, stay)."""
        name = check_role_name(name)
        self._loaded(name)
        provider, config = self._provider()
        with tasks.hold(self.core, self.path, tasks.STATIC, name):
            rot = rotation.rotation(self.core, self.path, name)
            with self.core.deadline("static_role"):
                rot.reconcile()
                for item in list(rot.state.get("previous") or ()):
                    provider.static_delete(config, rot.fields, item["id"])
                    rot.state["previous"] = [p for p in rot.state["previous"] if p is not item]
                    rotation.save(self.core, self.path, name, rot.fields, rot.state)
                if rot.state.get("current"):
                    provider.static_delete(config, rot.fields, rot.state["current"]["id"])
            self.core.store.delete_role(self.path, rotation.row_name(name))
            tasks.cancel(self.core, self.path, tasks.STATIC, name)
        self.core.events.record("static_role.delete", f"{self.path}/static-roles/{name}")
